"""Every score of every reward, on literal completions, called directly and the way TRL calls them."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import rlvr.verify.rewards
from rlvr.config.schema import Markers
from rlvr.data.prompts import target_completion
from rlvr.verify.equivalence import gold_is_verifiable
from rlvr.verify.rewards import (
    REWARDS,
    Accuracy,
    CheckAnswer,
    CheckNumbers,
    MatchFormatApproximately,
    MatchFormatExactly,
    build_rewards,
)

M = Markers()
CUSTOM = Markers(
    reasoning_start="<think>", reasoning_end="</think>", solution_start="<answer>", solution_end="</answer>"
)


def good(answer: str, markers: Markers = M) -> str:
    return target_completion("6 * 7 = 42", answer, markers)


def solution(answer: str) -> str:
    return f"<SOLUTION>{answer}</SOLUTION>"


@pytest.mark.parametrize(
    ("completion", "score"),
    [
        (good("42"), 3.0),
        ("  \n" + good("42") + "\n\n", 3.0),
        ("<start_working_out>r<end_working_out> \n <SOLUTION>42</SOLUTION>", 3.0),
        ("<start_working_out>r<end_working_out><SOLUTION> x + 1 </SOLUTION>", 3.0),
        ("42", 0.0),
        ("", 0.0),
        ("I think " + good("42"), 0.0),
        (good("42") + " and more", 0.0),
        (good("42") + good("42"), 0.0),
        ("<start_working_out>r<end_working_out>so<SOLUTION>42</SOLUTION>", 0.0),
        ("<start_working_out> <end_working_out><SOLUTION>42</SOLUTION>", 0.0),
        ("<start_working_out>r<end_working_out><SOLUTION> </SOLUTION>", 0.0),
        ("<start_working_out>r<end_working_out><SOLUTION>4</SOLUTION>2</SOLUTION>", 0.0),
        ("<start_working_out>r<start_working_out><end_working_out><SOLUTION>42</SOLUTION>", 0.0),
        ("<end_working_out>r<start_working_out><SOLUTION>42</SOLUTION>", 0.0),
        ("<start_working_out>r<SOLUTION><end_working_out>42</SOLUTION>", 0.0),
        ("<start_working_out>r<end_working_out></SOLUTION>42<SOLUTION>", 0.0),
        ("<start_working_out>r<end_working_out><SOLUTION>42", 0.0),
    ],
)
def test_match_format_exactly(completion, score):
    assert MatchFormatExactly()([completion]) == [score]


@pytest.mark.parametrize(
    ("completion", "score"),
    [
        (good("42"), 2.0),
        ("junk <SOLUTION> <end_working_out> </SOLUTION> <start_working_out>", 2.0),
        ("no markers", -4.0),
        ("", -4.0),
        ("<start_working_out>r<end_working_out><SOLUTION>42", 0.5),
        (good("42") + good("42"), -4.0),
        ("<start_working_out>r<end_working_out><end_working_out><SOLUTION>42</SOLUTION>", 0.5),
        ("<start_working_out>r", -2.5),
    ],
)
def test_match_format_approximately(completion, score):
    assert MatchFormatApproximately()([completion]) == [score]


@pytest.mark.parametrize(
    ("answer", "gold", "score"),
    [
        ("42", "42", 5.0),
        ("42", " 42\n", 5.0),
        ("x + 1", "x + 1", 5.0),
        ("4 2", "42", 3.5),
        ("x+1", "x + 1", 3.5),
        ("\\frac{3}{4}", "\\frac{3} {4}", 3.5),
        ("44", "42", 2.0),
        ("42.0", "42", 2.0),
        ("1,050", "1,000", 2.0),
        ("-44", "-42", 2.0),
        ("110", "100", 2.0),
        ("50", "42", 1.5),
        ("-50", "-42", 1.5),
        ("3/4", "0.65", 1.5),
        ("7", "42", -2.5),
        ("-42", "42", -2.5),
        ("42 apples", "42", -2.5),
        ("0.0", "0", 2.0),
        ("0.001", "0", -2.5),
        ("1", "0", -2.5),
        ("x + 2", "x + 1", -2.5),
        ("1e999999", "1e999999", 5.0),
        ("1e999999", "1e99999", -2.5),
        ("", "42", -2.5),
        ("5.", "5", 2.0),
        ("5", "5.", 2.0),
        ("The answer is 5.", "5", -2.5),
    ],
)
def test_check_answer(answer, gold, score):
    assert CheckAnswer()([solution(answer)], answer=[gold]) == [score]


def test_check_answer_without_a_solution_section():
    assert CheckAnswer()(["42", "<SOLUTION>42"], answer=["42", "42"]) == [0.0, 0.0]


@pytest.mark.parametrize(
    ("completion", "gold", "score"),
    [
        (solution("42"), "42", 3.5),
        (solution("The answer is 1,234 apples."), "1234", 3.5),
        (solution("0.75"), "3/4", 3.5),
        (solution("-3/4"), "-0.75", 3.5),
        (solution("\u22122"), "-2", 3.5),
        (solution("0"), "0", 3.5),
        (solution("42.00000000001"), "42", 3.5),
        (solution("42.0001"), "42", -1.5),
        (solution("-42"), "42", -1.5),
        (solution("7 or 42"), "42", -1.5),
        (solution("1e999999"), "42", 0.0),
        (solution("no number"), "42", 0.0),
        (solution(""), "42", 0.0),
        ("42", "42", 0.0),
        ("<SOLUTION>42", "42", 0.0),
        (solution("1"), "x + 1", None),
        (solution("3"), "\\frac{3}{4}", None),
        ("42", "forty-two", None),
        (solution("42"), "", None),
        (solution("5."), "5", 3.5),
        (solution("5"), "5.", 3.5),
    ],
)
def test_check_numbers(completion, gold, score):
    assert CheckNumbers()([completion], answer=[gold]) == [score]


@pytest.mark.parametrize(
    ("completion", "gold", "score"),
    [
        (solution("42"), "42", 2.0),
        (solution("42.0"), "42", 2.0),
        (solution("0.75"), "\\frac{3}{4}", 2.0),
        (solution("\\frac{3}{4}"), "0.75", 2.0),
        (solution("\\dfrac34"), "3/4", 2.0),
        (solution("\\{2, 1\\}"), "\\{1, 2\\}", 2.0),
        (solution("[1, 2)"), "[1,2)", 2.0),
        (solution("(-\\infty, 3]"), "(-\\infty,3]", 2.0),
        (solution("1 + x"), "x + 1", 2.0),
        (solution("\\sqrt{2}"), "2^{1/2}", 2.0),
        (solution("\\boxed{42}"), "42", 2.0),
        (solution("43"), "42", 0.0),
        (solution("(1, 2)"), "[1, 2)", 0.0),
        (solution("x + 2"), "x + 1", 0.0),
        (solution(""), "42", 0.0),
        (solution("42" + " " * 300), "42", 2.0),
        (solution("4" * 301), "4" * 301, None),
        (solution("(" * 150 + "42" + ")" * 150), "42", 0.0),
        ("42", "42", 0.0),
        (solution("42"), "", None),
        (solution("42"), "\\frac{", None),
        (solution("42"), "...", None),
        # Texts that bring their own math delimiters are read as math-verify reads free text
        (solution("$20\\%$"), "20\\%", 2.0),
        (solution("20\\%"), "20\\%", 2.0),
        (solution("20%"), "20\\%", 2.0),
        (solution("$28\\%$"), "$28\\%$", 2.0),
        (solution("Therefore $x \\geq 5$."), "x \\geq 5", 2.0),
        (solution("Therefore $x \\geq 6$."), "x \\geq 5", 0.0),
        # Plain numbers in math-verify's notation, a sentence's period, prose around a number
        (solution("1 000"), "1000", 2.0),
        (solution("1000,99"), "1000.99", 2.0),
        (solution("5."), "5", 2.0),
        (solution("The answer is 42"), "42", 2.0),
        # A list is not read as its last number, nor a bare formula for its number
        (solution("2, 1"), "1, 2", 2.0),
        (solution("1"), "1, 2", 0.0),
        (solution("x + 1"), "1", 0.0),
    ],
)
def test_accuracy(completion, gold, score):
    assert Accuracy()([completion], answer=[gold]) == [score]


@pytest.mark.parametrize(
    ("gold", "verifiable"),
    [
        ("42", True),
        ("\\frac{3}{4}", True),
        ("[1, 2)", True),
        ("$28\\%$", True),
        ("1 000", True),
        ("5.", True),
        ("2xy", True),
        ("15 \\text{ minutes}", True),
        ("", False),
        ("\\frac{", False),
        ("?", False),
        # Word answers: math-verify would read `seven` as a product of symbols and `5 apples` as 5
        ("seven", False),
        ("yes", False),
        ("N/A", False),
        ("5 apples", False),
    ],
)
def test_gold_is_verifiable(gold, verifiable):
    assert gold_is_verifiable(gold) is verifiable


def test_gold_over_the_length_cap_is_not_verifiable():
    assert gold_is_verifiable("1" * 300) is True
    assert gold_is_verifiable("1" * 301) is False


def test_accuracy_off_the_main_thread():
    """math-verify's signal timeouts fail off the main thread; the reward must still score."""
    completions = [solution("\\frac{3}{4}"), solution("1"), "no section"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        scores = pool.submit(Accuracy(), completions, answer=["0.75", "0.75", "0.75"]).result()
        verifiable = pool.submit(gold_is_verifiable, "").result()
    assert scores == [2.0, 0.0, 0.0]
    assert verifiable is False


@pytest.mark.parametrize("reward", [MatchFormatExactly, MatchFormatApproximately])
def test_format_rewards_read_conversational_completions(reward):
    plain = [good("42"), "42"]
    conversational = [[{"role": "assistant", "content": text}] for text in plain]
    assert reward()(conversational) == reward()(plain)


@pytest.mark.parametrize(
    ("reward", "scores"),
    [(CheckAnswer, [5.0, 0.0, 0.0]), (CheckNumbers, [3.5, 0.0, 0.0]), (Accuracy, [2.0, 0.0, 0.0])],
)
def test_answer_rewards_read_conversational_completions(reward, scores):
    completions = [
        [{"role": "assistant", "content": good("42")}],
        [{"role": "user", "content": good("42")}],
        None,
    ]
    assert reward()(completions, answer=["42"] * 3) == scores


@pytest.mark.parametrize(
    ("reward", "score"),
    [
        (MatchFormatExactly, 3.0),
        (MatchFormatApproximately, 2.0),
        (CheckAnswer, 5.0),
        (CheckNumbers, 3.5),
        (Accuracy, 2.0),
    ],
)
def test_custom_markers(reward, score):
    custom_completion = good("42", CUSTOM)
    assert custom_completion == "<think>6 * 7 = 42</think><answer>42</answer>"
    assert reward(CUSTOM)([custom_completion], answer=["42"]) == [score]
    assert reward(CUSTOM)([good("42")], answer=["42"]) != [score]


@pytest.mark.parametrize(
    ("name", "scores"),
    [
        ("match_format_exactly", [3.0, 0.0]),
        ("match_format_approximately", [2.0, -4.0]),
        ("check_answer", [5.0, 0.0]),
        ("check_numbers", [3.5, 0.0]),
        ("accuracy", [2.0, 0.0]),
    ],
)
def test_trl_style_call(name, scores):
    """GRPOTrainer passes prompts, completion ids, every dataset column and its own callbacks by keyword."""
    logged = []
    reward = build_rewards([name], M)[0]
    result = reward(
        prompts=[[{"role": "user", "content": "6 * 7?"}]] * 2,
        completions=[
            [{"role": "assistant", "content": good("42")}],
            [{"role": "assistant", "content": "42"}],
        ],
        completion_ids=[[1, 2], [3]],
        answer=["42", "42"],
        problem=["6 * 7?", "6 * 7?"],
        trainer_state=None,
        log_extra=lambda column, values: logged.append(column),
        log_metric=lambda metric, value: logged.append(metric),
    )
    assert result == scores
    assert reward.__name__ == name
    assert logged == []


def test_answer_rewards_need_one_gold_per_completion():
    with pytest.raises(ValueError):
        CheckAnswer()([solution("1"), solution("2")], answer=["1"])


def test_rewards_registry():
    assert list(REWARDS) == [
        "match_format_exactly",
        "match_format_approximately",
        "check_answer",
        "check_numbers",
        "accuracy",
        "task_score",
    ]
    for name, reward in REWARDS.items():
        assert reward().__name__ == name
        assert reward().markers == M


def test_build_rewards_keeps_order_and_markers():
    rewards = build_rewards(["accuracy", "match_format_exactly"], CUSTOM)
    assert [type(r) for r in rewards] == [Accuracy, MatchFormatExactly]
    assert all(r.markers == CUSTOM for r in rewards)
    assert build_rewards([], M) == []


@pytest.mark.parametrize("name", list(REWARDS))
def test_rewards_pickle(name):
    """TRL may hand reward functions to a spawned worker process."""
    reward = pickle.loads(pickle.dumps(build_rewards([name], CUSTOM)[0]))
    assert reward.__name__ == name
    assert reward.markers == CUSTOM


def test_score_constants():
    r = rlvr.verify.rewards
    assert (r.FORMAT_EXACT, r.MARKER_ONCE, r.MARKER_MISSING_OR_REPEATED) == (3.0, 0.5, -1.0)
    assert (r.ANSWER_EXACT, r.ANSWER_EXACT_IGNORING_WHITESPACE) == (5.0, 3.5)
    assert (r.ANSWER_WITHIN_10_PERCENT, r.ANSWER_WITHIN_20_PERCENT, r.ANSWER_WRONG) == (2.0, 1.5, -2.5)
    assert (r.NUMBER_EQUAL, r.NUMBER_DIFFERENT, r.ACCURATE, r.NO_SCORE) == (3.5, -1.5, 2.0, 0.0)


def test_docs_list_every_reward():
    docs = (Path(__file__).parents[1] / "docs" / "rewards.md").read_text(encoding="utf-8")
    for name in REWARDS:
        assert f"`{name}`" in docs
