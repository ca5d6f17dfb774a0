"""The seed recipe as Unsloth's Qwen3 GRPO notebook runs it: the notebook's reward scores case by case, its
two datasets' layouts and filters, and the warning of a GRPO run whose completions are all clipped."""

from __future__ import annotations

import re

import pytest

from rehearsal.standins import dapo_snapshot, openmath_snapshot
from rlvr.config.schema import REWARD_SCORES, HubSource, LoraParams, Markers, TrainParams
from rlvr.data.examples import sft_source_rows, to_grpo_example, to_sft_example
from rlvr.data.prepare import problem_id
from rlvr.data.problems import make_problems
from rlvr.data.sources import load_hub
from rlvr.files import read_log
from rlvr.training.stalls import stalls
from rlvr.verify.rewards import NOTEBOOK_REWARDS, REWARDS, SCORES, build_rewards

M = Markers(prefill_reasoning=True, chat_template="plain")
EOS = "<|endoftext|>"


# The notebook's four reward functions (cells 42-55), re-implemented here from what they do: its format
# expression searched in the completion, its number expression, `float()` and the scores it gives. The
# production code reads the same completions with string searches; these are the reference.
MATCH_FORMAT = re.compile(
    rf"{M.reasoning_end}.*?{M.solution_start}(.+?){M.solution_end}[\s]{{0,}}(?:{re.escape(EOS)})?[\s]{{0,}}$",
    flags=re.MULTILINE | re.DOTALL,
)
MATCH_NUMBERS = re.compile(
    M.solution_start + r".*?[\s]{0,}([-]?[\d\.\,]{1,})", flags=re.MULTILINE | re.DOTALL
)


def notebook_exactly(text: str) -> float:
    return 3.0 if MATCH_FORMAT.search(text) else 0.0


def notebook_approximately(text: str) -> float:
    return sum(
        0.5 if text.count(m) == 1 else -1.0 for m in (M.reasoning_end, M.solution_start, M.solution_end)
    )


def notebook_answer(text: str, gold: str) -> float:
    found = MATCH_FORMAT.search(text)
    if found is None:
        return -2.0
    guess = found.group(1)
    if guess == gold:
        return 5.0
    if guess.strip() == gold.strip():
        return 3.5
    try:
        ratio = float(guess) / float(gold)
    except (ValueError, ZeroDivisionError):
        return -4.5
    return 2.0 if 0.9 <= ratio <= 1.1 else 1.5 if 0.8 <= ratio <= 1.2 else -2.5


def notebook_numbers(text: str, gold: str) -> float:
    found = MATCH_NUMBERS.search(text)
    if found is None:
        return -2.5
    try:
        return 3.5 if float(found.group(1).strip().replace(",", "")) == float(gold.strip()) else -1.5
    except ValueError:
        return 0.0


NOTEBOOK = {
    "match_format_exactly": lambda text, gold: notebook_exactly(text),
    "match_format_approximately": lambda text, gold: notebook_approximately(text),
    "check_answer": notebook_answer,
    "check_numbers": notebook_numbers,
}

