"""The code of every registered version: an MLflow pyfunc model logged as code, not as a pickle.

MLflow copies this file into each version (models-from-code) with the `rlvr` package beside it
(`code_paths`), and runs it when the version is loaded (`mlflow.pyfunc.load_model`, `mlflow models
serve`): loading a version runs this readable file, never an object someone pickled. The version's
artifacts hold the adapter and, where the base model cannot be fetched by name, the base model itself
(`rlvr.serving.versions`), so it answers from any directory and any environment that installs its
requirements.
"""

from __future__ import annotations

from mlflow.models import set_model
from mlflow.pyfunc import PythonModel


class AdapterModel(PythonModel):
    """Questions in, completions out. model_config: base_model, revision, dtype, markers (the `format`
    params), max_new_tokens."""

    def load_context(self, context) -> None:
        from rlvr.serving.versions import answerer

        self.answerer = answerer(context.artifacts, context.model_config)

    def predict(self, context, model_input: list[str], params: dict | None = None) -> list[str]:
        return self.answerer.complete(model_input)


set_model(AdapterModel())
