"""Do the `accuracy` reward's verdicts repeat, and agree with math-verify's own, on a busy machine?

Each run scores every case in a fresh process (what a training or evaluate stage is), optionally beside
`--busy` processes that compute all the time, and records each call's verdict and the CPU and wall time it
took. The report: agreement with each case's expected verdict and with math-verify's own default judgement
(`verify(parse(gold), parse(guess))`, computed here without limits), for short answers (both texts within
`MAX_VERIFIED_CHARS`, what rlvr verifies) and for all; the verdicts that differ between runs; the slowest
call. The cases: the table of tests/test_rewards_agreement.py by default, or the
`pytest.mark.parametrize` rows `(gold, guess, expected)` of published test files (`--pytest-files`, read
as data with `ast.literal_eval`, never imported), e.g. a checkout of math-verify's `tests/`.

    python -m benchmarks.reward_verdicts --runs 2 --busy 4 --out docs/results/reward-verdicts.json
    python -m benchmarks.reward_verdicts --pytest-files ../Math-Verify/tests/test_*.py --busy 4
"""

from __future__ import annotations

import ast
import json
import os
import platform
import subprocess
import sys
from datetime import date
from pathlib import Path

import typer

SCORER = """
import json, sys, time
from rlvr.verify.rewards import Accuracy
accuracy = Accuracy()
out = []
for gold, guess in json.load(sys.stdin):
    cpu, wall = time.thread_time(), time.perf_counter()
    score = accuracy([f"<SOLUTION>{guess}</SOLUTION>"], answer=[gold])[0]
    out.append([score, time.thread_time() - cpu, time.perf_counter() - wall])
print(json.dumps(out))
"""


def parametrized_rows(paths: list[Path]) -> list[tuple[str, str, bool]]:
    """Every `(gold: str, guess: str, expected: int | bool, ...)` row of the files' parametrize lists.

    >>> import tempfile
    >>> test = Path(tempfile.mkdtemp()) / "test_x.py"
    >>> decorator = '@pytest.mark.parametrize("g,p,e", [("1", "1.0", 1), ("2", "3", 0), (1, 2)])'
    >>> _ = test.write_text(decorator + chr(10) + "def t(): pass")
    >>> parametrized_rows([test])
    [('1', '1.0', True), ('2', '3', False)]
    """
    rows = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize"):
                continue
            if len(node.args) < 2 or not isinstance(node.args[1], ast.List):
                continue
            for element in node.args[1].elts:
                try:
                    row = ast.literal_eval(element)
                except ValueError:
                    continue
                if (
                    isinstance(row, tuple)
                    and len(row) >= 3
                    and isinstance(row[0], str)
                    and isinstance(row[1], str)
                    and isinstance(row[2], int | bool)
                ):
                    rows.append((row[0], row[1], bool(row[2])))
    return rows


def math_verify_verdicts(cases: list[tuple[str, str, bool]]) -> list[bool]:
    from math_verify import parse, verify

    return [bool(verify(parse(gold), parse(guess))) for gold, guess, _ in cases]


def one_run(cases: list[tuple[str, str, bool]], busy: int) -> list[list[float | None]]:
    """Score every case in a fresh process beside `busy` processes that compute all the time."""
    others = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        done = subprocess.run(
            [sys.executable, "-c", SCORER],
            input=json.dumps([(gold, guess) for gold, guess, _ in cases]),
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        for process in others:
            process.kill()
            process.wait()
    return json.loads(done.stdout)


def main(
    runs: int = typer.Option(2, help="fresh scoring processes, one after the other"),
    busy: int = typer.Option(0, help="processes computing beside each scoring process"),
    pytest_files: list[Path] = typer.Option(None, help="test files whose parametrize rows are the cases"),
    out: Path = typer.Option(None, help="write the raw results here (JSON)"),
) -> None:
    from rlvr.verify.equivalence import MAX_VERIFIED_CHARS

    if pytest_files:
        cases = parametrized_rows(pytest_files)
    else:
        from tests.test_rewards_agreement import AGREEMENT

        cases = list(AGREEMENT)
    reference = math_verify_verdicts(cases)
    results = [one_run(cases, busy) for _ in range(runs)]
    fits = [max(len(gold), len(guess)) <= MAX_VERIFIED_CHARS for gold, guess, _ in cases]
    short = [i for i, fit in enumerate(fits) if fit]
    summary = {"cases": len(cases), "short": len(short), "runs": []}
    for result in results:
        verdicts = [score == 2.0 for score, _, _ in result]
        summary["runs"].append(
            {
                "short_agree_expected": sum(verdicts[i] == cases[i][2] for i in short),
                "short_agree_math_verify": sum(verdicts[i] == reference[i] for i in short),
                "all_agree_expected": sum(v == case[2] for v, case in zip(verdicts, cases, strict=True)),
                "max_call_cpu_s": round(max(cpu for _, cpu, _ in result), 3),
                "max_call_wall_s": round(max(wall for _, _, wall in result), 3),
            }
        )
    first = [score for score, _, _ in results[0]]
    summary["differing_between_runs"] = [
        {"gold": cases[i][0], "guess": cases[i][1], "scores": [r[i][0] for r in results]}
        for i in range(len(cases))
        if any(r[i][0] != first[i] for r in results[1:])
    ]
    summary["made_by"] = {
        "command": " ".join(["python -m benchmarks.reward_verdicts", *sys.argv[1:]]),
        "date": str(date.today()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "busy": busy,
    }
    print(json.dumps(summary, indent=1))
    if out:
        out.write_text(json.dumps({**summary, "raw": results}, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)
