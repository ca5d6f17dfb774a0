"""What talks to MLflow and DVC: the tracking store (`store`), the pipeline's parent and child runs
(`runs`), live training metrics (`live`), the registry and its promotion gate (`registry`), lineage
(`lineage`), and the stages as dvc.yaml defines them (`dvcfile`).

May import: rlvr.evaluation and every layer below it.
"""
