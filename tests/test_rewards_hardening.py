"""Adversarial completions and golds: every reward must answer, with finite scores, and quickly.

A policy under GRPO writes whatever earns reward, so the rewards see noise, huge texts, marker spam,
nested LaTeX, enormous numbers and code. None of it may raise, hang, or be executed.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rlvr.config.schema import Markers
from rlvr.verify.deadline import TICK_S
from rlvr.verify.equivalence import LIMIT_S
from rlvr.verify.parsing import as_number, completion_text, first_number, solution_section, without_whitespace
from rlvr.verify.rewards import REWARDS, Accuracy

M = Markers()
BOUND_S = 2.0  # per call, for every reward but the symbolic one
# The symbolic check is bounded by its time limit instead: its worst case for one completion reads the
# gold, then reads the guess and compares, until cut off after LIMIT_S of CPU time. Random math text
# meets that case now and then (`10101010!`, a factorial). Each call must stay under a second of CPU;
# its wall time, which the other test worker shares, gets this much per completion.
CALL_CPU_BOUND_S = 1.0
TIMED_OUT_BOUND_S = LIMIT_S + 2 * TICK_S + 1.0

# Were any text executed, this file would appear.
SENTINEL = Path(tempfile.gettempdir()) / f"rlvr-hardening-{os.getpid()}"
PAYLOAD = f"__import__('os').system('touch {SENTINEL}')"

FRAGMENTS = [
    *M.as_tuple(),
    "\\frac{",
    "}",
    "{",
    "$",
    "\\boxed{",
    "\\sqrt{",
    "^",
    "1e999999",
    "9**9**9**9",
    "-1,234.5",
    "3/4",
    "/0",
    "\u2212",
    PAYLOAD,
    "eval(input())",
    "\x00",
    "\n",
]
BIG = [
    "x" * 100_000,
    "\U0001f600" * 25_000,
    "".join(M.as_tuple()) * 5_000,
    M.solution_start * 10_000 + "42" + M.solution_end * 10_000,
    M.solution_start + "\\frac{" * 5_000 + "1" + "}" * 5_000 + M.solution_end,
    f"{M.reasoning_start}{'think ' * 16_000}{M.reasoning_end}{M.solution_start}42{M.solution_end}",
    M.solution_start + "9" * 100_000 + M.solution_end,
    M.solution_start + "1," * 50_000 + M.solution_end,
    M.solution_start + "1e" * 50_000 + M.solution_end,
    M.solution_start + PAYLOAD * 2_000 + M.solution_end,
]

MATH_TOKENS = ["\\frac{", "}{", "}", "^{", "\\sqrt{", "(", ")", "[", "]", "\\{", "\\}", ",", ".", "!", "="]
MATH_TOKENS += ["1", "9", "10", "x", "e", "+", "-", "*", "/", "\\infty", "\\pi", "\\cdot", " "]

texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(MATH_TOKENS), max_size=60).map("".join),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map("".join),
    st.sampled_from(BIG),
)
completions = st.one_of(
    texts,
    texts.map(lambda text: f"{M.solution_start}{text}{M.solution_end}"),
    texts.map(lambda text: [{"role": "assistant", "content": text}]),
    st.sampled_from([None, 42, 1e999, [], [{"role": "assistant"}], [None], {"content": "42"}]),
)
golds = st.one_of(st.sampled_from(["42", "0", "-3/4", "\\frac{3}{4}", "1,234", "x + 1", "[1, 2)", ""]), texts)
batches = st.lists(st.tuples(completions, golds), min_size=1, max_size=4)
hardening = settings(
    deadline=None, max_examples=400, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def scored_within(reward, batch, bound_s: float) -> list[float | None]:
    """Call a reward the way TRL does and check the shape, the values and the time of its answer (wall
    time, and under CALL_CPU_BOUND_S of this thread's CPU time per completion)."""
    cpu_started = time.thread_time()
    started = time.perf_counter()
    scores = reward(
        completions=[completion for completion, _ in batch],
        answer=[gold for _, gold in batch],
        prompts=["?"] * len(batch),
        trainer_state=None,
        log_extra=None,
        log_metric=None,
    )
    elapsed = time.perf_counter() - started
    assert elapsed < bound_s, f"{reward.__name__} took {elapsed:.2f} s"
    cpu = time.thread_time() - cpu_started
    assert cpu < CALL_CPU_BOUND_S * len(batch), f"{reward.__name__} took {cpu:.2f} s of CPU"
    assert isinstance(scores, list) and len(scores) == len(batch)
    assert all(score is None or (type(score) is float and math.isfinite(score)) for score in scores)
    assert not SENTINEL.exists()
    return scores


@pytest.mark.parametrize("name", ["match_format_exactly", "match_format_approximately"])
@hardening
@given(batch=batches)
def test_format_rewards_survive(name, batch):
    scores = scored_within(REWARDS[name](), batch, BOUND_S)
    assert None not in scores


@pytest.mark.parametrize("name", ["check_answer", "check_numbers"])
@hardening
@given(batch=batches)
def test_answer_rewards_survive(name, batch):
    scored_within(REWARDS[name](), batch, BOUND_S)


@settings(hardening, max_examples=250)
@given(batch=batches)
def test_accuracy_survives(batch):
    scored_within(Accuracy(), batch, len(batch) * TIMED_OUT_BOUND_S)


@hardening
@given(text=texts)
def test_parsing_survives(text):
    started = time.perf_counter()
    completion_text(text)
    section = solution_section(text, M)
    for number in (first_number(text), as_number(text)):
        assert number is None or math.isfinite(number)
    without_whitespace(text)
    assert section is None or section in text
    assert time.perf_counter() - started < BOUND_S


# A limit's first exception can land in a garbage-collection callback, where Python drops it with a
# warning; rlvr.verify.deadline raises it again (tests/test_deadline.py).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    "guess",
    [
        "9^{9^{9^{9}}}",
        "(x+1)^{1000}",
        "\\frac{1}{" * 20 + "2" + "}" * 20,
        "(" * 60 + "1" + ")" * 60,
        "1000000!",
    ],
)
def test_accuracy_stops_expensive_guesses(guess):
    """Short texts that keep sympy busy for minutes: the time limit must cut them off."""
    scores = scored_within(Accuracy(), [(f"<SOLUTION>{guess}</SOLUTION>", "42")], TIMED_OUT_BOUND_S)
    assert scores == [0.0]


