"""A deliberately broken translation: the entry function's body replaced by a default value.

Translated tests are only worth keeping when they can fail: they run against this stub too,
and must fail it (as Python tests must fail `return None`, tests.py). All six target
languages delimit a body with braces, so the stub is made the same way for each: find the
function's header by its name, match its body's braces (skipping strings, characters and
comments), and put in a body that returns the zero value of the declared return type.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Where a function named NAME is defined, per language; group "ret" is the return type when
# the language writes it in the header.
_HEADERS = {
    "javascript": r"(?:\bfunction\s*\*?\s*{name}\s*\(|\b{name}\s*=\s*(?:async\s*)?(?:function\b|\())",
    "php": r"\bfunction\s+&?\s*{name}\s*\(",
    "cpp": r"(?P<ret>[\w:<>,\t \*&]+?)\s+[\*&]?\s*{name}\s*\(",
    "java": r"(?P<ret>[\w<>\[\],\t ]+?)\s+{name}\s*\(",
    "rust": r"\bfn\s+{name}\s*(?:<[^>]*>)?\s*\(",
    "go": r"\bfunc\s+(?:\([^)]*\)\s*)?{name}\s*\(",
}
_JAVA_ZERO = {
    "int": "0",
    "long": "0L",
    "short": "0",
    "byte": "0",
    "double": "0.0",
    "float": "0.0f",
    "char": "'\\0'",
    "boolean": "false",
}
_JAVA_MODIFIERS = {
    "public",
    "private",
    "protected",
    "static",
    "final",
    "synchronized",
    "abstract",
    "native",
    "strictfp",
    "default",
}


def stub_translation(language: str, code: str, name: str) -> str | None:
    """`code` with the body of function `name` returning a default value, or None when the
    function cannot be found (the translation then counts as unverifiable)."""
    if language not in _HEADERS:
        return None
    header = re.compile(_HEADERS[language].format(name=re.escape(name)))
    span = function_span(language, code, header)
    if span is None:
        return None
    between = code[span.close_paren + 1 : span.open_brace]
    body = _default_body(language, span.match.groupdict().get("ret") or "", between)
    return code[: span.open_brace] + body + code[span.close_brace + 1 :]


class FunctionSpan(NamedTuple):
    """Where a function is in a source: its header match and the indices of the closing
    paren of its parameters and of the braces around its body."""

    match: re.Match
    close_paren: int
    open_brace: int
    close_brace: int


def function_span(language: str, code: str, header: re.Pattern) -> FunctionSpan | None:
    """The first function `header` matches outside literals and comments whose parameters
    and body braces close, else None (a body that never closes: None at once). The stubs
    replace its body; the test driver renames the tests' main (sandbox/languages.py)."""
    for match in header.finditer(code):
        if _inside_literal_or_comment(code, match.start(), language):
            continue
        close = _matching(code, match.end() - 1, "(", ")", language)
        if close is None:
            continue
        open_brace = _next_code_char(code, close + 1, "{", language)
        if open_brace is None:
            continue
        end = _matching(code, open_brace, "{", "}", language)
        return None if end is None else FunctionSpan(match, close, open_brace, end)
    return None


def _default_body(language: str, declared: str, after_params: str) -> str:
    if language == "javascript":
        return "{ return undefined; }"
    if language == "php":
        return "{ return null; }"
    if language == "rust":
        returns = after_params.split("->", 1)[1].strip() if "->" in after_params else ""
        return "{ Default::default() }" if returns else "{}"
    if language == "go":
        returns = after_params.strip()
        if not returns:
            return "{}"
        types = _split_top_level(returns[1:-1] if returns.startswith("(") else returns)
        zeros = [f"*new({t.split()[-1] if len(t.split()) > 1 else t})" for t in types]
        return "{ return " + ", ".join(zeros) + " }"
    words = [w for w in re.split(r"\s+", declared.strip()) if w and w not in _JAVA_MODIFIERS]
    kind = " ".join(words)
    if language == "java":
        if kind == "void" or not kind:
            return "{}"
        return "{ return " + _JAVA_ZERO.get(kind, "null") + "; }"
    # cpp: value-initialise whatever the type is (0, empty container, empty string)
    if not kind or kind.split()[-1] == "void":
        return "{}"
    return "{ return {}; }"


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


_CHAR_LITERAL = re.compile(r"'(?:\\.[^']{0,8}|[^'\\])'")


def _skip(code: str, index: int, language: str) -> int | None:
    """If a string, character literal or comment starts at `index`, the index after it."""
    two = code[index : index + 2]
    if two == "//" or (code[index] == "#" and language in ("php", "cpp")):
        end = code.find("\n", index)
        return len(code) if end == -1 else end
    if two == "/*":
        end = code.find("*/", index + 2)
        return len(code) if end == -1 else end + 2
    if code[index] == "'" and language in ("rust", "cpp", "java", "go"):
        # a character literal is short; anything else is a Rust lifetime (`'a`)
        literal = _CHAR_LITERAL.match(code, index)
        return literal.end() if literal else index + 1
    if code[index] in "\"'`":
        quote, position = code[index], index + 1
        while position < len(code):
            if code[position] == "\\":
                position += 2
                continue
            if code[position] == quote:
                return position + 1
            if code[position] == "\n" and quote != "`":
                return position  # a broken literal ends with its line
            position += 1
        return len(code)
    return None


def _matching(code: str, start: int, opening: str, closing: str, language: str) -> int | None:
    depth, index = 0, start
    while index < len(code):
        skipped = _skip(code, index, language)
        if skipped is not None:
            index = skipped
            continue
        if code[index] == opening:
            depth += 1
        elif code[index] == closing:
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def _next_code_char(code: str, start: int, wanted: str, language: str) -> int | None:
    """The index of `wanted`, before any `;` (a declaration without a body)."""
    index = start
    while index < len(code):
        skipped = _skip(code, index, language)
        if skipped is not None:
            index = skipped
            continue
        if code[index] == wanted:
            return index
        if code[index] == ";":
            return None
        index += 1
    return None


def _inside_literal_or_comment(code: str, position: int, language: str) -> bool:
    index = 0
    while index < position:
        skipped = _skip(code, index, language)
        if skipped is not None:
            if skipped > position:
                return True
            index = skipped
            continue
        index += 1
    return False
