"""MLflow runs of the pipeline, on their own: params as MLflow params."""

from __future__ import annotations

from rlvr.mlops.runs import flatten


def test_flatten_makes_dotted_string_params():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {
        "a.b": "1",
        "a.c.d": "None",
        "e": "[1, 2]",
    }


def test_clip_ratios_reach_mlflow_from_their_first_nonzero_step(tmp_path, monkeypatch):
    """TRL's clip ratios are zero at every step by default: no chart of flat zeros. One that turns nonzero
    is logged from then on, with the zeros before it, so its chart is whole."""
    import mlflow
    from transformers import TrainerState, TrainingArguments

    from rlvr.mlops.live import live_metrics

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    callback = live_metrics(trainer=None)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to=[])
    steps = [
        {"loss": 0.5, "clip_ratio/low_mean": 0.0, "clip_ratio/high_max": 0.0},
        {"loss": 0.4, "clip_ratio/low_mean": 0.0, "clip_ratio/high_max": 0.0},
        {"loss": 0.3, "clip_ratio/low_mean": 0.0, "clip_ratio/high_max": 0.25},
        {"loss": 0.2, "clip_ratio/low_mean": 0.0, "clip_ratio/high_max": 0.0},
    ]
    with mlflow.start_run() as run:
        for step, logs in enumerate(steps, start=1):
            callback.on_log(args, TrainerState(global_step=step), None, logs=logs)
    client = mlflow.MlflowClient()
    history = {
        name: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]
        for name in ("loss", "clip_ratio/low_mean", "clip_ratio/high_max")
    }
    assert history == {
        "loss": [(1, 0.5), (2, 0.4), (3, 0.3), (4, 0.2)],
        "clip_ratio/low_mean": [],
        "clip_ratio/high_max": [(1, 0.0), (2, 0.0), (3, 0.25), (4, 0.0)],
    }
