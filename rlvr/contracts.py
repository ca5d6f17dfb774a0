"""What the stages hand each other, typed: each file one stage writes and another reads has a model here,
and both sides go through it (`rlvr.files` reads with it), so a missing or misspelt field is an error
naming the file, not a `?` in a registry description or a KeyError three stages later.

Pydantic models, no I/O; the bottom layer, beside `rlvr.files`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator


class _Strict(BaseModel):
    """A contract that names every field: an unknown key is a misspelt one."""

    model_config = ConfigDict(extra="forbid")


class BaseManifest(_Strict):
    """`rlvr_base.json`, beside the base model (the model stage): where it came from."""

    name: str
    revision: str | None = None
    dtype: str


class AdapterManifest(_Strict):
    """`rlvr_adapter.json`, beside an adapter (the sft and train stages), or alone when the stage had
    nothing to train (`trained: false` and the `reason`)."""

    stage: Literal["sft", "train"]
    trained: bool
    reason: str | None = None
    arm: str | None = None
    backend: str | None = None
    base: str | None = None
    # sft: the worked solutions it trained on, and those left out by reason
    examples: int | None = Field(None, ge=0)
    left_out: dict[str, int] | None = None
    # train: where it started, on how many problems, how many completions a step generated
    from_sft: bool = False
    train_rows: int | None = Field(None, ge=0)
    completions_per_round: int | None = Field(None, ge=1)
    # filled in once trained
    steps: int = Field(0, ge=0)
    resumed_from_step: int | None = Field(None, ge=0)
    train_runtime_s: float | None = None

    @model_validator(mode="after")
    def _says_why(self) -> AdapterManifest:
        if not self.trained and not self.reason:
            raise ValueError("a manifest without an adapter (trained: false) must say why (reason)")
        return self

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_unset=True) + "\n"  # what the stage said, alone


class ProblemRow(BaseModel):
    """A row of the prepared sets (`data/prepared/`) and of the selected set (`data/selected/`, with its
    `pass_rate`): a problem, its gold answer, and a worked solution ("" when there is none); a
    reasoning-gym row also names its `task` and the `metadata` its verifier reads. Other columns (a
    source's `level`) ride along unread."""

    model_config = ConfigDict(extra="allow")

    problem: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    solution: str = ""
    task: str | None = None
    metadata: dict | None = None
    pass_rate: float | None = Field(None, ge=0, le=1)


class LogStep(BaseModel):
    """A step of a training log (`logs/<stage>.json`): its number and the numbers TRL logged there."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, float | None]

    step: int = Field(ge=0)


TrainingLog = TypeAdapter(list[LogStep])


class ModelMetrics(BaseModel):
    """One model's entry of `metrics/eval.json` (and of each suite in `metrics/suites.json`)."""

    model_config = ConfigDict(extra="allow")

    accuracy: float = Field(ge=0, le=1)
    accuracy_ci_low: float = Field(ge=0, le=1)
    accuracy_ci_high: float = Field(ge=0, le=1)
    format: float = Field(ge=0, le=1)
    mean_length: float = Field(ge=0)
    problems: int = Field(ge=0)


class Comparison(BaseModel):
    """A paired comparison of two models in `metrics/eval.json`'s `comparisons`."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    delta: float
    ci_low: float
    ci_high: float
    p_value: float = Field(ge=0, le=1)
    n: int = Field(ge=0)
    fixed: int = Field(ge=0)
    broken: int = Field(ge=0)


class Evaluation(BaseModel):
    """`metrics/eval.json`: per model its metrics, and `comparisons`, every pair of models."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, ModelMetrics]

    comparisons: list[Comparison]

    @model_validator(mode="after")
    def _has_a_model(self) -> Evaluation:
        if not self.__pydantic_extra__:
            raise ValueError("no model's metrics")
        return self


class ArmsReport(_Strict):
    """`metrics/arms.json`: what each trained model spent, and the run's conclusions and warnings."""

    arms: dict[str, dict]
    conclusions: list[str]
    warnings: list[str]


class ModelEvaluation(_Strict):
    """`scores.json` in an `evaluate@<model>` stage's folder, beside the model's completions: whether the
    model was evaluated (a stage that trained nothing says why), each suite's summary, and with
    `evaluate.pass_k` the right samples of each held-out problem."""

    evaluated: bool
    reason: str | None = None
    summary: dict[str, dict[str, float]] = {}
    pass_k: int = Field(0, ge=0)
    right: list[int] | None = None

    @model_validator(mode="after")
    def _says_why_or_what(self) -> ModelEvaluation:
        if not self.evaluated and not self.reason:
            raise ValueError("a model not evaluated (evaluated: false) must say why (reason)")
        if self.evaluated and (self.right is None) != (self.pass_k == 0):
            raise ValueError("right: the right samples per problem, given exactly when pass_k is on")
        return self


class ModelConfig(BaseModel):
    """A transformers model's `config.json`: what it is (the rest is the architecture's business)."""

    model_config = ConfigDict(extra="allow")

    model_type: str


class AdapterConfig(BaseModel):
    """A PEFT adapter's `adapter_config.json`: which kind of adapter, and the base it was trained on."""

    model_config = ConfigDict(extra="allow")

    peft_type: str
    base_model_name_or_path: str | None = None


class CacheStamp(BaseModel):
    """The stamp beside a registered version's cached copy: which version, and the digest of the files it
    was fetched with."""

    model_config = ConfigDict(extra="allow")

    digest: str


class Snapshot(_Strict):
    """Where one dataset of `metrics/fetch.json` came from: its source and rows, and for a hub dataset the
    revision asked for and the commit fetched (None for a local directory), for a local one its path."""

    source: str
    rows: int = Field(ge=0)
    path: str | None = None
    requested_revision: str | None = None
    revision: str | None = None


class FetchReport(_Strict):
    """`metrics/fetch.json` (the fetch stage): the training data's snapshot, and the SFT warm-up's own."""

    data: Snapshot
    sft_data: Snapshot | None = None


class RegistryRecord(_Strict):
    """`metrics/registry.json` (the register stage): the MLflow run the evaluation went into, and the
    version registered, or why none was."""

    tracking_uri: str
    run_id: str
    run_name: str | None = None
    experiment_id: str
    model_name: str
    registered: bool
    reason: str | None = None
    version: int | None = None
    uri: str | None = None
    aliases: list[str] = []

    @model_validator(mode="after")
    def _says_which_or_why(self) -> RegistryRecord:
        if self.registered and self.version is None:
            raise ValueError("a registered version (registered: true) must give its version")
        if not self.registered and not self.reason:
            raise ValueError("a record without a new version (registered: false) must say why (reason)")
        return self
