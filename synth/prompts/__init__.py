"""Prompt templates, one file per pipeline step (`code/problem.j2`, `code/tests.j2`, ...).

Templates are Jinja2 with StrictUndefined: a variable a step forgets to pass is an error,
not an empty string in a prompt.
"""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("synth", "prompts"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def render(template: str, **variables: object) -> str:
    """Render `template` (a path under synth/prompts, e.g. "code/problem.j2")."""
    return _environment().get_template(template).render(**variables).strip() + "\n"
