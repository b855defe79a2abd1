"""MLflow: the store, the run lifecycle, lineage, descriptions, logged models and the registry."""
