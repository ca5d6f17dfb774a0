"""Graded math problems with exact answers and short worked solutions, made offline from a seed.

They give the pipeline data that needs no download, in difficulty levels for a small model: level 1 is
one short step ("What is 47 + 38?" / "47 + 38 = 85"), levels 2 and 3 add steps and bigger numbers. Every
row has Open R1 Math's columns (`problem`, `answer`, `solution`) plus `problem_type` (the kind) and
`level`. Answers are strings: an integer, or a reduced fraction such as "3/4" (`str(Fraction)`).

The output depends on the seed alone: all randomness comes from one `random.Random(seed)`, drawn in a
fixed order, so the rows are the same bit for bit in every process (nothing uses `hash()`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from fractions import Fraction
from math import gcd, lcm

from rlvr.config.schema import PROBLEM_KINDS, PROBLEM_LEVELS

# A drawn problem that repeats an earlier one is drawn again, up to this many times; after that the repeat
# is kept, so `generate` always returns `count` rows. Most (kind, level) pairs hold millions of problems;
# the smallest, level-1 percent and fraction, hold about 1,000 and 2,500, so past that many rows of one
# pair repeats appear (and `data.dedupe` drops them downstream).
MAX_TRIES = 20

NAMES = ("Ann", "Ben", "Carla", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jun", "Kofi", "Lena")
# (item, container) pairs for the word problems: "3 bags of 5 apples each".
ITEMS = (
    ("apples", "bags"),
    ("pencils", "boxes"),
    ("stickers", "packs"),
    ("marbles", "jars"),
    ("cookies", "tins"),
    ("eggs", "cartons"),
    ("cards", "decks"),
    ("books", "crates"),
)
PRICED = ("bike", "jacket", "lamp", "ticket", "watch", "chair", "tent", "guitar")

# A maker returns (problem, solution steps, answer) for a level.
Made = tuple[str, list[str], str]


def make_problems(
    count: int, seed: int, levels: Sequence[int], kinds: Sequence[str] | None = None
) -> list[dict]:
    """`count` problems, cycling through every (kind, level) pair in order so the mix is even; a problem
    drawn before is drawn again (see MAX_TRIES)."""
    kinds = PROBLEM_KINDS if kinds is None else tuple(kinds)
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if not levels or any(level not in PROBLEM_LEVELS for level in levels):
        raise ValueError(f"levels must be a non-empty selection of {PROBLEM_LEVELS}, got {list(levels)}")
    if not kinds or any(kind not in PROBLEM_KINDS for kind in kinds):
        raise ValueError(f"kinds must be a non-empty selection of {PROBLEM_KINDS}, got {list(kinds)}")

    rng = random.Random(seed)
    pairs = [(kind, level) for kind in kinds for level in levels]
    rows: list[dict] = []
    seen: set[str] = set()
    for i in range(count):
        kind, level = pairs[i % len(pairs)]
        for _ in range(MAX_TRIES):
            problem, steps, answer = MAKERS[kind](rng, level)
            if problem not in seen:
                break
        seen.add(problem)
        rows.append(
            {
                "problem": problem,
                "answer": answer,
                "solution": "\n".join(steps),
                "problem_type": kind,
                "level": level,
            }
        )
    return rows


def _arithmetic(rng: random.Random, level: int) -> Made:
    """1: two 2-digit numbers, + or -; 2: three numbers up to 3 digits, + and -; 3: a product plus or
    minus a 3-digit number (products first)."""
    if level == 1:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if rng.random() < 0.5:
            return f"What is {a} + {b}?", [f"{a} + {b} = {a + b}"], str(a + b)
        a, b = max(a, b), min(a, b)  # a non-negative difference at the easiest level
        return f"What is {a} - {b}?", [f"{a} - {b} = {a - b}"], str(a - b)
    if level == 2:
        terms = [rng.randint(10, 999) for _ in range(3)]
        signs = [rng.choice("+-") for _ in range(2)]
        steps, total = [], terms[0]
        for sign, term in zip(signs, terms[1:], strict=True):
            new = total + term if sign == "+" else total - term
            steps.append(f"{total} {sign} {term} = {new}")
            total = new
        expr = f"{terms[0]} {signs[0]} {terms[1]} {signs[1]} {terms[2]}"
        return f"What is {expr}?", steps, str(total)
    a, b, c = rng.randint(10, 99), rng.randint(2, 99), rng.randint(100, 999)
    sign = rng.choice("+-")
    product = a * b
    total = product + c if sign == "+" else product - c
    steps = [f"{a} * {b} = {product}", f"{product} {sign} {c} = {total}"]
    return f"What is {a} * {b} {sign} {c}?", steps, str(total)


def _word(rng: random.Random, level: int) -> Made:
    """1: one purchase or gift; 2: buying several bags of a size; 3: buying, giving some away, then
    sharing the rest equally (numbers chosen backwards from the answer so the share is whole)."""
    name = rng.choice(NAMES)
    item, container = rng.choice(ITEMS)
    now = f"How many {item} does {name} have now?"
    if level == 1:
        start, change = rng.randint(5, 40), rng.randint(2, 20)
        if rng.random() < 0.5:
            problem = f"{name} has {start} {item} and buys {change} more. {now}"
            return problem, [f"{start} + {change} = {start + change}"], str(start + change)
        start += change  # never give away more than there is
        problem = f"{name} has {start} {item} and gives away {change}. {now}"
        return problem, [f"{start} - {change} = {start - change}"], str(start - change)
    bags, per = rng.randint(2, 9), rng.randint(2, 12)
    bought = bags * per
    if level == 2:
        start = rng.randint(3, 60)
        problem = f"{name} has {start} {item} and buys {bags} {container} of {per} {item} each. {now}"
        steps = [f"{bags} * {per} = {bought}", f"{start} + {bought} = {start + bought}"]
        return problem, steps, str(start + bought)
    friends, given = rng.randint(2, 6), rng.randint(1, 9)
    fewest = -(-(bought + 2) // friends)  # the smallest share that leaves `start` at least 2 + given
    each = rng.randint(fewest, fewest + 8)
    left = each * friends
    start = left + given - bought
    problem = (
        f"{name} has {start} {item}, buys {bags} {container} of {per} {item} each, and gives {given} to a "
        f"neighbour. {name} shares the rest equally among {friends} friends. How many {item} does each "
        "friend get?"
    )
    steps = [
        f"{bags} * {per} = {bought}",
        f"{start} + {bought} = {start + bought}",
        f"{start + bought} - {given} = {left}",
        f"{left} / {friends} = {each}",
    ]
    return problem, steps, str(each)


def _fraction(rng: random.Random, level: int) -> Made:
    """1: add two fractions with the same denominator; 2: add or subtract with different denominators;
    3: multiply two fractions, then add or subtract a third."""
    if level == 1:
        d = rng.randint(3, 20)
        a, b = rng.randint(1, d - 1), rng.randint(1, d - 1)
        step = f"{a}/{d} + {b}/{d} = {a + b}/{d}{_reduced(a + b, d)}"
        return f"What is {a}/{d} + {b}/{d}?", [step], str(Fraction(a + b, d))
    if level == 2:
        x, y, sign = _proper(rng, 9), _proper(rng, 9), rng.choice("+-")
        step, result = _add_step(x, sign, y)
        return f"What is {x[0]}/{x[1]} {sign} {y[0]}/{y[1]}?", [step], str(result)
    x, y, z, sign = _proper(rng, 9), _proper(rng, 9), _proper(rng, 9), rng.choice("+-")
    num, den = x[0] * y[0], x[1] * y[1]
    product = Fraction(num, den)
    multiply = f"{x[0]}/{x[1]} * {y[0]}/{y[1]} = {num}/{den}{_reduced(num, den)}"
    add, result = _add_step((product.numerator, product.denominator), sign, z)
    problem = f"What is {x[0]}/{x[1]} * {y[0]}/{y[1]} {sign} {z[0]}/{z[1]}?"
    return problem, [multiply, add], str(result)


def _proper(rng: random.Random, max_den: int) -> tuple[int, int]:
    """A proper fraction (numerator, denominator) with denominator 2..max_den, not necessarily reduced."""
    d = rng.randint(2, max_den)
    return rng.randint(1, d - 1), d


def _add_step(x: tuple[int, int], sign: str, y: tuple[int, int]) -> tuple[str, Fraction]:
    """'x ± y' over the common denominator: '1/2 + 1/3 = 3/6 + 2/6 = 5/6', and its value."""
    den = lcm(x[1], y[1])
    a, b = x[0] * den // x[1], y[0] * den // y[1]
    num = a + b if sign == "+" else a - b
    given = f"{x[0]}/{x[1]} {sign} {y[0]}/{y[1]}"
    return f"{given} = {a}/{den} {sign} {b}/{den} = {num}/{den}{_reduced(num, den)}", Fraction(num, den)


def _reduced(num: int, den: int) -> str:
    """' = <lowest terms>' when num/den is not already in lowest terms, else ''."""
    value = Fraction(num, den)
    return "" if value.denominator == den else f" = {value}"


def _percent(rng: random.Random, level: int) -> Made:
    """1: 10, 20, 25 or 50 percent of a number; 2: any multiple of 5 percent; 3: a price raised or cut by
    a percentage. The number is a multiple of 100 / gcd(p, 100), so every result is whole."""
    if level == 1:
        p = rng.choice((10, 20, 25, 50))
        n = _whole_base(rng, p, 1000)
        return f"What is {p}% of {n}?", [f"{p}% of {n} = {n} * {p} / 100 = {n * p // 100}"], str(n * p // 100)
    p = rng.randrange(5, 100, 5)
    n = _whole_base(rng, p, 1000)
    part = n * p // 100
    of = f"{p}% of {n} = {n} * {p} / 100 = {n * p} / 100 = {part}"
    if level == 2:
        return f"What is {p}% of {n}?", [of], str(part)
    thing = rng.choice(PRICED)
    if rng.random() < 0.5:
        problem = f"A {thing} costs {n} dollars. Its price goes up by {p}%. What is the new price in dollars?"
        return problem, [of, f"{n} + {part} = {n + part}"], str(n + part)
    problem = f"A {thing} costs {n} dollars. Its price is cut by {p}%. What is the new price in dollars?"
    return problem, [of, f"{n} - {part} = {n - part}"], str(n - part)


def _whole_base(rng: random.Random, p: int, limit: int) -> int:
    """A number up to `limit` of which p% is whole."""
    step = 100 // gcd(p, 100)
    return step * rng.randint(1, limit // step)


def _linear(rng: random.Random, level: int) -> Made:
    """1: x + b = c; 2: a*x ± b = c; 3: x on both sides, a*x + b = d*x + e. x is chosen first, so it is
    always an integer (positive at levels 1 and 2)."""
    if level == 1:
        x, b = rng.randint(1, 50), rng.randint(1, 50)
        return f"Solve for x: x + {b} = {x + b}", [f"x = {x + b} - {b} = {x}"], str(x)
    if level == 2:
        a, x, b = rng.randint(2, 9), rng.randint(1, 20), rng.randint(1, 30)
        sign = rng.choice("+-")
        c = a * x + b if sign == "+" else a * x - b
        undo = "-" if sign == "+" else "+"
        steps = [f"{a}x = {c} {undo} {b} = {a * x}", f"x = {a * x} / {a} = {x}"]
        return f"Solve for x: {a}x {sign} {b} = {c}", steps, str(x)
    d = rng.randint(2, 8)
    a, x = d + rng.randint(2, 6), rng.randint(-12, 12)
    b = rng.randint(1, 20) * rng.choice((1, -1))
    e = (a - d) * x + b
    problem = f"Solve for x: {a}x {_signed(b)} = {d}x {_signed(e)}"
    steps = [
        f"{a}x - {d}x = {e} {_signed(-b)}",
        f"{a - d}x = {e - b}",
        f"x = {e - b} / {a - d} = {x}",
    ]
    return problem, steps, str(x)


def _signed(n: int) -> str:
    """'+ 5' or '- 5', for the constant term of an equation."""
    return f"+ {n}" if n >= 0 else f"- {-n}"


MAKERS: dict[str, Callable[[random.Random, int], Made]] = {
    "arithmetic": _arithmetic,
    "word": _word,
    "fraction": _fraction,
    "percent": _percent,
    "linear": _linear,
}
