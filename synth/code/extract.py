"""Extract Python code from what a model actually writes.

Real completions hold several fenced blocks (the solution, an example call, shell output),
fences with or without a language tag, a fence the model never closed, or no fence at
all with prose around the code. Fenced blocks are found with a Markdown parser
(markdown-it), not with regular expressions, so nested backticks and indented fences
behave as a Markdown renderer would show them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt

PYTHON_TAGS = {"python", "py", "python3", "py3", "ipython", ""}
CODE_LINE_STARTS = ("def ", "async def ", "import ", "from ", "class ", "@")


@dataclass(frozen=True)
class Extracted:
    code: str | None
    reason: str = ""  # why nothing was extracted: no_code, ...


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark")


def python_blocks(text: str) -> list[str]:
    """Fenced blocks tagged as Python or untagged, in order of appearance."""
    blocks = []
    for token in _markdown().parse(text):
        if token.type != "fence":
            continue
        tag = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
        if tag in PYTHON_TAGS:
            blocks.append(token.content)
    return blocks


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return f"def {name}(" in code
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name
        for node in ast.walk(tree)
    )


def extract_code(text: str, entry_point: str | None = None) -> Extracted:
    """The solution's code: the last fenced Python block that defines `entry_point`.

    Falls back to the last block that parses, then to unfenced code found in the text.
    """
    blocks = [b for b in python_blocks(text) if b.strip()]
    if blocks:
        if entry_point:
            defining = [b for b in blocks if defines(b, entry_point)]
            if defining:
                return Extracted(defining[-1])
        parsing = [b for b in blocks if parses(b)]
        return Extracted(parsing[-1] if parsing else blocks[-1])
    unfenced = _unfenced_code(text)
    if unfenced is None:
        return Extracted(None, "no_code")
    return Extracted(unfenced)


def extract_tests(text: str) -> Extracted:
    """The test code: every fenced Python block that holds an assert, joined in order."""
    blocks = [b for b in python_blocks(text) if "assert" in b]
    if blocks:
        return Extracted("\n".join(blocks))
    unfenced = _unfenced_code(text)
    if unfenced is None or "assert" not in unfenced:
        return Extracted(None, "no_code")
    return Extracted(unfenced)


def _unfenced_code(text: str) -> str | None:
    """Code written without a fence: from the first code-looking line, dropping prose after it."""
    stripped = text.strip()
    if not stripped:
        return None
    if parses(stripped) and any(
        line.startswith(CODE_LINE_STARTS) for line in stripped.splitlines()
    ):
        return stripped
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(CODE_LINE_STARTS + ("assert ",))]
    if not starts:
        return None
    body = lines[starts[0] :]
    # Trailing prose ("This runs in O(n).") does not parse: drop lines from the end until it does.
    for end in range(len(body), 0, -1):
        candidate = "\n".join(body[:end]).strip()
        if candidate and parses(candidate):
            return candidate
    return "\n".join(body).strip() or None
