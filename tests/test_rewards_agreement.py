r"""The `accuracy` reward against math-verify's own judgement of answer equivalence.

Each row is a gold and a guess written the way math-verify's published tests write them (LaTeX between
`$`, numbers in plain text, answers inside sentences), with the verdict those tests expect. Every row
is checked twice: math-verify itself, with its default options, must reach the verdict (so the table
cannot drift from the reference), and rlvr's reward must agree with it, the guess being the solution
section of a completion. Golds written as bare LaTeX, the way Open R1 Math writes them, are covered in
test_rewards.py.
"""

from __future__ import annotations

import pytest
from math_verify import parse, verify

from rlvr.verify.rewards import Accuracy

AGREEMENT = [
    # Golds and guesses that bring their own math delimiters, percentages
    (r"$28\%$", r"$28\%$", True),
    (r"$28\%$", "28 percent", True),
    (r"$28\%$", "28 %", True),
    (r"$28\%$", "28", True),
    (r"$28\%$", r"$\boxed{28}$ pct", True),
    (r"$28\%$", "29", False),
    (r"$0.28$", "28", False),
    (r"$20\%$", r"$20\%$", True),
    (r"$20\%$", r"20\%", True),
    (r"$20\%$", "20%", True),
    (r"$20\%$", "0.2", False),
    # Answer sentences with inline math, relations
    (r"$x \geq 5$", r"Therefore $x \geq 5$.", True),
    (r"$x >= 5$", r"Therefore $x \geq 5$ is the solution.", True),
    (r"$x \geq 5$", r"$x > 5$", False),
    (r"$x < 3$", r"We find that $x \lt 3$.", True),
    (r"$x \neq 5$", "The solution is $x != 5$", True),
    # Plain numbers: thousands separators, decimal commas, a sentence's period, currency
    ("1000", "1 000", True),
    ("1000.99", "1000,99", True),
    ("1,22", "1.22", True),
    ("0.4", ".4", True),
    ("7425000", "7,425,000", True),
    ("1000", "1000.0", True),
    ("5", "5.", True),
    ("-5", "-5", True),
    ("42", "The answer is 42", True),
    ("42", "42 apples", True),
    ("1000.99", "$1,000.99", True),
    ("1000.99", "1,000.99€", True),
    ("1000", "100", False),
    ("2", "AZYUK2A", False),
    # Fractions and decimals
    (r"$\frac{3}{4}$", "0.75", True),
    ("0.75", r"$\frac{3}{4}$", True),
    (r"$\frac{3}{4}$", "0.7", False),
    ("10/9", r"\frac{10}{9}", True),
    ("-10/9", r"-\frac{10}{9}", True),
    # Sets and intervals
    (r"$\{1, 2\}$", r"$\{2, 1\}$", True),
    (r"$\{1, 2\}$", r"$\{1, 3\}$", False),
    ("$[0,1)$", "$[0,1)$", True),
    ("$(0,9)$", "$[0,9)$", False),
    (r"$(-\infty, 3]$", r"$(-\infty,3]$", True),
    # Notations: delimiters, \boxed, styling, the last equation, units
    ("$9$", r"Answer \[ 9 \]", True),
    ("$9$", "Answer $ 9 $", True),
    ("$9$", r"Answer \( 9 \)", True),
    ("$1/3$", r"$k = \frac{1}{3}$", True),
    (r"$\sqrt{3}$", r"$\sqrt3 $", True),
    ("$1/3$", r"$\left( \frac{1}{3} \right)$", True),
    ("$1/3$", r"$\frac{1}{3} \text{meters}$", True),
    ("$2-2p$", r"Thus $x-p=\boxed{2-2p}$.", True),
    ("$3$", r"$\boxed{3}$", True),
    (r"$\boxed{3}$", "3", True),
    ("$x=3$", "$3$", True),
    (r"$\text{Evelyn}$", r"$\boxed{\text{Evelyn}}$", True),
    # Expressions and matrices
    ("$x + 1$", "$1 + x$", True),
    ("$x + 1$", "$x + 2$", False),
    (r"$\sqrt{2}$", "$2^{1/2}$", True),
    (
        r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
        r"The identity matrix is $ \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} $.",
        True,
    ),
    (
        r"$\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}$",
        r"$\begin{pmatrix}1 & 0 \\ 0 & 2\end{pmatrix}$",
        False,
    ),
]


@pytest.mark.parametrize(("gold", "guess", "equivalent"), AGREEMENT)
def test_accuracy_agrees_with_math_verify(gold, guess, equivalent):
    assert verify(parse(gold), parse(guess)) is equivalent
    score = Accuracy()([f"<SOLUTION>{guess}</SOLUTION>"], answer=[gold])
    assert score == [2.0 if equivalent else 0.0]
