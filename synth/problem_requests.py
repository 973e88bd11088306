"""Asking a model for a problem, shared by the code and math pipelines.

The request that asks for a problem from sampled skills (each domain has its own
template), the check that a completion is usable at all, and reading a JSON answer. The
near-duplicate index that rejects a problem too close to an earlier one is
synth.near_duplicates.

Structured output and old recordings: a problem request carries two renderings of its
template. `messages` is the Markdown-sections prompt, rendered with `structured=False` to
exactly the text it always had, so its replay key is unchanged and every recording made
before schemas still answers it. `structured_messages` (the template with
`structured=True`) asks for a JSON object, and goes out, with the schema, only from an
engine that enforces the schema (vLLM, an OpenAI-compatible server); such an engine's
recordings are keyed by that conversation and the schema. The pipeline never needs to know
which engine it has: each domain's parser reads a JSON answer first and falls back to the
Markdown sections.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from synth.engines.base import ChatRequest, Completion, user
from synth.prompts import render
from synth.records import Rejection, SkillCombo


def skill_problem_request(
    template: str,
    combo: SkillCombo,
    *,
    seed: int,
    temperature: float = 1.0,
    schema: dict | None = None,
) -> ChatRequest:
    """Ask for one problem exercising the combo's concepts, with the domain's template.

    With a `schema`, the template's `structured=True` rendering (asking for JSON) is the
    conversation an engine that enforces schemas sends; the plain one is unchanged."""
    structured = None
    if schema is not None:
        structured = (user(render(template, concepts=combo.concepts, structured=True)),)
    return ChatRequest(
        messages=(user(render(template, concepts=combo.concepts, structured=False)),),
        n=1,
        temperature=temperature,
        max_tokens=1024,
        seed=seed,
        tag="problem",
        json_schema=schema,
        structured_messages=structured,
    )


def string_fields_schema(
    max_lengths: dict[str, int], constraints: dict[str, dict] | None = None
) -> dict:
    """A JSON schema for an object of required string fields, in this order, each at most
    `max_lengths[name]` characters: the bound closes a string a looping model would
    otherwise fill to max_tokens. `constraints[name]` adds JSON-schema string keywords
    (minLength, pattern) to a field; no nesting, so grammar backends compile it quickly."""
    constraints = constraints or {}
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "maxLength": limit, **constraints.get(name, {})}
            for name, limit in max_lengths.items()
        },
        "required": list(max_lengths),
        "additionalProperties": False,
    }


_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n(.*?)```", re.S | re.I)


@dataclass(frozen=True)
class JSONAnswer:
    """What `json_answer` found: the object with the wanted fields, or why none was read."""

    fields: dict | None = None
    error: str = ""


def json_answer(text: str, wanted: tuple[str, ...]) -> JSONAnswer:
    """The JSON object in a model's answer that has at least one of the `wanted` keys: the
    whole answer, a ```json fence, or the first such object inside prose. `error` says why
    nothing was read when the answer looked like JSON (a `{` or a json fence) but did not
    parse; it is empty when the answer is not JSON at all (then try Markdown)."""
    candidates = [text.strip()] + [block.strip() for block in _FENCE.findall(text)]
    # strict=False: raw newlines and tabs inside strings are read, as some grammar backends
    # let a model write them (xgrammar's length-bounded strings do)
    decoder = json.JSONDecoder(strict=False)
    error = ""
    for candidate in candidates:
        try:
            value = decoder.decode(candidate)
        except ValueError as exc:
            if candidate.startswith("{"):
                error = error or f"invalid JSON: {exc}"
            continue
        if isinstance(value, dict) and any(key in value for key in wanted):
            return JSONAnswer(fields=value)
    # an object inside prose: decode from each '{' (raw_decode ignores what follows)
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError as exc:
            if not error and re.match(r'\{\s*"', text[match.start() :]):
                error = f"invalid JSON: {exc}"
            continue
        if isinstance(value, dict) and any(key in value for key in wanted):
            return JSONAnswer(fields=value)
    return JSONAnswer(error=error)


def string_field(fields: dict, name: str) -> str | Rejection:
    """A required string field of a JSON answer, stripped, or the rejection saying why not."""
    if name not in fields:
        return Rejection(reason="unparseable", detail=f"JSON answer has no '{name}' field")
    value = fields[name]
    if not isinstance(value, str):
        kind = type(value).__name__
        return Rejection(
            reason="unparseable", detail=f"JSON field '{name}' is a {kind}, not a string"
        )
    return value.strip()


def unusable(completion: Completion) -> Rejection | None:
    """Why a problem completion cannot be read at all (engine error, cut off), or None."""
    if completion.finish_reason == "error":
        return Rejection(reason="engine_error", detail=completion.error)
    if completion.finish_reason == "length":
        return Rejection(reason="truncated", detail="the problem was cut off at max_tokens")
    return None
