"""The MLflow Model Registry: the final stage's two logged models registered, and ``@champion`` moved on merit."""
