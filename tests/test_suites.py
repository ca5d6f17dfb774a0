"""Benchmark suites and the `evaluate` metric: layouts read from local files in the hub datasets' own
columns, the suites params, and rlvr's metric loaded offline by `evaluate` from the installed package,
checked on literal cases against the rewards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlvr.config.schema import PINNED_SUITES, ParamsError, parse_params
from rlvr.data.sources import load_benchmark
from rlvr.data.suites import LAYOUTS, benchmark_rows, gsm8k_answer
from rlvr.errors import DataError
from rlvr.files import write_jsonl
from rlvr.verify.rewards import Accuracy, MatchFormatExactly, TaskScore
from tests.conftest import ROOT


def test_gsm8k_gold_is_the_number_after_the_last_marker():
    assert gsm8k_answer("48 / 2 = <<48/2=24>>24\n#### 72") == "72"
    assert gsm8k_answer("a #### 1 then #### 2,500 ") == "2500"
    assert gsm8k_answer("no marker 42") is None and gsm8k_answer("####  ") is None


def test_local_files_in_the_hub_columns_read_as_benchmark_rows(tmp_path):
    math500 = [
        {
            "problem": "1+1?",
            "solution": "2",
            "answer": "2",
            "subject": "Algebra",
            "level": 1,
            "unique_id": "a",
        },
        {"problem": "2+2?", "solution": "4", "answer": 4, "subject": "Algebra", "level": 1, "unique_id": "b"},
    ]
    write_jsonl(math500, tmp_path / "test.jsonl")
    rows = load_benchmark(str(tmp_path / "test.jsonl"), LAYOUTS["math500"].columns, None, None, "test", None)
    assert benchmark_rows("math500", "math500", rows) == [
        {"suite": "math500", "problem": "1+1?", "answer": "2"},
        {"suite": "math500", "problem": "2+2?", "answer": "4"},
    ]
    pq.write_table(
        pa.table({"question": ["q1", "q2", "q3"], "answer": ["x\n#### 1", "y\n#### 2", "z\n#### 3"]}),
        tmp_path / "test-00000-of-00001.parquet",
    )
    path = str(tmp_path / "test-00000-of-00001.parquet")
    rows = load_benchmark(path, LAYOUTS["gsm8k"].columns, "main", None, "test", 2)
    assert benchmark_rows("gsm8k", "gsm8k", rows) == [
        {"suite": "gsm8k", "problem": "q1", "answer": "1"},
        {"suite": "gsm8k", "problem": "q2", "answer": "2"},
    ]


def test_a_benchmark_in_the_wrong_layout_is_a_one_line_error(tmp_path):
    write_jsonl([{"question": "q", "answer": "a\n#### 1"}], tmp_path / "gsm.jsonl")
    with pytest.raises(DataError, match="has no 'problem' column; its columns are question, answer"):
        load_benchmark(str(tmp_path / "gsm.jsonl"), LAYOUTS["math500"].columns, None, None, "test", None)
    with pytest.raises(DataError, match=r"benchmark gsm8k, row 1: no problem or no final answer"):
        benchmark_rows("gsm8k", "gsm8k", [{"problem": "q", "answer": "no marker"}])


def test_pinned_benchmarks_are_the_params_defaults():
    benchmarks = parse_params({}).evaluate.benchmarks
    assert {name: b.model_dump(exclude_defaults=True) for name, b in benchmarks.items()} == {
        name: {k: v for k, v in spec.items() if k != "split"} for name, spec in PINNED_SUITES.items()
    }
    assert all(len(b.revision) == 40 for b in benchmarks.values())
    assert parse_params({}).evaluate.suites == ["heldout"]


@pytest.mark.parametrize(
    ("evaluate", "message"),
    [
        ({"suites": ["math500"]}, "evaluate.suites must hold 'heldout'"),
        ({"suites": ["heldout", "aime"]}, "no benchmark named aime; the suites are 'heldout' and the names"),
        ({"suites": ["heldout", "heldout"]}, "each suite once"),
        (
            {"benchmarks": {"aime": {"layout": "aime", "path": "x"}}},
            "'evaluate.benchmarks.aime.layout': Input should be 'math500' or 'gsm8k'",
        ),
        (
            {"benchmarks": {"aime": {"layout": "math500", "path": "x", "revison": "y"}}},
            "unknown key 'evaluate.benchmarks.aime.revison'; allowed keys here: layout, path, config",
        ),
    ],
)
def test_bad_suite_params_name_the_key_and_what_is_allowed(evaluate, message):
    with pytest.raises(ParamsError) as error:
        parse_params({"evaluate": evaluate}, "params.yaml")
    assert message in str(error.value)


def test_a_user_benchmark_with_a_known_layout_is_a_suite():
    params = parse_params(
        {"evaluate": {"suites": ["heldout", "aime24"], "benchmarks": {"aime24": {"layout": "math500",
                                                                                  "path": "aime.jsonl"}}}}
    )  # fmt: skip
    assert params.evaluate.suites == ["heldout", "aime24"]
    assert params.evaluate.benchmarks["aime24"].model_dump() == {
        "layout": "math500", "path": "aime.jsonl", "config": None, "revision": None, "split": "test",
        "max_problems": None,
    }  # fmt: skip


COMPLETIONS = [
    "<start_working_out>1 + 1 = 2<end_working_out><SOLUTION>2</SOLUTION>",
    "<start_working_out>half<end_working_out><SOLUTION>0.5</SOLUTION>",
    "<SOLUTION>\\frac{3}{4}</SOLUTION>",
    "the answer is 7",
    "<start_working_out>4/6<end_working_out><SOLUTION>4/6</SOLUTION>",
]
REFERENCES = ["2", "\\frac{1}{2}", "0.75", "7", "2/3"]
FRACTION = {"numerator": 4, "denominator": 6, "simplified_numerator": 2, "simplified_denominator": 3}
METRIC = """
import json, sys
import evaluate
from rlvr.evaluation.verified_math import PATH
metric = evaluate.load(PATH, keep_in_memory=True)
brackets = evaluate.load(PATH, markers={"solution_start": "[", "solution_end": "]"})
c, r, t, m = json.loads(sys.argv[1])
out = {
    "path": PATH,
    "name": metric.name,
    "plain": metric.compute(predictions=c, references=r),
    "tasks": metric.compute(predictions=c, references=r, tasks=t, metadata=m),
    "other": brackets.compute(predictions=["[2]", "<SOLUTION>2</SOLUTION>"], references=["2", "2"]),
    "combined": evaluate.combine([metric, brackets], force_prefix=True).compute(
        predictions=["[2]"], references=["2"]
    ),
}
print(json.dumps(out))
"""


def test_the_evaluate_metric_loads_offline_from_the_package_and_agrees_with_the_rewards(tmp_path):
    tasks = [None, None, None, None, "fraction_simplification"]
    metadata = [None, None, None, None, FRACTION]
    cases = json.dumps([COMPLETIONS, REFERENCES, tasks, metadata])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf"), "TQDM_DISABLE": "1"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", METRIC, cases], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert (
        out["path"] == str(ROOT / "rlvr" / "evaluation" / "verified_math.py")
        and out["name"] == "verified_math"
    )
    # the copy `evaluate` imports lives in its modules cache, under HF_HOME: nothing came from the hub
    assert (tmp_path / "hf" / "modules" / "evaluate_modules" / "metrics" / "verified_math").is_dir()

    accurate = Accuracy()(COMPLETIONS, answer=REFERENCES)
    formatted = MatchFormatExactly()(COMPLETIONS)
    plain = out["plain"]
    assert plain["correct"] == [a == 2.0 for a in accurate] == [True, True, True, False, True]
    assert plain["formatted"] == [f == 3.0 for f in formatted] == [True, True, False, False, True]
    assert (plain["accuracy"], plain["format"]) == (0.8, 0.6)
    # with the task, the last row is judged by its verifier: 4/6 is not in lowest terms
    by_task = TaskScore()(
        COMPLETIONS[4:], answer=["2/3"], task=tasks[4:], task_metadata=[json.dumps(FRACTION)]
    )
    assert by_task == [0.2]
    assert out["tasks"]["correct"] == [True, True, True, False, False] and out["tasks"]["accuracy"] == 0.6
    assert out["other"] == {
        "accuracy": 0.5,
        "format": 0.0,
        "correct": [True, False],
        "formatted": [False, False],
    }
    assert out["combined"]["verified_math_0_accuracy"] == 0.0
    assert out["combined"]["verified_math_1_accuracy"] == 1.0


def test_a_local_copy_of_the_hub_repos_reads_through_datasets_with_their_configs(tmp_path):
    """A folder holding the repo's README.md is read by `datasets` as the hub repo itself (config, split)."""
    math500 = tmp_path / "MATH-500"
    write_jsonl([{"problem": "1+1?", "solution": "2", "answer": "2", "subject": "A", "level": 1,
                  "unique_id": "a"}], math500 / "test.jsonl")  # fmt: skip
    (math500 / "README.md").write_text("# MATH-500\n")
    rows = load_benchmark(str(math500), LAYOUTS["math500"].columns, None, None, "test", None)
    assert benchmark_rows("math500", "math500", rows) == [
        {"suite": "math500", "problem": "1+1?", "answer": "2"}
    ]

    gsm8k = tmp_path / "gsm8k"
    (gsm8k / "main").mkdir(parents=True)
    for split, n in (("train", 3), ("test", 2)):
        table = pa.table(
            {"question": [f"{split} {i}" for i in range(n)], "answer": [f"w\n#### {i}" for i in range(n)]}
        )
        pq.write_table(table, gsm8k / "main" / f"{split}-00000-of-00001.parquet")
    (gsm8k / "README.md").write_text(
        "---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n    path: main/train-*\n"
        "  - split: test\n    path: main/test-*\n---\n"
    )
    rows = load_benchmark(str(gsm8k), LAYOUTS["gsm8k"].columns, "main", None, "test", None)
    assert benchmark_rows("gsm8k", "gsm8k", rows) == [
        {"suite": "gsm8k", "problem": "test 0", "answer": "0"},
        {"suite": "gsm8k", "problem": "test 1", "answer": "1"},
    ]
