"""Completions recorded from the real model (Qwen2.5-Coder-0.5B-Instruct through vLLM on
CPU, `synth generate --record`), read by synth's parsers.

The problem completions were recorded when the schema bounded only the fields' lengths; the
answers the parser still refuses are exactly the ones the current schema's grammar (a
minimum statement length, a one-line `def` signature) makes impossible to write.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from synth.code.problems import PROBLEM_SCHEMA, parse_problem
from synth.engines.base import Completion
from synth.records import Problem, Rejection, SkillCombo

FIXTURES = Path(__file__).parents[1] / "fixtures" / "real"


def _recorded(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line]


def test_recorded_problems_parse_or_are_what_the_grammar_now_forbids():
    recorded = _recorded("qwen0.5b-code-problems.jsonl")
    assert len(recorded) == 16
    combo = SkillCombo(slot=0, concepts=())
    parsed = []
    for entry in recorded:
        result = parse_problem(Completion(text=entry["text"], finish_reason="stop"), combo, "p")
        if isinstance(result, Problem):
            parsed.append(result)
            assert result.signature.startswith("def ") and result.signature.endswith(":")
            continue
        assert isinstance(result, Rejection) and result.reason in {"empty", "unparseable"}
        answer = json.loads(entry["text"])
        try:
            jsonschema.validate(answer, PROBLEM_SCHEMA)
        except jsonschema.ValidationError:
            continue  # the grammar now rules this answer out
        raise AssertionError(f"a schema-valid answer was refused: {result}: {entry['text'][:200]}")
    # a signature without its colon, with a one-line body or a body cut short still reads
    assert len(parsed) == 13
    names = {p.entry_point for p in parsed}
    assert {"count_n_queens", "binary_search", "parse_csv", "circular_buffer"} <= names


def test_recorded_tests_are_read_whatever_their_shape():
    """15 test completions for the problems above (max_tokens 1536): three looped to the
    limit, several define the solution themselves or repeat asserts."""
    from synth.code.tests import read_tests
    from synth.records import TestSuite

    recorded = _recorded("qwen0.5b-code-tests.jsonl")
    assert len(recorded) == 15
    suites = []
    for entry in recorded:
        result = read_tests(entry["text"], entry["finish_reason"], entry["entry_point"])
        if not isinstance(result, TestSuite):
            assert entry["finish_reason"] == "length" and result.reason == "tests_truncated"
            continue
        suites.append(result)
        assert result.truncated == (entry["finish_reason"] == "length")
        name = entry["entry_point"]
        # the model's own solution is never part of the tests that will judge others
        assert f"def {name}(" not in result.setup
        assert all(f"def {name}(" not in case.source for case in result.cases)
        sources = [case.source for case in result.cases]
        assert len(sources) == len(set(sources))
        assert all(name in case.source for case in result.cases)
    assert len(suites) >= 14  # the usable share the issue asks for is 90%
    reasons = [d.reason for s in suites for d in s.dropped]
    assert reasons.count("solution_in_tests") >= 5 and "duplicate" in reasons
    # a completion that looped to the token limit still gives its finished asserts
    assert any(s.truncated and len(s.cases) >= 3 for s in suites)
