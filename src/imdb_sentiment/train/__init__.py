"""The train stage: one variant over its seeds, tracked in MLflow, with its DVC outputs."""
