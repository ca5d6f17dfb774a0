"""A registered adapter as an MLflow pyfunc model: `mlflow.pyfunc.load_model("models:/rlvr-math@champion")`
loads the base model named in its config, applies the adapter, and answers questions."""

from __future__ import annotations

from importlib.metadata import version

import mlflow.pyfunc

from rlvr.inference import Answerer
from rlvr.prompts import Markers


def requirements() -> list[str]:
    """Pinned to what trained the adapter; rlvr itself is installed from its repository."""
    return [f"{name}=={version(name)}" for name in ("torch", "transformers", "peft", "mlflow")]


class AdapterModel(mlflow.pyfunc.PythonModel):
    """model_config: base_model, revision, dtype, markers (the `format` params), max_new_tokens."""

    def load_context(self, context) -> None:
        config = context.model_config
        self.answerer = Answerer.load(
            context.artifacts["adapter"],
            config["base_model"],
            config.get("revision"),
            config["dtype"],
            Markers(**config["markers"]),
            int(config["max_new_tokens"]),
        )

    def predict(self, context, model_input: list[str], params: dict | None = None) -> list[str]:
        return self.answerer.complete(model_input)
