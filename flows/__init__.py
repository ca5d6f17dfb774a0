"""Prefect flows that orchestrate the DVC pipeline and the MLflow registry; they hold no logic themselves."""
