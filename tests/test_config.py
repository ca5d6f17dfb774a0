"""params.yaml validation: every mistake names its key and what is allowed there."""

from __future__ import annotations

import pytest

from rlvr.config.schema import ParamsError, load_params, parse_params


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"trian": {}},
            "unknown key 'trian'; allowed keys here: data, prepare, format, model, lora, sft, select, train",
        ),
        (
            {"train": {"max_step": 3}},
            "unknown key 'train.max_step'; allowed keys here: backend, generation, base_arm, "
            "steps_per_generation",
        ),
        (
            {"data": {"hub": {"nope": 1}}},
            "unknown key 'data.hub.nope'; allowed keys here: path, config, revision",
        ),
        ({"train": {"max_steps": "many"}}, "'train.max_steps': Input should be a valid integer"),
        (
            {"train": {"backend": "tpu"}},
            "'train.backend': Input should be 'auto', 'trl' or 'unsloth' (got 'tpu')",
        ),
        (
            {"model": {"dtype": "int8"}},
            "'model.dtype': Input should be 'auto', 'bfloat16', 'float16' or 'float32'",
        ),
        (
            {"data": {"source": "web"}},
            "'data.source': Input should be 'builtin', 'hub', 'local' or 'reasoning_gym'",
        ),
        (
            {"data": {"builtin": {"levels": [4]}}},
            "'data.builtin.levels.0': Input should be 1, 2 or 3 (got 4)",
        ),
        ({"train": {"rewards": {}}}, "'train.rewards': Dictionary should have at least 1 item"),
        (
            {"train": {"batch_size": 6, "num_generations": 4}},
            "train.num_generations (4) must divide the completions per generation round",
        ),
        (
            {"train": {"num_generations": 1}},
            "'train.num_generations': Input should be greater than or equal to 2",
        ),
        ({"format": {"solution_end": "<SOLUTION>"}}, "format markers must be distinct"),
        (
            {"format": {"system_prompt": "Answer in {solution_start}{answer}{solution_end}"}},
            "'format.system_prompt': Value error, has the placeholder(s) {answer}; only {reasoning_start}",
        ),
        (  # str.format's attribute syntax would reach into Python objects: refused, not filled
            {"format": {"system_prompt": "{reasoning_start.__class__.__mro__}"}},
            "has the placeholder(s) {reasoning_start.__class__.__mro__}",
        ),
        ({"format": {"system_prompt": "Think {0}"}}, "has the placeholder(s) {0}"),
        (
            {"format": {"system_prompt": "{reasoning_start:>{solution_end}}"}},
            "'format.system_prompt': Value error, formats a placeholder ({reasoning_start:>{solution_end}})",
        ),
        (
            {"format": {"system_prompt": "{reasoning_start:>20000000}"}},
            "formats a placeholder ({reasoning_start:>20000000}); write a bare marker name",
        ),
        ({"format": {"system_prompt": "{solution_start!r}"}}, "formats a placeholder ({solution_start!r})"),
        (
            {"format": {"system_prompt": "Answer in {solution_start"}},
            "'format.system_prompt': Value error, is not a",
        ),
        ({"format": {"system_prompt": "  "}}, "'format.system_prompt': Value error, is blank"),
        ({"prepare": {"heldout_fraction": 1.5}}, "'prepare.heldout_fraction': Input should be less than 1"),
        (
            {"train": {"optim": "adam"}},
            "'train.optim': Value error, Input should be one of adamw_torch, adamw_torch_fused,",
        ),
        (
            {"train": {"lr_scheduler_type": "cosinee"}},
            "'train.lr_scheduler_type': Value error, Input should be one of linear, cosine,",
        ),
        ({"lora": {"target_modules": []}}, "'lora.target_modules': List should have at least 1 item"),
        ({"schedule": {"cron": "61 3 * * *"}}, "'schedule.cron': Value error, Prefect cannot read this cron"),
        ({"schedule": {"cron": "0 3 * *"}}, "'schedule.cron': Value error, Prefect cannot read this cron"),
        ({"schedule": {"cron": "0 3 * * * *"}}, "'schedule.cron': Value error, has 6 field(s); write five"),
        ({"schedule": {"cron": "0 0 31 2 *"}}, "'schedule.cron': Value error, never fires"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "'schedule.timezone': Value error, unknown time zone"),
        ({"data": {"local": {"columns": {"question": "q"}}}}, "unknown key 'data.local.columns.question'"),
    ],
)
def test_bad_params_name_the_key_and_the_allowed_values(raw, message):
    with pytest.raises(ParamsError) as error:
        parse_params(raw, "params.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("params.yaml: ")


def test_every_error_is_reported_at_once():
    with pytest.raises(ParamsError) as error:
        parse_params({"trian": {}, "sft": {"max_steps": -1}})
    assert len(str(error.value).splitlines()) == 2


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ParamsError, match="no such params file"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("train: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("")
    with pytest.raises(ParamsError, match="empty"):
        load_params(tmp_path / "params.yaml")


def test_unknown_reward_names_are_refused_with_the_schema(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  rewards: {novelty: 1.0}\n")
    with pytest.raises(
        ParamsError, match="train.rewards': Value error, unknown reward 'novelty'; the rewards are"
    ):
        load_params(tmp_path / "params.yaml")


def test_transformers_and_prefect_names_are_the_libraries_own():
    """The scheduler and optimizer names are transformers' enums, the cron check is Prefect's, narrowed
    to five fields (Prefect's sixth is seconds)."""
    from prefect.client.schemas.schedules import CronSchedule
    from pydantic import ValidationError
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    for name in SchedulerType:
        assert (
            parse_params({"train": {"lr_scheduler_type": name.value}}).train.lr_scheduler_type == name.value
        )
    for name in OptimizerNames:
        assert parse_params({"train": {"optim": name.value}}).train.optim == name.value
    for cron in [
        "0 3 * * *",
        "*/15 * * * 1-5",
        "@daily",
        "0 3 * * MON",
        "0 0 1 * * 0",
        "0 25 * * *",
        "0 3 * *",
    ]:
        try:
            CronSchedule(cron=cron)
            prefect_reads = True
        except ValidationError:
            prefect_reads = False
        try:
            parse_params({"schedule": {"cron": cron}})
            rlvr_reads = True
        except ParamsError:
            rlvr_reads = False
        assert rlvr_reads is (prefect_reads and len(cron.split()) == 5), cron


def test_the_defaults_the_schema_does_not_ask_about_are_the_libraries_own():
    """The schema does not import transformers or Prefect for a section's default scheduler, optimizer
    or cron: here the libraries themselves accept each default, and the cron fires."""
    from prefect.client.schemas.schedules import CronSchedule
    from transformers.trainer_utils import SchedulerType
    from transformers.training_args import OptimizerNames

    from rlvr.config.schema import ScheduleParams, TrainerSection
    from rlvr.config.upstream import cron_fires

    sections = TrainerSection.__subclasses__()
    assert {section.__name__ for section in sections} >= {"SftParams", "TrainParams"}
    for section in sections:
        SchedulerType(section.model_fields["lr_scheduler_type"].default)
        OptimizerNames(section.model_fields["optim"].default)
    cron = ScheduleParams.model_fields["cron"].default
    assert CronSchedule(cron=cron).cron == cron and len(cron.split()) == 5 and cron_fires(cron)


def test_check_params_on_the_defaults_imports_no_library_it_would_ask():
    """`rlvr check-params` on the committed params.yaml imports neither transformers (torch), Prefect,
    reasoning-gym nor `datasets`: each import takes seconds, which only a value that needs asking pays."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    heavy = ("torch", "transformers", "prefect", "reasoning_gym", "datasets")
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from rlvr.cli import app\n"
        "result = CliRunner().invoke(app, ['check-params', *sys.argv[1:]])\n"
        f"print(result.exit_code, [m for m in {heavy!r} if m in sys.modules])\n"
    )

    run = subprocess.run(
        [sys.executable, "-c", code, "params.yaml"], cwd=ROOT, text=True, capture_output=True
    )
    assert run.stdout.strip().splitlines()[-1] == "0 []", run.stderr


def test_a_bad_param_stops_any_stage_in_one_line(tmp_path):
    import subprocess

    from tests.stages import ROOT, stage_command

    (tmp_path / "params.yaml").write_text("train:\n  optim: adam\n")
    result = subprocess.run(
        stage_command(tmp_path, "fetch", out=tmp_path / "raw.jsonl"), cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: {tmp_path / 'params.yaml'}: 'train.optim': Value error, Input should be one of"
    )
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "raw.jsonl").exists()


def test_a_system_prompt_template_is_filled_with_the_markers_and_braces_stay_literal():
    from rlvr.data.prompts import chat_prompt

    params = parse_params(
        {
            "format": {
                "solution_start": "<A>",
                "solution_end": "</A>",
                "system_prompt": "{{json}} {solution_start}x{solution_end}",
            }
        }
    )
    assert chat_prompt("1 + 1?", params.format)[0] == {"role": "system", "content": "{json} <A>x</A>"}
    default = chat_prompt("1 + 1?", parse_params({}).format)[0]["content"]
    assert default.startswith("You are given a problem.") and default.endswith("<SOLUTION></SOLUTION>")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "format:\n  system_prompt: '{reasoning_start:>{solution_end}} {solution_start}'\n",
            "formats a placeholder",
        ),
        ("format:\n  system_prompt: 'Think {reasoning_start:>20000000}'\n", "formats a placeholder"),
        ("schedule:\n  cron: '0 3 * * * *'\n", "has 6 field(s); write five"),
        ("schedule:\n  cron: '0 0 31 2 *'\n", "never fires"),
        (
            "train:\n  trl: {epsilon_hi: 0.28}\n",
            "GRPOConfig has no setting 'epsilon_hi' (closest: epsilon_high",
        ),
        ("train:\n  trl: {temperature: 1.0}\n", "temperature is rlvr's own: set train.temperature instead"),
        (
            "train:\n  shared_prefix: true\n  attn_implementation: flash_attention_2\n",
            "train.shared_prefix needs an attention that takes a 4D mask, and flash_attention_2 takes none",
        ),
    ],
)
def test_check_params_refuses_what_would_fail_only_later_in_one_line(section, message, tmp_path):
    """A format spec in the system prompt raised (nested) or ate 4.6 GB (a width) in the prepare stage; a
    six-field cron fired every second, an impossible date never: `rlvr check-params` refuses each."""
    from typer.testing import CliRunner

    from rlvr.cli import app

    (tmp_path / "params.yaml").write_text(section)
    result = CliRunner().invoke(app, ["check-params", str(tmp_path / "params.yaml")], terminal_width=200)
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and message in result.output


def test_a_cron_that_fires_rarely_is_accepted():
    assert parse_params({"schedule": {"cron": "0 0 29 2 *"}}).schedule.cron == "0 0 29 2 *"


def test_check_params_takes_grpo_configs_own_settings_by_trls_names(tmp_path):
    from typer.testing import CliRunner

    from rlvr.cli import app

    (tmp_path / "params.yaml").write_text("train:\n  trl: {epsilon_high: 0.28, num_iterations: 2}\n")
    result = CliRunner().invoke(app, ["check-params", str(tmp_path / "params.yaml")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert load_params(tmp_path / "params.yaml").train.trl == {"epsilon_high": 0.28, "num_iterations": 2}
    assert parse_params({}).train.shared_prefix == "auto"


def test_sharded_training_refuses_what_copies_or_packs_the_whole_policy(tmp_path):
    """Under DeepSpeed ZeRO-3 (in the accelerate config, or in the DeepSpeed JSON it names) or FSDP, the
    merged copy and an explicit shared prefix are refused in one line; `auto` and ZeRO-2 pass, and one
    process launches no sharding at all."""
    configs = {
        "zero3": "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 3\n",
        "zero3_json": "distributed_type: DEEPSPEED\ndeepspeed_config:\n"
        f"  deepspeed_config_file: {tmp_path / 'ds.json'}\n",
        "fsdp": "distributed_type: FSDP\nfsdp_config: {}\n",
        "zero2": "distributed_type: DEEPSPEED\ndeepspeed_config:\n  zero_stage: 2\n",
    }
    (tmp_path / "ds.json").write_text('{"zero_optimization": {"stage": 3}}')
    for name, text in configs.items():
        (tmp_path / f"{name}.yaml").write_text(text)

    def params(config: str, processes: int = 2, **train):
        file = str(tmp_path / f"{config}.yaml")
        return {"distributed": {"num_processes": processes, "config_file": file}, "train": train}

    for config, sharded in (
        ("zero3", "DeepSpeed ZeRO-3"),
        ("zero3_json", "DeepSpeed ZeRO-3"),
        ("fsdp", "FSDP"),
    ):
        with pytest.raises(
            ParamsError, match=f"train.generation 'compiled' copies .* a shard under {sharded}"
        ):
            parse_params(params(config, generation="compiled"))
        with pytest.raises(
            ParamsError, match=f"train.shared_prefix has never run with sharded weights .{sharded}"
        ):
            parse_params(params(config, shared_prefix=True))
        assert parse_params(params(config)).distributed.sharding == sharded
    assert parse_params(params("zero2", generation="merged", shared_prefix=True)).distributed.sharding is None
    assert parse_params(params("zero3", processes=1, generation="merged")).distributed.sharding is None
