"""Extract Python code from what a model actually writes.

Real completions hold several fenced blocks (the solution, an example call, shell output),
fences with or without a language tag, a fence the model never closed, or no fence at
all with prose around the code. Fenced blocks are found with a Markdown parser
(markdown-it), not with regular expressions, so nested backticks and indented fences
behave as a Markdown renderer would show them.

A completion cut at max_tokens usually stops inside its last block: `complete_statements`
keeps what was finished before the cut.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache

from markdown_it import MarkdownIt

from synth.python_ast import parse_python

PYTHON_TAGS = {"python", "py", "python3", "py3", "ipython", ""}
CODE_LINE_STARTS = ("def ", "async def ", "import ", "from ", "class ", "@")


@dataclass(frozen=True)
class Extracted:
    code: str | None
    reason: str = ""  # why nothing was extracted: no_code, ...
    # The code runs to the end of the text with no closing fence: had the completion been cut,
    # the cut would be inside the code (a closed block is complete whatever follows it).
    open_end: bool = False


@dataclass(frozen=True)
class Block:
    """One fenced block's content, and whether its closing fence was written."""

    code: str
    closed: bool


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark")


def python_blocks(text: str) -> list[str]:
    """Fenced blocks tagged as Python or untagged, in order of appearance."""
    return [block.code for block in python_fences(text)]


def python_fences(text: str) -> list[Block]:
    """Like `python_blocks`, with whether each block's closing fence is there."""
    lines = text.splitlines()
    blocks = []
    for token in _markdown().parse(text):
        if token.type != "fence":
            continue
        tag = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
        if tag in PYTHON_TAGS:
            blocks.append(Block(token.content, _closed(token.map, token.markup, lines)))
    return blocks


def _closed(span: list[int] | None, markup: str, lines: list[str]) -> bool:
    """An unclosed fence runs to the end of the document; a closed one ends on its fence line."""
    if not span:
        return False
    last = span[1] - 1
    return span[0] < last < len(lines) and lines[last].strip().startswith(markup[:3])


def parses(code: str) -> bool:
    try:
        parse_python(code)
    except (SyntaxError, ValueError):
        return False
    return True


def defines(code: str, name: str) -> bool:
    try:
        tree = parse_python(code)
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
    blocks = [b for b in python_fences(text) if "assert" in b.code]
    if blocks:
        return Extracted("\n".join(b.code for b in blocks), open_end=not blocks[-1].closed)
    unfenced = _unfenced_code(text)
    if unfenced is None or "assert" not in unfenced:
        return Extracted(None, "no_code")
    return Extracted(unfenced, open_end=True)


def without_partial_line(text: str) -> str:
    """A cut completion's text without its last line, unless that line was finished.

    A line cut mid-way can still parse and mean something else (`assert f(12) == 14` of
    `== 144`), so a line counts only once its newline was written.
    """
    return text if text.endswith("\n") else text[: text.rfind("\n") + 1]


def complete_statements(code: str) -> str | None:
    """The statements of cut code that were finished before the cut; None when there are none.

    `code` must hold only finished lines (see `without_partial_line`). The longest prefix of
    lines that parses is kept; then, along its last statements, a function, class or
    `if __name__ == "__main__":` block keeps its finished statements (so a repetition loop
    inside a test method still yields its asserts), while a loop, `if`, `with` or `try` is
    dropped whole: a missing `else:` or a loop body cut short would change what it checks.
    """
    lines = code.splitlines()
    end = _longest_parsing_prefix(lines, len(lines))
    if not end:
        return None
    tree = parse_python("\n".join(lines[:end]))
    cut = _open_statement(tree)
    if cut is not None:
        end = _longest_parsing_prefix(lines, cut)
    kept = "\n".join(lines[:end]).strip("\n")
    return kept + "\n" if kept.strip() else None


def _longest_parsing_prefix(lines: list[str], end: int) -> int:
    """The largest n <= end such that the first n lines parse and hold a statement (0: none)."""
    for n in range(end, 0, -1):
        candidate = "\n".join(lines[:n])
        if candidate.strip() and parses(candidate):
            try:
                if parse_python(candidate).body:
                    return n
            except (SyntaxError, ValueError):  # pragma: no cover - parses() said it parses
                continue
    return 0


CONTAINERS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _open_statement(tree: ast.Module) -> int | None:
    """The 0-based line where the last statement that may be unfinished starts, or None."""
    node: ast.AST = tree
    while True:
        body = _last_body(node)
        if not body:
            return None
        last = body[-1]
        if isinstance(last, CONTAINERS) or is_main_guard(last):
            node = last
            continue
        if any(
            isinstance(getattr(last, field, None), list) for field in ("body", "orelse", "cases")
        ):
            decorators = getattr(last, "decorator_list", [])
            return (decorators[0].lineno if decorators else last.lineno) - 1
        return None  # a simple statement on finished lines is finished


def _last_body(node: ast.AST) -> list[ast.stmt]:
    if isinstance(node, ast.If) and node.orelse:
        return node.orelse
    return getattr(node, "body", [])


def is_main_guard(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":` (either way round)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(sides) == 2 and bool(names) and bool(mains)


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
