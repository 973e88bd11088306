"""Is a predicted answer the reference answer? Parsing and comparison with sympy.

Parsing and the core comparison are math-verify's (LaTeX through latex2sympy2, numbers,
expressions, equations, sets, intervals, tuples, matrices, percentages, units). synth adds
only its own decisions on top:

- text answers ("\\text{Yes}" vs "yes", "(B)" vs "B") compare as normalised words;
- a prediction written as a sentence ("The answer is 42") is searched for its answer;
- a decimal is equal to an exact value it rounds from, when it has at least
  `MIN_SIGNIFICANT_DIGITS` significant digits (1/3 vs 0.3333 yes, 1/3 vs 0.33 no);
- an inequality in one variable equals the set it describes ("x > 0" vs "(0, \\infty)");
- notations a person reads alike are rewritten first: thin spaces in numbers, units after a
  number ("12 dollars"), repeating decimals (0.\\overline{3}), e-notation, degrees inside
  trigonometric functions, i as the imaginary unit, "25\\%" as 25 as well as 0.25;
- plain numbers and points of plain numbers are read exactly by a small grammar of synth's
  own, without the LaTeX parser (~10 ms an answer): they are most answers.

These functions are not time-bounded: an adversarial answer (`10^{10^{10}}`) can take
minutes or all memory. Call them through `checker.AnswerChecker`, which runs them in
worker processes with a time and memory limit.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import sympy
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

from synth.math.answers import final_answer
from synth.records import Equivalence

MIN_SIGNIFICANT_DIGITS = 4
# math-verify's own signal-based timeouts work only in a process's main thread; the
# checker's worker processes are, and they add a hard limit around every call.
_INNER_TIMEOUT_S = 3

_LATEX_ANSWER = [LatexExtractionConfig(boxed_match_priority=0)]
_PROSE_ANSWER = [LatexExtractionConfig(), ExprExtractionConfig()]
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_WORDS = re.compile(r"[A-Za-z]{2,}")


def _inner_timeout() -> int | None:
    on_main = threading.current_thread() is threading.main_thread()
    return _INNER_TIMEOUT_S if on_main else None


_SPACING = re.compile(r"\\[,;:!]|~")
_E_NOTATION = re.compile(r"^([-+]?\d*\.?\d+)[eE]([-+]?\d+)$")
_REPEATING = re.compile(r"^([-+]?)(\d*)\.(\d*)\\overline\{(\d+)\}$")
_NUMBER_WITH_UNIT = re.compile(  # "12 dollars", "\\text{5 meters}", "5\\ \\text{cm}"
    r"^(?:\\text\{)?\s*\\?\$?([-+]?\d[\d,]*(?:\.\d+)?)"
    r"(?:\s+|\s*\\ \s*|\s*\\(?:text|mbox)\{\s*)[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\s*\}?\s*\}?$"
)
_DEGREES_IN_TRIG = re.compile(
    r"(\\(?:sin|cos|tan|sec|csc|cot))\s*\(?\s*([-+]?\d+(?:\.\d+)?)\s*\^\s*\{?\\circ\}?\s*\)?"
)


def normalise(text: str) -> str:
    """Rewrite notations math-verify reads differently from a person into ones it reads alike."""
    text = text.replace("\u2212", "-").replace("\u00b0", "^\\circ")
    text = _SPACING.sub("", text).strip()
    if match := _E_NOTATION.match(text):
        return f"{match.group(1)} \\times 10^{{{match.group(2)}}}"
    if match := _REPEATING.match(text):
        return _repeating_decimal_fraction(*match.groups())
    if match := _NUMBER_WITH_UNIT.match(text):
        return match.group(1)
    return _DEGREES_IN_TRIG.sub(lambda m: f"{m.group(1)}({m.group(2)} \\pi / 180)", text)


def _repeating_decimal_fraction(sign: str, whole: str, fixed: str, period: str) -> str:
    """0.1\\overline{6} -> \\frac{1}{6}: the exact value a repeating decimal denotes."""
    scale = 10 ** len(fixed)
    numerator = int((whole or "0") + fixed + period) - int((whole or "0") + fixed)
    denominator = scale * (10 ** len(period) - 1)
    value = sympy.Rational(numerator, denominator)
    return f"{sign}\\frac{{{value.p}}}{{{value.q}}}"


def strip_answer(raw: str) -> str:
    """The answer's text without the wrapping a model or a person adds around it."""
    text = raw.strip()
    if "\\boxed" in text or "\\fbox" in text:
        text = final_answer(text) or ""
    for opening, closing in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(opening) and text.endswith(closing) and len(text) > 2 * len(opening):
            text = text[len(opening) : -len(closing)].strip()
    return normalise(text.rstrip(".").strip())


