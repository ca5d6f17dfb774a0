"""A registered adapter as an MLflow pyfunc model: `mlflow.pyfunc.load_model("models:/rlvr-math@champion")`
loads the base model named in its config, applies the adapter, and answers questions."""

from __future__ import annotations

from importlib.metadata import version

import mlflow.pyfunc

from rlvr.generation import generate
from rlvr.models import base_for_inference, load_model, load_tokenizer
from rlvr.prompts import Markers, chat_prompt


def requirements() -> list[str]:
    """Pinned to what trained the adapter; rlvr itself is installed from its repository."""
    return [f"{name}=={version(name)}" for name in ("torch", "transformers", "peft", "mlflow")]


class AdapterModel(mlflow.pyfunc.PythonModel):
    """model_config: base_model, revision, dtype, markers (the `format` params), max_new_tokens."""

    def load_context(self, context) -> None:
        config = context.model_config
        adapter = context.artifacts["adapter"]
        base = base_for_inference(config["base_model"], config.get("revision"), config["dtype"])
        self.markers = Markers(**config["markers"])
        self.max_new_tokens = int(config["max_new_tokens"])
        self.tokenizer = load_tokenizer(adapter)
        self.model = load_model(base, config["dtype"], adapter=adapter)

    def predict(self, context, model_input: list[str], params: dict | None = None) -> list[str]:
        prompts = [chat_prompt(question, self.markers) for question in model_input]
        completions, _ = generate(
            self.model, self.tokenizer, prompts, self.max_new_tokens, batch_size=8, desc="answer"
        )
        return completions
