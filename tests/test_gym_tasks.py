"""reasoning-gym as a data source and a verifier: the safe list against reasoning-gym's own code, the rows
and their SFT targets, the `task_score` reward on adversarial text, evaluation's per-row verifier, and the
params that name tasks."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import inspect
import json
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import yaml

from rlvr.config.schema import GYM_REFUSED, Markers, ParamsError, ReasoningGymSource, parse_params
from rlvr.data.examples import to_grpo_example
from rlvr.data.gym import SAFE_TASKS, check_knobs, config_knobs, make_rows, score, worked_solution
from rlvr.data.prepare import clean_rows, prepare_rows
from rlvr.evaluation.scoring import score_completions
from rlvr.verify.rewards import Accuracy, TaskScore
from tests.conftest import ROOT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from reasoning_gym import utils
    from reasoning_gym.arithmetic.fraction_simplification import FractionSimplificationDataset
    from reasoning_gym.arithmetic.leg_counting import ANIMALS
    from reasoning_gym.factory import DATASETS

# The code each safe task's verifier runs on the answer text (its score_answer and the helpers it calls),
# and the hash of that code as it was read for docs/datasets.md. A reasoning-gym upgrade that changes one
# fails here: read the new code, then update the hash (or take the task off the list).
HELPERS = {
    "chain_sum": [utils.compute_decimal_reward],
    "products": [utils.compute_decimal_reward],
    "fraction_simplification": [FractionSimplificationDataset._extract_fraction],
}
AUDITED = {
    "basic_arithmetic": "d4c377f0ac8e002f",
    "chain_sum": "7a6c6a0a13870d30",
    "products": "7a6c6a0a13870d30",
    "leg_counting": "d4c377f0ac8e002f",
    "simple_equations": "d4c377f0ac8e002f",
    "fraction_simplification": "77fa292c1b9701cc",
    "gsm_symbolic": "39d8f8174f9dad30",
}
# Names that would let a verifier run text as code.
CODE_RUNNERS = {"eval", "exec", "compile", "__import__", "sympify", "parse_expr", "literal_eval", "system"}
MIX = [(name, 1.0, {}) for name in SAFE_TASKS]
ROWS = make_rows(MIX, size=70, seed=3)
M = Markers()


def verifier_code(name: str) -> str:
    return "".join(inspect.getsource(f) for f in [DATASETS[name][0].score_answer, *HELPERS.get(name, [])])


def called_names(source: str) -> set[str]:
    tree = ast.parse(textwrap.dedent(source))
    return {
        node.id if isinstance(node, ast.Name) else node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Name | ast.Attribute)
    }


@pytest.mark.parametrize("name", list(SAFE_TASKS))
def test_each_safe_verifier_is_the_code_that_was_read_and_runs_no_text_as_code(name):
    code = verifier_code(name)
    assert hashlib.sha256(code.encode()).hexdigest()[:16] == AUDITED[name]
    functions = [DATASETS[name][0].score_answer, *HELPERS.get(name, [])]
    for function in functions:
        assert not called_names(inspect.getsource(function)) & CODE_RUNNERS


def test_countdown_is_refused_because_its_verifier_runs_the_text_as_code(tmp_path):
    assert "parse_expr" in called_names(inspect.getsource(DATASETS["countdown"][0].score_answer))
    entry = {"answer": "1 + 1", "metadata": {"numbers": [1, 1], "target": 2}}
    payload = f"__import__('pathlib').Path('{tmp_path / 'ran'}').touch()"
    assert score("countdown", payload, entry["answer"], entry["metadata"]) is None
    assert not (tmp_path / "ran").exists()
    # what rlvr never does: hand the text to countdown's own verifier, which runs it
    DATASETS["countdown"][0](DATASETS["countdown"][1]()).score_answer(payload, entry)
    assert (tmp_path / "ran").exists()
    assert "countdown" in GYM_REFUSED and "countdown" not in SAFE_TASKS


@pytest.mark.parametrize("name", list(SAFE_TASKS))
def test_each_task_s_knobs_are_its_config_s_fields_with_their_defaults(name):
    config = DATASETS[name][1]
    knobs = config_knobs(name)
    assert list(knobs) == [f.name for f in dataclasses.fields(config) if f.name not in ("seed", "size")]
    assert {knob: default for knob, (default, _) in knobs.items()} == {
        knob: getattr(config(), knob) for knob in knobs
    }


def test_a_literal_knob_allows_its_values_and_a_factory_default_is_typed():
    assert config_knobs("basic_arithmetic")["whitespace"] == ("single", ("no_space", "single", "random"))
    with pytest.raises(ValueError, match=r"config.operators_weights: must be a list, like its default"):
        check_knobs("simple_equations", {"operators_weights": 0.5})


def test_the_default_mix_that_check_mix_skips_passes_the_knob_check():
    """`check_mix` does not import reasoning-gym for the schema's default mix (the one params.yaml
    writes): its knobs pass here."""
    for task in ReasoningGymSource().tasks:
        check_knobs(task.name, task.config)


def test_rows_hold_what_the_verifier_needs_and_the_gold_gets_full_marks():
    assert {row["task"] for row in ROWS} == set(SAFE_TASKS)
    for row in ROWS:
        assert set(row) == {"problem", "answer", "solution", "task", "metadata"}
        assert json.loads(json.dumps(row)) == row  # plain JSON, nothing lost
        assert row["solution"].strip() and row["problem"].strip()
        assert score(row["task"], row["answer"], row["answer"], row["metadata"], row["problem"]) == 1.0


def test_the_same_params_make_byte_identical_rows_in_another_process():
    here = "\n".join(json.dumps(row, ensure_ascii=False) for row in ROWS)
    code = (
        "import json; from rlvr.data.gym import make_rows, SAFE_TASKS; "
        "print('\\n'.join(json.dumps(r, ensure_ascii=False) for r in "
        "make_rows([(n, 1.0, {}) for n in SAFE_TASKS], size=70, seed=3)))"
    )
    there = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    ).stdout
    assert there.rstrip("\n") == here
    assert make_rows(MIX, size=70, seed=4) != ROWS


def test_sft_targets_reason_to_the_answer():
    by_task = {}
    for row in ROWS:
        by_task.setdefault(row["task"], row)
    for name in ("basic_arithmetic", "chain_sum", "products"):
        row = by_task[name]
        assert row["solution"] == f"{row['metadata']['expression']} = {row['answer']}"
    legs = by_task["leg_counting"]
    total = sum(count * ANIMALS[animal] for animal, count in legs["metadata"]["animals"].items())
    assert legs["solution"].endswith(f"= {total}") and str(total) == legs["answer"]
    equation = by_task["simple_equations"]
    variable = equation["metadata"]["variable"]
    assert equation["solution"].endswith(f", so {variable} = {equation['answer']}")
    fraction = by_task["fraction_simplification"]["metadata"]
    n, d = fraction["numerator"], fraction["denominator"]
    assert worked_solution("fraction_simplification", "", fraction).startswith(
        f"The greatest common divisor of {n} and {d} is {n // fraction['simplified_numerator']}:"
    )
    gsm = by_task["gsm_symbolic"]
    assert "####" not in gsm["solution"] and gsm["solution"] in gsm["metadata"]["answer_cot"]


def reward_rows(rows, texts):
    return dict(
        answer=[row["answer"] for row in rows],
        task=[row["task"] for row in rows],
        task_metadata=[to_grpo_example(row, M)["task_metadata"] for row in rows],
        problem=[row["problem"] for row in rows],
    ), [f"<start_working_out>w<end_working_out><SOLUTION>{text}</SOLUTION>" for text in texts]


def test_task_score_pays_the_task_s_verdict_on_the_solution_section():
    rows = ROWS[:20]
    columns, right = reward_rows(rows, [row["answer"] for row in rows])
    assert TaskScore()(right, **columns) == [2.0] * 20
    _, wrong = reward_rows(rows, ["no"] * 20)
    assert all(value is not None and value < 2.0 for value in TaskScore()(wrong, **columns))
    assert TaskScore()(["no section"] * 20, **columns) == [0.0] * 20
    # rows without a task (the built-in problems) do not count
    assert TaskScore()(right[:2], answer=["1", "2"]) == [None, None]


ATTACKS = [
    "__import__('pathlib').Path('{flag}').touch()",
    "exec(\"open('{flag}', 'w').close()\")",
    "9" * 299,
    "1e999999999",
    "(" * 150 + ")" * 150,
    "1/0",
    "\\frac{" * 40,
    "$" * 299,
    "-" * 299 + "1",
    "1,000,000,000,000,000,000,000,000,000,000,000,000",
    "\x00\ud800 nul and a lone surrogate",
]


def test_task_score_never_runs_the_text_and_answers_adversarial_text_quickly(tmp_path):
    flag = tmp_path / "ran"
    texts = [attack.replace("{flag}", str(flag)) for attack in ATTACKS] + ["7" * 100_000]
    rows = [next(r for r in ROWS if r["task"] == name) for name in SAFE_TASKS for _ in texts]
    columns, completions = reward_rows(rows, texts * len(SAFE_TASKS))
    start = time.perf_counter()
    scores = TaskScore()(completions, **columns)
    assert time.perf_counter() - start < 5.0
    assert not flag.exists()
    assert all(value is not None and 0.0 <= value < 2.0 for value in scores)
    # the 100,000-character answer never reaches the verifier
    assert scores[len(texts) - 1] == 0.0


def test_evaluation_judges_a_task_row_with_the_task_s_own_verifier():
    fraction = {"numerator": 4, "denominator": 6, "simplified_numerator": 2, "simplified_denominator": 3}
    completions = ["<SOLUTION>4/6</SOLUTION>", "<SOLUTION>2/3</SOLUTION>", "<SOLUTION>4/6</SOLUTION>"]
    # math-verify calls 4/6 equal to 2/3; the task asks for the lowest terms, and its verifier says no
    assert Accuracy()(completions[:1], answer=["2/3"]) == [2.0]
    scores = score_completions(
        completions,
        ["2/3", "2/3", "2/3"],
        [1, 1, 1],
        M,
        tasks=["fraction_simplification", "fraction_simplification", None],
        metadata=[fraction, json.dumps(fraction), None],
    )
    assert [s["correct"] for s in scores] == [False, True, True]


def test_prepare_keeps_task_rows_with_a_safe_task_and_their_metadata():
    unsafe = {"problem": "Reach 10 with 5 and 5", "answer": "5 + 5", "task": "countdown", "metadata": {}}
    bad = {"problem": "1 + 1 =", "answer": "2", "task": "chain_sum", "metadata": "not a mapping"}
    prepared = prepare_rows(
        [*ROWS, unsafe, bad],
        heldout_fraction=0.3,
        salt="s",
        is_verifiable=lambda answer: False,  # math-verify's check does not apply to task rows
        prompt_tokens=len,
        max_prompt_tokens=10_000,
    )
    kept = prepared.train + prepared.heldout
    assert prepared.drops["unverifiable_answer"] == 1 and prepared.drops["non_string_field"] == 1
    assert len(kept) + prepared.drops["duplicate"] == len(ROWS)
    assert all(
        row["metadata"] == next(r for r in ROWS if r["problem"].strip() == row["problem"])["metadata"]
        for row in kept
    )
    example = to_grpo_example(kept[0], M)
    assert example["task"] == kept[0]["task"] and json.loads(example["task_metadata"]) == kept[0]["metadata"]
    assert clean_rows([{"problem": "p", "answer": "1"}])[0] == [
        {"problem": "p", "answer": "1", "solution": ""}
    ]


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"name": "countdown"}], "task 'countdown' is refused: its verifier parses the answer with sympy"),
        ([{"name": "sudoku"}], "tasks with a safe verifier: basic_arithmetic, chain_sum"),
        ([{"name": "chain_sum"}, {"name": "chain_sum"}], "a task may appear once"),
        (
            [{"name": "chain_sum", "weight": 0}],
            "'data.reasoning_gym.tasks.0.weight': Input should be greater",
        ),
        (
            [{"name": "chain_sum", "wieght": 2}],
            "unknown key 'data.reasoning_gym.tasks.0.wieght'; allowed keys here: name, weight, config",
        ),
        ([], "'data.reasoning_gym.tasks': List should have at least 1 item"),
    ],
)
def test_bad_task_params_name_the_key_and_what_is_allowed(tasks, message):
    with pytest.raises(ParamsError) as error:
        parse_params({"data": {"source": "reasoning_gym", "reasoning_gym": {"tasks": tasks}}}, "params.yaml")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"name": "chain_sum", "config": {"max_term": 3}}], "config.max_term: chain_sum has no such knob"),
        ([{"name": "chain_sum", "config": {"max_terms": "3"}}], "config.max_terms: must be a whole number"),
        ([{"name": "chain_sum", "config": {"seed": 3}}], "use data.reasoning_gym.seed instead"),
        (
            [{"name": "products"}, {"name": "basic_arithmetic", "config": {"format_style": "fancy"}}],
            "tasks.1 (basic_arithmetic): config.format_style: must be one of 'simple', 'natural'",
        ),
    ],
)
def test_bad_knobs_are_refused_by_check_params_and_fetch_naming_the_task_and_knob(tasks, message, tmp_path):
    """A task's knobs are reasoning-gym's to define: the schema does not read them (it imports no domain
    code); `check_mix` does, for `rlvr check-params` and the fetch stage."""
    from typer.testing import CliRunner

    from rlvr.cli import app
    from rlvr.data.gym import TaskConfigError, check_mix

    params = parse_params({"data": {"source": "reasoning_gym", "reasoning_gym": {"tasks": tasks}}})
    with pytest.raises(TaskConfigError) as error:
        check_mix(params.data.reasoning_gym)
    assert message in str(error.value) and "\n" not in str(error.value)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"reasoning_gym": {"tasks": tasks}}}))
    result = CliRunner().invoke(app, ["check-params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 1 and message in " ".join(result.output.split())


def test_reasoning_gym_rejects_a_knob_value_at_fetch_naming_the_task():
    from rlvr.data.gym import TaskConfigError

    with pytest.raises(TaskConfigError, match=r"reasoning-gym refuses chain_sum's config .*max_terms"):
        make_rows([("chain_sum", 1.0, {"min_terms": 5, "max_terms": 2})], size=3, seed=0)
