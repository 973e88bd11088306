import pytest

from synth.math.answers import boxed_spans, final_answer


@pytest.mark.parametrize(
    "text,answer",
    [
        ("so the answer is $\\boxed{42}$.", "42"),
        ("nested: \\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
        ("a set \\boxed{\\{1, 2\\}} here", "\\{1, 2\\}"),
        ("without braces \\boxed 7 done", "7"),
        ("fbox \\fbox{x+1}", "x+1"),
        ("step \\boxed{3} is not the answer.\n\nFinally $\\boxed{5}$.", "5"),
        ("x = \\boxed{2} or x = \\boxed{3}", "2, 3"),
        ("no box at all: 42", None),
        ("an unclosed \\boxed{\\frac{1}{2}", None),
        ("\\boxed{}", None),
    ],
)
def test_final_answer(text, answer):
    assert final_answer(text) == answer


def test_spans_point_into_the_text():
    text = "a \\boxed{1} b \\boxed{{2}}"
    assert [(text[s:e], c) for s, e, c in boxed_spans(text)] == [
        ("\\boxed{1}", "1"),
        ("\\boxed{{2}}", "{2}"),
    ]