W = "6 * 7 = 42"
CASES = [  # (completion, as the model writes it after the prefilled reasoning start; gold)
    (f"{W}<end_working_out><SOLUTION>42</SOLUTION>", "42"),
    (f"{W}<end_working_out>\n<SOLUTION>42</SOLUTION>\n\n", "42"),
    (f"{W}<end_working_out>so:<SOLUTION>42</SOLUTION>", "42"),  # text between the sections
    (f"{W}<end_working_out><SOLUTION>42</SOLUTION>\nDone.", "42"),  # text on a line after the solution
    (f"{W}<end_working_out><SOLUTION>42</SOLUTION> Done.", "42"),  # text on the solution's line
    (f"{W}<end_working_out><SOLUTION> 42 </SOLUTION>", "42"),  # padded
    (f"{W}<end_working_out><SOLUTION>44</SOLUTION>", "42"),
    (f"{W}<end_working_out><SOLUTION>50</SOLUTION>", "42"),
    (f"{W}<end_working_out><SOLUTION>7</SOLUTION>", "42"),
    (f"{W}<end_working_out><SOLUTION>-42</SOLUTION>", "42"),
    (f"{W}<end_working_out><SOLUTION>forty-two</SOLUTION>", "42"),
    (f"{W}<end_working_out><SOLUTION>3/4</SOLUTION>", "\\frac{3}{4}"),  # a LaTeX gold
    (f"{W}<end_working_out><SOLUTION>0.75</SOLUTION>", "0.75"),
    (f"{W}<end_working_out><SOLUTION>1</SOLUTION>", "0"),  # a gold of 0
    (f"{W}<end_working_out><SOLUTION>1,234</SOLUTION>", "1234"),
    (f"{W}<end_working_out><SOLUTION>x = 5</SOLUTION>", "x + 1"),  # a non-numeric gold
    (f"{W}<end_working_out><SOLUTION>42", "42"),  # an unclosed solution
    (f"{W}<end_working_out>42", "42"),  # no solution section
    (f"{W}<end_working_out><SOLUTION>4</SOLUTION> no, <SOLUTION>42</SOLUTION>", "42"),
    (f"{W}<end_working_out><SOLUTION>Hmm. 42</SOLUTION>", "42"),  # the notebook reads "." first
    (f"{W}<SOLUTION>42</SOLUTION>", "42"),  # no reasoning end
    ("", "42"),
    ("<end_working_out><end_working_out><SOLUTION></SOLUTION>x</SOLUTION>", "42"),
]


@pytest.mark.parametrize(("text", "gold"), CASES)
@pytest.mark.parametrize("name", list(NOTEBOOK))
def test_notebook_scores_are_the_notebooks_case_by_case(name, text, gold):
    [reward] = build_rewards([name], M, "notebook")
    assert reward([text], answer=[gold]) == [NOTEBOOK[name](text, gold)]


@pytest.mark.parametrize(
    ("name", "text", "gold", "notebook", "rlvr"),
    [
        ("check_answer", f"{W}<end_working_out>42", "42", -2.0, 0.0),  # no solution section
        ("check_numbers", f"{W}<end_working_out>42", "42", -2.5, 0.0),
        ("check_numbers", f"{W}<end_working_out><SOLUTION>42", "42", 3.5, 0.0),  # unclosed
        ("match_format_exactly", f"{W}<end_working_out><SOLUTION>42</SOLUTION>\nDone.", "42", 3.0, 0.0),
        ("match_format_exactly", f"{W}<end_working_out>so:<SOLUTION>42</SOLUTION>", "42", 3.0, 0.0),
        ("check_answer", f"{W}<end_working_out><SOLUTION> 42 </SOLUTION>", "42", 3.5, 5.0),  # padded
        ("check_answer", f"{W}<end_working_out><SOLUTION>3/4</SOLUTION>", "\\frac{3}{4}", -4.5, -2.5),
    ],
)
def test_the_five_documented_differences(name, text, gold, notebook, rlvr):
    scores = {kind: build_rewards([name], M, kind)[0]([text], answer=[gold]) for kind in REWARD_SCORES}
    assert scores == {"notebook": [notebook], "rlvr": [rlvr]}


def test_both_score_sets_hold_every_reward_and_share_accuracy_and_task_score():
    assert set(SCORES) == set(REWARD_SCORES)
    assert list(NOTEBOOK_REWARDS) == list(REWARDS)
    assert [NOTEBOOK_REWARDS[n] is REWARDS[n] for n in REWARDS] == [False] * 4 + [True] * 2


def test_the_notebook_format_reads_a_long_noisy_completion_quickly():
    """The notebook's expression backtracks over every pair of markers; the string searches do not."""
    import time

    text = (M.reasoning_end + M.solution_start + "1" + M.solution_end + " x") * 20_000
    started = time.perf_counter()
    scores = [r([text], answer=["1"]) for r in build_rewards(list(NOTEBOOK), M, "notebook")]
    assert time.perf_counter() - started < 2
    assert scores == [[0.0], [-3.0], [-2.0], [3.5]]


