import ast
import hashlib
import json
import operator
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import rlvr
from rlvr.data.problems import PROBLEM_KINDS, PROBLEM_LEVELS, make_problems

# sha256 of json.dumps(make_problems(300, seed=1234, levels=PROBLEM_LEVELS), sort_keys=True). It changes
# only when the generator's output changes on purpose; then record the new digest here.
DIGEST = "bd30fe2eb7bdde0b3c80e9525ca236e221692922d6c6b493f43dd37e6553e084"

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def digest(rows: list[dict]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode("utf-8")).hexdigest()


def value(expr: str) -> Fraction:
    """An expression of integers, + - * / and brackets, evaluated exactly."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not plain arithmetic: {expr}")

    return walk(ast.parse(expr, mode="eval").body)


def at_answer(side: str, x: Fraction) -> Fraction:
    """One side of an equation such as '3x - 5' evaluated at x."""
    return value(re.sub(r"(\d*)x", lambda m: f"{m[1] or 1} * ({x})", side))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return make_problems(1500, seed=7, levels=PROBLEM_LEVELS)


def test_the_output_is_recorded_bit_for_bit():
    assert digest(make_problems(300, seed=1234, levels=PROBLEM_LEVELS)) == DIGEST


def test_the_output_does_not_depend_on_the_hash_seed():
    code = (
        "import hashlib, json; from rlvr.data.problems import PROBLEM_LEVELS, make_problems; "
        "rows = make_problems(300, seed=1234, levels=PROBLEM_LEVELS); "
        "print(hashlib.sha256(json.dumps(rows, sort_keys=True)"
        ".encode('utf-8')).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(rlvr.__file__).parents[1])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == DIGEST


def test_seeds_and_arguments_select_the_output():
    assert make_problems(50, seed=1, levels=[1]) == make_problems(50, seed=1, levels=[1])
    assert make_problems(50, seed=1, levels=[1]) != make_problems(50, seed=2, levels=[1])
    assert make_problems(0, seed=1, levels=PROBLEM_LEVELS) == []
    rows = make_problems(20, seed=1, levels=[2, 3], kinds=["fraction"])
    assert {(r["problem_type"], r["level"]) for r in rows} == {("fraction", 2), ("fraction", 3)}


def test_every_kind_and_level_comes_in_equal_shares(rows):
    shares = {}
    for row in rows:
        key = (row["problem_type"], row["level"])
        shares[key] = shares.get(key, 0) + 1
    assert shares == {(kind, level): 100 for kind in PROBLEM_KINDS for level in PROBLEM_LEVELS}


def test_rows_have_string_fields_and_mostly_unique_problems(rows):
    for row in rows:
        assert set(row) == {"problem", "answer", "solution", "problem_type", "level"}
        assert all(isinstance(row[key], str) and row[key] for key in ("problem", "answer", "solution"))
        assert re.fullmatch(r"-?\d+(/\d+)?", row["answer"]), row
    assert len({row["problem"] for row in rows}) > 0.99 * len(rows)


def test_fractions_are_reduced(rows):
    for row in rows:
        assert str(Fraction(row["answer"])) == row["answer"]


def test_solutions_end_with_the_answer_and_every_step_is_right(rows):
    for row in rows:
        assert row["solution"].endswith(f"= {row['answer']}"), row
        for line in row["solution"].splitlines():
            sides = [side for side in line.split(" = ") if re.fullmatch(r"[\d\s+\-*/()]+", side)]
            assert len({value(side) for side in sides}) <= 1, line


def test_answers_solve_the_problems(rows):
    for row in rows:
        problem, answer = row["problem"], Fraction(row["answer"])
        if row["problem_type"] in ("arithmetic", "fraction"):
            assert value(re.fullmatch(r"What is (.*)\?", problem)[1]) == answer
        elif row["problem_type"] == "linear":
            left, right = re.fullmatch(r"Solve for x: (.*)", problem)[1].split(" = ")
            assert at_answer(left, answer) == at_answer(right, answer), row
        elif row["problem_type"] == "percent" and row["level"] < 3:
            p, n = map(int, re.fullmatch(r"What is (\d+)% of (\d+)\?", problem).groups())
            assert Fraction(p * n, 100) == answer


def test_level_one_is_short(rows):
    level_one = [row for row in rows if row["level"] == 1]
    assert max(len(row["solution"]) for row in level_one) <= 40
    assert make_problems(1, seed=0, levels=[1], kinds=["arithmetic"])[0]["solution"].count("\n") == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": -1, "levels": [1]}, "count"),
        ({"count": 1, "levels": [4]}, r"\(1, 2, 3\)"),
        ({"count": 1, "levels": []}, r"\(1, 2, 3\)"),
        ({"count": 1, "levels": [1], "kinds": ["geometry"]}, "arithmetic"),
    ],
)
def test_invalid_arguments_name_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_problems(seed=0, **kwargs)
