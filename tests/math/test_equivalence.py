"""The answer checker against hand-checked pairs, sympy properties and adversarial input."""

from pathlib import Path

import pytest
import sympy
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

CASES = yaml.safe_load((Path(__file__).parent / "equivalence_cases.yaml").read_text())


def test_the_table_is_large_and_balanced():
    assert len(CASES) >= 150
    assert 0.3 < sum(c["equivalent"] for c in CASES) / len(CASES) < 0.8


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{i}:{c['gold']}|{c['pred']}" for i, c in enumerate(CASES)]
)
def test_hand_checked_pairs(checker, case):
    result = checker.equal(case["gold"], case["pred"])
    assert result.equivalent is case["equivalent"], (case.get("note"), result)


def test_parsed_forms_are_reported(checker):
    result = checker.equal("\\dfrac{3}{6}", "0.5")
    assert (result.equivalent, result.gold, result.pred, result.reason) == (
        True,
        "1/2",
        "1/2",
        "equal",
    )
    empty = checker.equal("5", "")
    assert (empty.equivalent, empty.reason) == (False, "empty")
    garbage = checker.equal("\\frac{1}{2}", "\\frac{")
    assert not garbage.equivalent


x = sympy.Symbol("x")
roots = st.lists(st.integers(-9, 9), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(roots=roots, lead=st.integers(1, 5))
def test_expanded_polynomial_equals_its_factored_form(checker, roots, lead):
    factored = lead * sympy.Mul(*[(x - r) for r in roots], evaluate=False)
    expanded = sympy.expand(factored)
    assert checker.equal(sympy.latex(factored), sympy.latex(expanded)).equivalent


@settings(max_examples=25, deadline=None)
@given(roots=roots, shift=st.integers(1, 20))
def test_perturbed_polynomial_is_not_equal(checker, roots, shift):
    factored = sympy.Mul(*[(x - r) for r in roots], evaluate=False)
    perturbed = sympy.expand(factored) + shift
    assert not checker.equal(sympy.latex(factored), sympy.latex(perturbed)).equivalent


@settings(max_examples=40, deadline=None)
@given(p=st.integers(-999, 999), q=st.integers(1, 999))
def test_fraction_equals_its_decimal_within_tolerance(checker, p, q):
    decimal = f"{p / q:.8f}"
    assert checker.equal(f"\\frac{{{p}}}{{{q}}}", decimal).equivalent
    wrong = f"{p / q + 0.01:.8f}"  # off in the second decimal: a different answer
    assert not checker.equal(f"\\frac{{{p}}}{{{q}}}", wrong).equivalent


@pytest.mark.parametrize(
    "gold,pred",
    [
        ("10^{10^{10}}", "1"),
        ("(10^{10^{10}})!", "2"),
        ("2^{2^{2^{2^{2}}}}", "3"),
    ],
)
def test_adversarial_answers_end_in_a_timeout_not_a_hang(checker, gold, pred):
    result = checker.equal(gold, pred)
    assert not result.equivalent
    assert result.reason in ("timeout", "error", "different")
    assert checker.equal("\\frac{1}{2}", "0.5").equivalent  # the pool healed


def test_a_hanging_check_is_killed_at_the_time_limit():
    from synth.math.checker import AnswerChecker

    with AnswerChecker(workers=1, timeout_s=0.5) as quick:
        result = quick.equal("10^{10^{10}}", "1")
        assert (result.equivalent, result.reason) == (False, "timeout")
        assert quick.equal("3", "3").equivalent


@settings(max_examples=60, deadline=None)
@given(
    a=st.integers(-500, 500), b=st.integers(1, 60), c=st.integers(-500, 500), d=st.integers(1, 60)
)
def test_plain_numbers_are_compared_exactly(a, b, c, d):
    from synth.math.equivalence import check_equal

    same = sympy.Rational(a, b) == sympy.Rational(c, d)
    assert check_equal(f"\\frac{{{a}}}{{{b}}}", f"{c}/{d}").equivalent is same
    assert check_equal(f"({a}, {c})", f"({a},{c})").equivalent
    assert check_equal(f"({a}, {c})", f"({c}, {a})").equivalent is (a == c)
