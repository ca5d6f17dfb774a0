import random

from hypothesis import given
from hypothesis import strategies as st

from rlvr.config.schema import Markers
from rlvr.data.examples import to_grpo_example, to_sft_example
from rlvr.data.prepare import DROP_REASONS, Prepared, clean_rows, dedupe, is_heldout, normalise, prepare_rows
from rlvr.data.problems import PROBLEM_LEVELS, make_problems
from rlvr.data.prompts import chat_prompt

MARKERS = Markers()
WIDE_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


def prepare(rows, fraction=0.1, salt="s", **overrides) -> Prepared:
    checks = {"is_verifiable": lambda answer: True, "prompt_tokens": len, "max_prompt_tokens": 1000}
    return prepare_rows(rows, heldout_fraction=fraction, salt=salt, **{**checks, **overrides})


def test_clean_rows_counts_each_drop_reason():
    rows = [
        {"problem": " What is 1 + 1? ", "answer": " 2 ", "solution": " 1 + 1 = 2 ", "source": "x"},
        {"problem": "What is 2 + 2?", "answer": "4"},
        {"problem": "What is 3 + 3?", "answer": "6", "solution": None},
        ["What is 1 + 1?", "2"],
        "What is 1 + 1?",
        {"problem": "", "answer": "2"},
        {"problem": "  \n", "answer": "2"},
        {"answer": "2"},
        {"problem": "What is 1 + 1?", "answer": ""},
        {"problem": "What is 1 + 1?"},
        {"problem": "What is 1 + 1?", "answer": ["2"]},
        {"problem": "What is 1 + 1?", "answer": True},
        {"problem": "What is 1 + 1?", "answer": "2", "solution": 3},
        {"problem": 7, "answer": "2"},
        {"problem": "What is 4 + 4?", "answer": 8},
        {"problem": "What is 0 * 4?", "answer": 0},
        {"problem": "What is 1 / 4?", "answer": 0.25},
    ]
    kept, drops = clean_rows(rows)
    assert kept == [
        {"problem": "What is 1 + 1?", "answer": "2", "solution": "1 + 1 = 2"},
        {"problem": "What is 2 + 2?", "answer": "4", "solution": ""},
        {"problem": "What is 3 + 3?", "answer": "6", "solution": ""},
        {"problem": "What is 4 + 4?", "answer": "8", "solution": ""},
        {"problem": "What is 0 * 4?", "answer": "0", "solution": ""},
        {"problem": "What is 1 / 4?", "answer": "0.25", "solution": ""},
    ]
    assert drops == {"not_a_mapping": 2, "empty_problem": 3, "missing_answer": 2, "non_string_field": 4}


def test_prepare_rows_counts_every_reason():
    rows = [
        {"problem": "What is 1 + 1?", "answer": "2"},
        {"problem": "what is  1 + 1?", "answer": "2"},
        {"problem": "What is ONE plus one?", "answer": "two"},
        {"problem": "What is 1 + 1? " + "Think hard. " * 20, "answer": "2"},
        {"problem": "", "answer": "2"},
        None,
    ]
    prepared = prepare(rows, fraction=0.0, is_verifiable=str.isdigit, max_prompt_tokens=100)
    assert prepared.train == [{"problem": "What is 1 + 1?", "answer": "2", "solution": ""}]
    assert prepared.heldout == []
    assert prepared.drops == {
        "not_a_mapping": 1,
        "non_string_field": 0,
        "empty_problem": 1,
        "missing_answer": 0,
        "duplicate": 1,
        "unverifiable_answer": 1,
        "prompt_too_long": 1,
    }
    assert list(prepared.drops) == list(DROP_REASONS)
    assert prepared.counts == {"input": 6, "dropped": 5, "train": 1, "heldout": 0}


def test_normalise_folds_case_space_and_unicode_forms():
    assert normalise("  What IS\t2 +\n 2? ") == "what is 2 + 2?"
    assert normalise("Ｗhat is ２＋２?") == "what is 2+2?"  # full-width letters and digits
    assert normalise("Straße") == normalise("STRASSE")
    assert normalise("x\u00a0=\u20031") == "x = 1"  # no-break and em spaces
    assert normalise("2 + 2") != normalise("2+2")


def test_invisible_and_right_to_left_variants_are_one_problem_on_one_side_of_the_split():
    """Copies of one problem that differ only in a zero-width space, a right-to-left override, a
    left-to-right mark with a BOM, or a soft hyphen: one problem, so one row, whatever the split."""
    copies = ["What is 2 + 3?", "What is 2\u200b + 3?", "What is \u202e2 + 3\u202c?"]
    copies += ["\ufeffWhat\u200e is 2 + 3?", "Wh\u00adat is 2 + 3?"]
    rows = [{"problem": p, "answer": "5"} for p in copies]
    for salt in "abcdefgh":
        prepared = prepare(rows, fraction=0.5, salt=salt)
        assert len(prepared.train) + len(prepared.heldout) == 1 and prepared.drops["duplicate"] == 4