def test_dapo_loads_in_the_profiles_columns_from_a_snapshot_of_its_layout(tmp_path):
    from rlvr.config.profiles import profile_values
    from rlvr.config.schema import parse_params
    from tests.conftest import ROOT

    hub = parse_params(profile_values(ROOT, "qwen3-4b")).data.hub
    assert (hub.path, hub.config, hub.split) == ("open-r1/DAPO-Math-17k-Processed", "en", "train")
    snapshot = dapo_snapshot(tmp_path / "DAPO-Math-17k-Processed", count=12)
    rows = load_hub(str(snapshot), hub.config, None, hub.split, None, hub.columns.model_dump())
    assert len(rows) == 12 and all(set(row) == {"problem", "answer"} for row in rows)
    assert rows[0]["problem"].startswith("What is ") and rows[0]["answer"].isdigit()
    with pytest.raises(Exception, match="data.hub.columns"):  # the default columns: Open R1 Math's
        load_hub(str(snapshot), "en", None, "train", None, HubSource().columns.model_dump())


def test_the_sft_source_keeps_numeric_answers_drops_held_out_problems_and_think_tags(tmp_path):
    from rlvr.config.profiles import profile_values
    from rlvr.config.schema import parse_params
    from tests.conftest import ROOT

    data = parse_params(profile_values(ROOT, "qwen3-4b")).sft.data
    snapshot = openmath_snapshot(tmp_path / "OpenMathReasoning-mini", count=8)
    fetched = load_hub(str(snapshot), None, None, data.hub.split, None, data.hub.columns.model_dump())
    rows, left_out = sft_source_rows(fetched, data.numeric_answers, {problem_id(fetched[1]["problem"])})
    assert left_out == {"not_numeric": 2, "heldout_problem": 1}  # rows 0 and 4 have a LaTeX answer
    assert [row["problem"] for row in rows] == [fetched[i]["problem"] for i in (2, 3, 5, 6, 7)]
    target = to_sft_example(rows[0], M)["completion"][0]["content"]
    assert "<think>" not in target and "</think>" not in target
    assert target.startswith(M.reasoning_start) and target.endswith(
        f"<SOLUTION>{rows[0]['answer']}</SOLUTION>"
    )


def test_the_warning_fires_when_every_completion_is_clipped(tiny_model, tmp_path, capsys):
    """A random model answering in 2 tokens never reaches its end token: a real GRPO run says so, in its
    log (stderr), its MLflow run (a tag) and the evaluate stage's report (from the step log)."""
    import mlflow

    from rlvr.contracts import AdapterManifest
    from rlvr.mlops.live import live_metrics
    from rlvr.training.checkpoints import train_and_publish
    from rlvr.training.models import load_trainable
    from rlvr.training.trainers import build_grpo_trainer

    model, tokenizer, peft_config = load_trainable(tiny_model, "float32", LoraParams(r=4), None, "trl", 256)
    params = TrainParams(max_steps=3, batch_size=4, num_generations=4, max_completion_length=2)
    names = list(params.rewards)
    examples = [to_grpo_example(row, Markers()) for row in make_problems(8, seed=1, levels=[1])]
    trainer = build_grpo_trainer(
        model, tokenizer, peft_config, examples,
        build_rewards(names, Markers()), [params.rewards[n] for n in names], params, "float32", "trl",
        "generate", 256, tmp_path / "ck",
    )  # fmt: skip
    trainer.add_callback(live_metrics(trainer))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        manifest = AdapterManifest(stage="train", trained=True)
        train_and_publish(trainer, tmp_path / "ck", tmp_path / "grpo", tmp_path / "grpo.json", manifest)
    expected = (
        "most completions were cut at train.max_completion_length (steps 1-3, clipped_ratio > 0.5 each)"
    )
    assert f"warning: {expected}" in capsys.readouterr().err
    tags = mlflow.MlflowClient().get_run(run.info.run_id).data.tags
    assert tags["warning.clipped"].startswith(expected)
    assert stalls(read_log(tmp_path / "grpo.json"))["clipped"].startswith(expected)
