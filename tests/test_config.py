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
    """The scheduler and optimizer names are transformers' enums, the cron check is Prefect's."""
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
        assert rlvr_reads is prefect_reads, cron


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
