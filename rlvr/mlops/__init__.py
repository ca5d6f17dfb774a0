"""What talks to MLflow and DVC: tracking, the registry, lineage, dvc.yaml."""
