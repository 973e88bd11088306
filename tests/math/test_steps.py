from synth.math.steps import check_steps, stated_equalities

SOLUTION = r"""First $3 \cdot 4 = 12$ and $12 + 5 = 18$.
Let $y = (x+1)^2 = x^2 + 2x + 1$, but $z = (x+1)^2 = x^2 + 1$.
Solve $2x + 3 = 7$, so $x = 2$. The area is $\pi \cdot 3^2 = 28.27$, about $\approx 28$.
In words, 7 * 8 = 56 apples and 6 * 7 = 43 pears. We know $f(2) = 5$.
\[ \frac{1}{2} + \frac{1}{3} = \frac{5}{6} \]
"""


def statuses(text):
    return {str(step): step.status for step in check_steps(text)}


def test_wrong_arithmetic_and_identities_are_found():
    assert statuses(SOLUTION) == {
        r"3 \cdot 4 = 12": "ok",
        "12 + 5 = 18": "wrong",
        "(x+1)^2 = x^2 + 2x + 1": "ok",
        "(x+1)^2 = x^2 + 1": "wrong",
        r"\pi \cdot 3^2 = 28.27": "ok",
        "7 * 8 = 56": "ok",
        "6 * 7 = 43": "wrong",
        r"\frac{1}{2} + \frac{1}{3} = \frac{5}{6}": "ok",
    }


def test_equations_to_solve_and_definitions_are_not_claims():
    claims = stated_equalities("Solve $2x + 3 = 7$, let $y = x^2$, define $f(2) = 5$.")
    assert all(not identity for _, _, identity in claims)
    assert check_steps("Solve $2x + 3 = 7$, let $y = x^2$, define $f(2) = 5$.") == []


def test_numbers_beyond_floating_point_are_not_judged():
    assert statuses("$10^{400} + 1 = 5$ and $2 + 2 = 4$") == {"2 + 2 = 4": "ok"}