def _as_words(text: str) -> str | None:
    """The answer as lower-case words when it is a text answer (no digits, no math)."""
    unwrapped = _TEXT_WRAPPER.sub(r"\1", text)
    if "\\" in unwrapped or re.search(r"[\d+\-*/^=<>|]", unwrapped):
        return None
    words = re.sub(r"[^A-Za-z ]", " ", unwrapped).split()
    return " ".join(words).lower() if words else None


def _is_prose(text: str) -> bool:
    """A sentence around the answer, rather than an answer (LaTeX commands don't count)."""
    outside_commands = re.sub(r"\\[A-Za-z]+", " ", _TEXT_WRAPPER.sub(" ", text))
    return len(_WORDS.findall(outside_commands)) >= 3


def parse_answer(raw: str) -> tuple[list, str]:
    """math-verify's parse of an answer, and its printable form ('' when nothing parsed)."""
    text = strip_answer(raw)
    if not text:
        return [], ""
    timeout = _inner_timeout()
    if _is_prose(text):
        parsed = parse(text, _PROSE_ANSWER, parsing_timeout=timeout)
    else:
        parsed = parse("$" + "\\boxed{" + text + "}" + "$", _LATEX_ANSWER, parsing_timeout=timeout)
        if not parsed:
            parsed = parse(text, _PROSE_ANSWER, parsing_timeout=timeout)
    return parsed, (_printable(parsed[0]) if parsed else "")


def _printable(value: Any) -> str:
    return value if isinstance(value, str) else sympy.sstr(value)


def check_equal(gold: str, pred: str) -> Equivalence:
    """Decide whether `pred` states the same answer as `gold` (no time bound, see module doc)."""
    gold_text, pred_text = strip_answer(gold), strip_answer(pred)
    if not gold_text or not pred_text:
        return Equivalence(equivalent=False, gold=gold_text, pred=pred_text, reason="empty")

    gold_words, pred_words = _as_words(gold_text), _as_words(pred_text)
    if gold_words is not None and gold_words == pred_words:
        return Equivalence(equivalent=True, gold=gold_words, pred=pred_words, reason="equal")

    gold_number, pred_number = plain_number(gold_text), plain_number(pred_text)
    if gold_number is not None and pred_number is not None:
        return _numbers_equal(gold_number, pred_number)
    gold_tuple, pred_tuple = plain_tuple(gold_text), plain_tuple(pred_text)
    if gold_tuple and pred_tuple and gold_tuple[0] == pred_tuple[0]:
        return _tuples_equal(gold_tuple, pred_tuple)

    gold_parsed, gold_form = parse_answer(gold_text)
    pred_parsed, pred_form = parse_answer(pred_text)
    if not gold_parsed or not pred_parsed or _only_strings(gold_parsed, pred_parsed):
        return Equivalence(
            equivalent=False,
            gold=gold_form or gold_text,
            pred=pred_form or pred_text,
            reason="unparseable",
        )
    if _IMAGINARY_UNIT.search(gold_text) or _IMAGINARY_UNIT.search(pred_text):
        gold_parsed, pred_parsed = _complex(gold_parsed), _complex(pred_parsed)
    equal = _verify(gold_parsed, pred_parsed)
    if not equal:
        equal = (
            _rounded_equal(gold_parsed[0], gold_text, pred_parsed[0], pred_text)
            or _relation_equals_set(gold_parsed[0], pred_parsed[0])
            or _percent_equal(gold_text, pred_text)
        )
    return Equivalence(
        equivalent=bool(equal),
        gold=gold_form,
        pred=pred_form,
        reason="equal" if equal else "different",
    )