def test_accuracy_stops_expensive_guesses_off_the_main_thread():
    """Off the main thread the limits hold in the helper process (its start-up, importing sympy and
    warming math-verify up, counts too)."""
    batch = [("<SOLUTION>9^{9^{9^{9}}}</SOLUTION>", "42"), ("<SOLUTION>42</SOLUTION>", "42")]
    with ThreadPoolExecutor(max_workers=1) as pool:
        scores = pool.submit(scored_within, Accuracy(), batch, 2 * TIMED_OUT_BOUND_S + 10.0).result()
    assert scores == [0.0, 2.0]


@pytest.mark.parametrize(
    "text",
    ["9^{9^{9^{9}}}", "10^{10^{10}}", "2^{2^{2^{2^{2}}}}", "(x+1)^{1000}", "x^{12345}", "2**9**9",
     "e^{10^{6}}", "100000!", "(" * 30 + "1" + ")" * 30, "\\frac{1}{" * 20 + "2" + "}" * 20, "3^{(2^{3})}"],
)  # fmt: skip
def test_towers_and_huge_powers_are_refused_before_any_symbolic_work(text):
    """What no time limit makes cheap never reaches sympy: as a guess it is wrong, as a gold unverifiable,
    without spending the limit (a GRPO step meets such completions)."""
    from rlvr.verify.equivalence import _parsed_gold, too_costly

    assert too_costly(text)
    started = time.perf_counter()
    assert Accuracy()([f"<SOLUTION>{text}</SOLUTION>"], answer=["42"]) == [0.0]
    assert _parsed_gold(text) == ()
    assert time.perf_counter() - started < LIMIT_S


def test_a_gold_cut_off_once_is_read_again(monkeypatch):
    """A gold whose reading ran out of time is unverifiable for that call only: it used to be cached as
    unverifiable for the rest of the process, so one slow moment dropped a problem from every later group."""
    from rlvr.verify import equivalence

    gold = r"G_m = \sum_{j=1}^{m+2} G_{j} G_{m-j+3}"  # read once nowhere else: tens of ticks to read
    monkeypatch.setattr(equivalence, "LIMIT_S", 0.0)
    assert equivalence.equivalent(gold, gold) is None
    monkeypatch.undo()
    assert equivalence.equivalent(gold, gold) is True
