"""Step 1: problem descriptions from sampled concepts.

The model is asked for a statement, a typed signature and examples in Markdown sections
(prompts/code/problem.j2). A completion is rejected with a reason when it was truncated,
has no statement or no parseable signature, or is a near copy of a problem already
accepted in the run (MinHash over word shingles, datasketch's LSH index).
"""

from __future__ import annotations

import ast
import re

from datasketch import MinHash, MinHashLSH

from synth.code.extract import python_blocks
from synth.engines.base import ChatRequest, Completion, user
from synth.prompts import render
from synth.records import Problem, Rejection, SkillCombo, stable_id

HEADING = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)\s*(problem|signature|examples?)\b.*$", re.I | re.M)
MIN_STATEMENT_CHARS = 40


def problem_request(combo: SkillCombo, *, seed: int, temperature: float = 1.0) -> ChatRequest:
    prompt = render("code/problem.j2", concepts=combo.concepts)
    return ChatRequest(
        messages=(user(prompt),),
        n=1,
        temperature=temperature,
        max_tokens=1024,
        seed=seed,
        tag="problem",
    )


def parse_problem(
    completion: Completion, combo: SkillCombo, problem_id: str
) -> Problem | Rejection:
    """Read a Problem out of the model's answer, or say why not."""
    if completion.finish_reason == "error":
        return Rejection(reason="engine_error", detail=completion.error)
    if completion.finish_reason == "length":
        return Rejection(reason="truncated", detail="the problem was cut off at max_tokens")
    sections = _sections(completion.text)
    statement = sections.get("problem", "").strip()
    if not statement:
        return Rejection(reason="unparseable", detail="no '## Problem' section")
    if len(statement) < MIN_STATEMENT_CHARS:
        return Rejection(reason="empty", detail=f"statement of {len(statement)} characters")
    signature = _signature(sections.get("signature", "") or completion.text)
    if signature is None:
        return Rejection(reason="unparseable", detail="no parseable Python function signature")
    header, entry_point = signature
    examples = sections.get("examples", sections.get("example", "")).strip()
    return Problem(
        id=problem_id,
        slot=combo.slot,
        concept_ids=tuple(combo.concept_ids),
        statement=statement,
        signature=header,
        entry_point=entry_point,
        examples=examples,
    )


def _sections(text: str) -> dict[str, str]:
    """Markdown sections keyed by heading word (problem, signature, examples)."""
    matches = list(HEADING.finditer(text))
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        key = match.group(1).lower()
        sections.setdefault(key, text[match.end() : end])
    return sections


def _signature(text: str) -> tuple[str, str] | None:
    """The first top-level function's `def` line(s), with the body elided, and its name."""
    for block in python_blocks(text) or [text]:
        tree = _parse_header(block)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                node.body = [ast.Expr(ast.Constant(...))]
                node.decorator_list = []
                header = ast.unparse(node).rsplit("\n", 1)[0]
                return header, node.name
    return None


def _parse_header(block: str) -> ast.Module | None:
    """Parse a block that may hold only `def f(...) -> T:` lines (no body)."""
    for candidate in (block, block.rstrip() + "\n    ..."):
        try:
            return ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
    return None


class NearDuplicateIndex:
    """Problems accepted so far in a run; finds near copies by Jaccard similarity of shingles."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 128, shingle: int = 3) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._exact: dict[str, str] = {}

    def _minhash(self, text: str) -> MinHash:
        words = re.findall(r"\w+", text.lower())
        shingles = {
            " ".join(words[i : i + self.shingle])
            for i in range(max(1, len(words) - self.shingle + 1))
        }
        minhash = MinHash(num_perm=self.num_perm, seed=1)
        for item in shingles:
            minhash.update(item.encode())
        return minhash

    def near_copy_of(self, text: str) -> str | None:
        """The key of an indexed problem this text nearly copies, or None."""
        normalised = " ".join(re.findall(r"\w+", text.lower()))
        if normalised in self._exact:
            return self._exact[normalised]
        matches = self._lsh.query(self._minhash(text))
        return sorted(matches)[0] if matches else None

    def add(self, key: str, text: str) -> None:
        normalised = " ".join(re.findall(r"\w+", text.lower()))
        self._exact.setdefault(normalised, key)
        if key not in self._lsh:
            self._lsh.insert(key, self._minhash(text))


def problem_id(seed: int, slot: int) -> str:
    return stable_id("problem", seed, slot)
