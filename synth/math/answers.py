"""Final answers out of real model output: the `\\boxed{...}` a solution ends with.

Pure text functions, no sympy: what the answer *is* is decided in `equivalence`.
Models box in many ways: `\\boxed{\\frac{1}{2}}` (nested braces), `\\boxed 5`, `\\fbox{...}`,
several boxes for one multi-part answer ("x = \\boxed{2} or x = \\boxed{3}"), and boxes in
earlier steps that are not the answer. The rule: the answer is the box, or boxes, of the
last paragraph that holds one; several boxes there form one comma-separated answer.
"""

from __future__ import annotations

import re

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """Every box in order as (start, end, content); an unclosed box is left out."""
    spans = []
    for match in _BOX.finditer(text):
        position = match.end()
        if position < len(text) and text[position] == "{":
            content_end = _closing_brace(text, position)
            if content_end is None:
                continue
            spans.append((match.start(), content_end + 1, text[position + 1 : content_end]))
        else:  # `\boxed 5`: one token up to whitespace, `$` or the end of the line
            token = re.match(r"[^\s$]+", text[position:])
            if token:
                spans.append((match.start(), position + token.end(), token.group()))
    return spans


def _closing_brace(text: str, opening: int) -> int | None:
    depth = 0
    index = opening
    while index < len(text):
        char = text[index]
        if char == "\\":  # `\{` and `\}` are literal braces (sets), not grouping
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return None


def final_answer(text: str) -> str | None:
    """The solution's final answer, or None when it boxed nothing."""
    spans = boxed_spans(text)
    if not spans:
        return None
    paragraph_start = text.rfind("\n\n", 0, spans[-1][0])
    last = [content.strip() for start, _, content in spans if start > paragraph_start]
    return ", ".join(part for part in last if part) or None


def boxed(answer: str) -> str:
    return "\\boxed{" + answer + "}"
