"""Intermediate steps of a solution: find the equalities it states and check them with sympy.

A chain `a = b = c` in a math segment ($...$, \\(...\\), \\[...\\], $$...$$) states the
equalities a = b and b = c. Which of them are claims that can be checked:

- both sides are numbers (`3 \\cdot 4 = 12`): checked exactly, or to the rounding of a
  decimal written on one side (`\\pi r^2 = 28.27`);
- both sides have variables and the pair is not the first of its chain (`y = (x+1)^2 =
  x^2 + 2x + 1`: the second `=` claims an identity): checked at fixed sample points. The
  first `=` of a chain with variables is an equation to solve, not a claim, and is skipped.

Plain-text arithmetic outside math segments (`3 * 4 = 12`) is checked too; it is matched
by a pattern of digits and operators only, so nothing but arithmetic reaches the parser.
Relations that are not equalities (`\\approx`, `<`, `\\neq`) are never checked. Like
`equivalence`, these checks are not time-bounded by themselves; run them through the
checker.
"""

from __future__ import annotations

import cmath
import re
from typing import Literal

import sympy
from latex2sympy2_extended import latex2sympy
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import parse_expr

from synth.records import StepCheck

StepStatus = Literal["ok", "wrong"]  # StepCheck.status

_MATH_SEGMENT = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\\\((.+?)\\\)|\$(.+?)\$", re.DOTALL)
_NOT_EQUALITY = re.compile(
    r"\\approx|\\sim|\\neq|\\ne\b|\\le|\\ge|<|>|\\pm|\\mp|\\Rightarrow|\\implies|\\to|\\equiv|\\pmod|\\mod|\\quad|\\text|\\boxed|\\cdots|\\ldots|\\dots|\\sum|\\int|\\lim|\\prod|!"
)
_PLAIN_ARITHMETIC = re.compile(
    r"(?<![\w.^])(\d[\d.\s+\-*/×÷^()]*?[+\-*/×÷^][\d.\s+\-*/×÷^()]*?)\s*=\s*(-?\d+(?:\.\d+)?)(?![\w.(^*/])"
)
_DECIMAL_SIDE = re.compile(r"^\s*-?\d+\.(\d+)\s*$")
_SAMPLE_POINTS = (0.7316, 1.9183, -2.4471)
_MAX_STEPS = 40


def stated_equalities(text: str) -> list[tuple[str, str, bool]]:
    """The (left, right, claims_identity) pairs stated in a solution, in order.

    claims_identity is True for a pair after the first of its chain (see module doc).
    """
    pairs: list[tuple[str, str, bool]] = []
    for match in _MATH_SEGMENT.finditer(text):
        segment = next(group for group in match.groups() if group is not None)
        for line in re.split(r"\\\\|\n", segment):
            line = line.replace("&", " ").strip().rstrip(".,;")
            if "=" not in line or _NOT_EQUALITY.search(line):
                continue
            sides = [side.strip() for side in line.split("=")]
            if any(not side for side in sides):
                continue
            pairs.extend(
                (left, right, index > 0)
                for index, (left, right) in enumerate(zip(sides, sides[1:], strict=False))
            )
    prose = _MATH_SEGMENT.sub(" ", text)
    pairs.extend((m.group(1).strip(), m.group(2), False) for m in _PLAIN_ARITHMETIC.finditer(prose))
    return pairs[:_MAX_STEPS]


def check_steps(text: str) -> list[StepCheck]:
    """Check every checkable equality of a solution (not time-bounded; see the checker)."""
    checks = []
    for left, right, claims_identity in stated_equalities(text):
        status = check_equality(left, right, claims_identity)
        if status is not None:
            checks.append(StepCheck(left=left, right=right, status=status))
    return checks


def check_equality(left: str, right: str, claims_identity: bool) -> StepStatus | None:
    """ok or wrong, or None when the pair is not a checkable claim."""
    a, b = _parse_side(left), _parse_side(right)
    if a is None or b is None:
        return None
    symbols = a.free_symbols | b.free_symbols
    if not symbols:
        return _numbers_equal(a, b, left, right)
    if not claims_identity:
        return None
    return _identity_holds(a, b, sorted(symbols, key=str))


def _parse_side(side: str) -> sympy.Expr | None:
    try:
        if re.fullmatch(r"[\d.\s+\-*/×÷^()]+", side):  # plain arithmetic
            expr = parse_expr(
                side.replace("×", "*").replace("÷", "/").replace("^", "**"), evaluate=True
            )
        else:
            expr = latex2sympy(side)
    except Exception:  # the parser's errors are many and untyped: unparseable is a skip
        return None
    # f(2) is a function the solution defined: sympy cannot know its value
    if not isinstance(expr, sympy.Expr) or expr.atoms(AppliedUndef):
        return None
    return expr


def _numbers_equal(a: sympy.Expr, b: sympy.Expr, left: str, right: str) -> StepStatus | None:
    try:
        difference = complex(sympy.N(a - b, 30))
        scale = max(1.0, abs(complex(sympy.N(a, 30))), abs(complex(sympy.N(b, 30))))
    except (TypeError, ValueError, ArithmeticError):
        return None
    if not all(cmath.isfinite(v) for v in (difference, scale)):
        return None  # beyond floating point: no claim to judge at this precision
    tolerance = 1e-9 * scale
    for side in (left, right):  # a rounded decimal on either side
        if decimal := _DECIMAL_SIDE.match(side):
            tolerance = max(tolerance, 0.5 * 10 ** -len(decimal.group(1)) * (1 + 1e-9))
    return "ok" if abs(difference) <= tolerance else "wrong"


def _identity_holds(a: sympy.Expr, b: sympy.Expr, symbols: list) -> StepStatus | None:
    difference = a - b
    differences = []
    for shift, point in enumerate(_SAMPLE_POINTS):
        values = {s: point + 0.113 * i * (shift + 1) for i, s in enumerate(symbols)}
        try:
            value = complex(difference.evalf(20, subs=values))
            scale = max(1.0, abs(complex(a.evalf(20, subs=values))))
        except (TypeError, ValueError, ArithmeticError):
            return None
        if not (cmath.isfinite(value) and cmath.isfinite(scale)):
            return None  # outside the domain or beyond floating point: nothing to say
        differences.append(abs(value) / scale)
    return "ok" if max(differences) < 1e-8 else "wrong"