# --- plain numbers: most answers, decided without a LaTeX parse --------------------------

_PLAIN_DECIMAL = re.compile(
    r"^(?P<sign>[-+]?)(?:\\?\$)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d+))?"
    r"\s*(?P<pct>\\?%)?$"
)
_PLAIN_FRACTION = re.compile(
    r"^(?P<sign>[-+]?)(?:\\[dt]?frac\{(?P<a>\d+)\}\{(?P<b>\d+)\}|(?P<c>\d+)\s*/\s*(?P<d>\d+))$"
)


def plain_number(text: str) -> tuple[sympy.Rational, int | None, bool] | None:
    """An integer, decimal, percentage or simple fraction, read exactly; None for anything else.

    Returns (value, decimals written or None, whether it had a percent sign).
    The LaTeX parser costs ~10 ms an answer; most answers are plain numbers, and reading
    them here keeps a checker worker above 200 checks a second.
    """
    if match := _PLAIN_DECIMAL.match(text):
        whole, fraction = match.group("int"), match.group("frac")
        if whole is None and fraction is None:
            return None
        digits = (whole or "0").replace(",", "") + "." + (fraction or "0")
        value = sympy.Rational(digits) * (-1 if match.group("sign") == "-" else 1)
        return value, len(fraction) if fraction else None, match.group("pct") is not None
    if match := _PLAIN_FRACTION.match(text):
        numerator = int(match.group("a") or match.group("c"))
        denominator = int(match.group("b") or match.group("d"))
        if denominator == 0:
            return None
        value = sympy.Rational(numerator, denominator) * (-1 if match.group("sign") == "-" else 1)
        return value, None, False
    return None


_PLAIN_TUPLE = re.compile(r"^\s*([(\[])([^()\[\]{}]*,[^()\[\]{}]*)([)\]])\s*$")


def plain_tuple(text: str) -> tuple[str, list[tuple]] | None:
    """(brackets, numbers) of a point or interval of plain numbers, like (3, -1) or [0, 2.5)."""
    match = _PLAIN_TUPLE.match(text)
    if not match:
        return None
    numbers = [plain_number(part.strip()) for part in match.group(2).split(",")]
    if any(n is None or n[2] for n in numbers):  # not plain, or a percentage
        return None
    return match.group(1) + match.group(3), numbers  # type: ignore[return-value]


def _tuples_equal(gold: tuple[str, list], pred: tuple[str, list]) -> Equivalence:
    """Same brackets (checked by the caller), same length, equal numbers in order."""
    equal = len(gold[1]) == len(pred[1]) and all(
        _numbers_equal(g, p).equivalent for g, p in zip(gold[1], pred[1], strict=False)
    )

    def form(t: tuple[str, list]) -> str:
        return t[0][0] + ", ".join(sympy.sstr(n[0]) for n in t[1]) + t[0][1]

    return Equivalence(
        equivalent=equal, gold=form(gold), pred=form(pred), reason="equal" if equal else "different"
    )


