"""Math data: problems with executed reference answers, boxed answers checked with sympy."""
