"""The study's networks and how they train: the layers, the CSR batches, the training loop and the speed layer."""
