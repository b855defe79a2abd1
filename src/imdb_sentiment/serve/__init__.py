"""Scoring reviews: the predict command and the raw-text MLflow model that the server runs."""
