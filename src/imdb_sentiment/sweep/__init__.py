"""The Optuna hyperparameter search: the shared study, its trials and its worker processes."""
