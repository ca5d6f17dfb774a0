"""A registered version answering questions: its files, its model, the pyfunc MLflow runs."""