def _numbers_equal(gold: tuple, pred: tuple) -> Equivalence:
    """Exactly equal (a percentage also as its hundredth), or a decimal rounded from the other."""

    def readings(number: tuple) -> list[sympy.Rational]:
        value, _, percent = number
        return [value, value / 100] if percent else [value]

    equal = any(g == p for g in readings(gold) for p in readings(pred)) or any(
        exact[1] is None and any(_rounds_to(e, decimal) for e in readings(exact))
        for exact, decimal in ((gold, pred), (pred, gold))
    )
    return Equivalence(
        equivalent=equal,
        gold=sympy.sstr(gold[0]) + ("%" if gold[2] else ""),
        pred=sympy.sstr(pred[0]) + ("%" if pred[2] else ""),
        reason="equal" if equal else "different",
    )


def _rounds_to(value: Any, decimal: tuple, slack: Any = 0) -> bool:
    """Whether `decimal` (a `plain_number` written with decimals, not a percentage) is `value`
    rounded to its decimals, with at least MIN_SIGNIFICANT_DIGITS significant digits.
    `slack` widens the half-unit bound relatively, for values that were evaluated in floats."""
    number, decimals, percent = decimal
    if decimals is None or percent:
        return False
    written = abs(number) * 10**decimals
    if (len(str(int(written))) if written else 0) < MIN_SIGNIFICANT_DIGITS:
        return False
    bound = sympy.Rational(1, 2) * sympy.Rational(10) ** -decimals
    return bool(abs(value - number) <= bound * (1 + slack))


def _verify(gold: list, pred: list) -> bool:
    return bool(verify(gold, pred, timeout_seconds=_inner_timeout()))


_IMAGINARY_UNIT = re.compile(r"(?<![A-Za-z\\])i(?![A-Za-z])")


def _complex(parsed: list) -> list:
    """Read the symbol i as the imaginary unit (math-verify keeps it a variable)."""

    def as_complex(value: Any) -> Any:
        if not isinstance(value, sympy.Basic):
            return value
        return value.subs({s: sympy.I for s in value.free_symbols if s.name == "i"})

    return [as_complex(v) for v in parsed]


def _percent_equal(gold_text: str, pred_text: str) -> bool:
    """25\\% is 25 (the number the percent sign is on) as well as 0.25."""
    if "%" not in gold_text and "%" not in pred_text:
        return False
    plain_gold, _ = parse_answer(gold_text.replace("\\%", "").replace("%", ""))
    plain_pred, _ = parse_answer(pred_text.replace("\\%", "").replace("%", ""))
    return bool(plain_gold and plain_pred) and _verify(plain_gold, plain_pred)


def _only_strings(gold: list, pred: list) -> bool:
    """Neither side parsed to mathematics, only to a fallback string."""
    return all(isinstance(v, str) for v in gold) or all(isinstance(v, str) for v in pred)


def _rounded_equal(gold: Any, gold_text: str, pred: Any, pred_text: str) -> bool:
    """A decimal written by rounding the other side's exact value (either side)."""
    for exact, decimal_text in ((gold, pred_text), (pred, gold_text)):
        decimal = plain_number(decimal_text)
        if decimal is None or not isinstance(exact, sympy.Basic) or not exact.is_number:
            continue
        try:
            value = sympy.N(exact, 30)
            if value.is_real and _rounds_to(value, decimal, slack=sympy.Rational(1, 10**9)):
                return True
        except (TypeError, ValueError, ArithmeticError):
            continue
    return False


def _relation_equals_set(gold: Any, pred: Any) -> bool:
    """An inequality in one variable and the set of reals it describes."""
    for relation, candidate in ((gold, pred), (pred, gold)):
        if not isinstance(candidate, sympy.Set):
            continue
        if isinstance(relation, sympy.FiniteSet) and all(  # "x < 0 or x > 1" parses as a set
            isinstance(r, sympy.core.relational.Relational) for r in relation
        ):
            relation = sympy.Or(*relation)
        if not isinstance(relation, (sympy.core.relational.Relational, sympy.And, sympy.Or)):
            continue
        symbols = relation.free_symbols
        if len(symbols) != 1:
            continue
        try:
            described = relation.as_set()
        except (NotImplementedError, TypeError, ValueError):
            continue
        if described == candidate:
            return True
    return False
