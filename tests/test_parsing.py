"""Literal cases for the completion readers in rlvr.verify.parsing."""

from __future__ import annotations

import pytest

from rlvr.config.schema import Markers
from rlvr.verify.parsing import as_number, completion_text, first_number, solution_section, without_whitespace

M = Markers()


@pytest.mark.parametrize(
    ("completion", "text"),
    [
        ("plain <SOLUTION>1</SOLUTION>", "plain <SOLUTION>1</SOLUTION>"),
        ("", ""),
        ([{"role": "assistant", "content": "42"}], "42"),
        ([{"role": "assistant", "content": "4"}, {"role": "assistant", "content": "2"}], "42"),
        (
            [
                {"role": "assistant", "content": "calling a tool"},
                {"role": "tool", "content": "<SOLUTION>7</SOLUTION>"},
                {"role": "assistant", "content": "so 42"},
            ],
            "so 42",
        ),
        ([{"role": "user", "content": "question"}], ""),
        ([], ""),
        (None, ""),
        (42, ""),
        (3.5, ""),
        ({"role": "assistant", "content": "42"}, ""),
        ([{"role": "assistant"}], ""),
        ([{"role": "assistant", "content": None}], ""),
        ([{"role": "assistant", "content": [{"type": "text", "text": "42"}]}], ""),
        (["42", None, 7], ""),
        ([{"content": "no role"}], ""),
    ],
)
def test_completion_text(completion, text):
    assert completion_text(completion) == text


@pytest.mark.parametrize(
    ("text", "section"),
    [
        ("<start_working_out>6*7<end_working_out><SOLUTION>42</SOLUTION>", "42"),
        ("<SOLUTION>  42 \n</SOLUTION>", "42"),
        ("<SOLUTION></SOLUTION>", ""),
        ("<SOLUTION>1</SOLUTION> then <SOLUTION>2</SOLUTION>", "2"),
        ("<SOLUTION>1</SOLUTION> then <SOLUTION>2", "1"),
        ("<SOLUTION>1<SOLUTION>2</SOLUTION>", "2"),
        ("<SOLUTION>1</SOLUTION>2</SOLUTION>", "1</SOLUTION>2"),
        ("<SOLUTION>42", None),
        ("42</SOLUTION>", None),
        ("</SOLUTION><SOLUTION>", None),
        ("no markers at all", None),
        ("", None),
    ],
)
def test_solution_section(text, section):
    assert solution_section(text, M) == section


def test_solution_section_uses_the_given_markers():
    custom = Markers(
        reasoning_start="<think>", reasoning_end="</think>", solution_start="[", solution_end="]"
    )
    assert solution_section("<think>x</think>[ 7 ]", custom) == "7"
    assert solution_section("<SOLUTION>7</SOLUTION>", custom) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("42", 42.0),
        ("The answer is 1,234 apples", 1234.0),
        ("1,234,567.5", 1234567.5),
        ("12,34", 12.0),
        ("1,2345", 1.0),
        ("-3", -3.0),
        ("+3", 3.0),
        ("\u22123", -3.0),
        ("x - 3", 3.0),
        ("3-4", 3.0),
        (".5", 0.5),
        ("3.25", 3.25),
        ("3.", 3.0),
        ("1.2.3", 1.2),
        ("3/4", 0.75),
        ("-1/2", -0.5),
        ("1,000/4", 250.0),
        ("3 / 4", 3.0),
        ("2.5e3", 2500.0),
        ("1E-2", 0.01),
        ("2eggs", 2.0),
        ("1e999999", None),
        ("-1e999999", None),
        ("9" * 400, None),
        ("1/0", None),
        ("0/0", None),
        ("1/1e999999", 0.0),
        ("no number", None),
        ("", None),
        ("- . / e", None),
        ("\u0663", None),
        ("first 7 then 8", 7.0),
    ],
)
def test_first_number(text, number):
    assert first_number(text) == number


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("42", 42.0),
        (" 1,234 \n", 1234.0),
        ("-3/4", -0.75),
        ("\u22120.5", -0.5),
        ("42 apples", None),
        ("x+1", None),
        ("\\frac{3}{4}", None),
        ("3.", 3.0),
        ("-1,234.5.", -1234.5),
        ("3..", None),
        ("1e999999", None),
        ("", None),
    ],
)
def test_as_number(text, number):
    assert as_number(text) == number


def test_without_whitespace():
    assert without_whitespace(" 1 /\t2\n\u2003") == "1/2"