def test_dedupe_keeps_the_first_copy():
    rows = [{"problem": "A b"}, {"problem": "a  B", "n": 2}, {"problem": "c"}, {"problem": " A B "}]
    assert dedupe(rows) == ([{"problem": "A b"}, {"problem": "c"}], 2)


def test_is_heldout_depends_on_the_normalised_problem_and_the_salt():
    problems = [row["problem"] for row in make_problems(400, seed=3, levels=PROBLEM_LEVELS)]
    chosen = [p for p in problems if is_heldout(p, 0.5, "a")]
    assert chosen == [p for p in problems if is_heldout(f"  {p.upper()} ", 0.5, "a")]
    assert chosen != [p for p in problems if is_heldout(p, 0.5, "b")]
    assert not any(is_heldout(p, 0.0, "a") for p in problems)
    assert all(is_heldout(p, 1.0, "a") for p in problems)


def test_the_split_does_not_depend_on_row_order():
    rows = make_problems(500, seed=5, levels=PROBLEM_LEVELS)
    shuffled = rows[:]
    random.Random(0).shuffle(shuffled)
    first, second = prepare(rows, fraction=0.3), prepare(shuffled, fraction=0.3)

    def problems(selected):
        return sorted(row["problem"] for row in selected)

    assert problems(first.train) == problems(second.train)
    assert problems(first.heldout) == problems(second.heldout)


def test_the_heldout_fraction_is_roughly_respected():
    prepared = prepare(make_problems(2000, seed=11, levels=PROBLEM_LEVELS), fraction=0.1)
    share = len(prepared.heldout) / (len(prepared.train) + len(prepared.heldout))
    assert 0.05 <= share <= 0.15


FORMAT_CHARACTERS = st.characters(categories=["Cf"])


def variant(draw, problem: str) -> str:
    """A copy of problem that differs only in case, spacing, full-width digits and invisible format
    characters (zero-width, bidi controls, ...) inserted anywhere."""
    cased = "".join(c.upper() if draw(st.booleans()) else c.lower() for c in problem)
    spaced = cased.replace(" ", draw(st.sampled_from([" ", "  ", "\t", " \n "])))
    wide = spaced.translate(WIDE_DIGITS) if draw(st.booleans()) else spaced
    invisible = "".join(c + "".join(draw(st.lists(FORMAT_CHARACTERS, max_size=2))) for c in wide)
    return draw(st.sampled_from(["", " ", "\n", "\u200f"])) + invisible


@st.composite
def near_duplicates(draw) -> list[tuple[str, dict]]:
    """Rows of a few distinct problems (lower-case words, single spaces), each in copies and variants;
    each row with the problem it is a copy of."""
    words = st.text(alphabet="abcxyz0123", min_size=1, max_size=4)
    bases = draw(st.lists(st.lists(words, min_size=1, max_size=4).map(" ".join), min_size=1, max_size=15))
    picks = draw(st.lists(st.sampled_from(bases), max_size=40))
    return [(problem, {"problem": variant(draw, problem), "answer": "1"}) for problem in bases + picks]


@given(rows=near_duplicates(), salt=st.text(max_size=5))
def test_variants_of_a_problem_are_never_distinct_problems(rows, salt):
    """Judged by which problem each row copies, not by `normalise`: one row per problem survives, so no
    problem sits in both sets."""
    original = {row["problem"].strip(): problem for problem, row in rows}
    prepared = prepare([row for _, row in rows], fraction=0.5, salt=salt)
    kept = [original[row["problem"]] for row in prepared.train + prepared.heldout]
    assert sorted(kept) == sorted({problem for problem, _ in rows})


@given(text=st.text(max_size=30), data=st.data())
def test_inserting_format_characters_never_makes_a_new_problem(text, data):
    inserted = "".join(c + "".join(data.draw(st.lists(FORMAT_CHARACTERS, max_size=3))) for c in text)
    inserted = "".join(data.draw(st.lists(FORMAT_CHARACTERS, max_size=3))) + inserted
    assert normalise(inserted) == normalise(text)
    assert is_heldout(inserted, 0.5, "s") == is_heldout(text, 0.5, "s")


def test_grpo_example_carries_the_prompt_answer_and_problem():
    row = {"problem": "What is 6 * 7?", "answer": "42", "solution": ""}
    assert to_grpo_example(row, MARKERS) == {
        "prompt": chat_prompt("What is 6 * 7?", MARKERS),
        "answer": "42",
        "problem": "What is 6 * 7?",
    }


def test_sft_example_is_a_conversational_prompt_completion():
    row = {"problem": "What is 6 * 7?", "answer": "42", "solution": "6 * 7 = 42"}
    assert to_sft_example(row, MARKERS) == {
        "prompt": chat_prompt("What is 6 * 7?", MARKERS),
        "completion": [
            {
                "role": "assistant",
                "content": "<start_working_out>6 * 7 = 42<end_working_out><SOLUTION>42</SOLUTION>",
            }
        ],
    }
    assert to_sft_example({**row, "solution": ""}, MARKERS) is None
