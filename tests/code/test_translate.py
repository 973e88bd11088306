"""Translation of verified Python records into other languages, with a scripted engine and
the real Docker sandboxes: corrections, vacuous tests, garbage, storage and resume."""

from __future__ import annotations

import pytest

from synth.code.sources import Source
from synth.code.stubs import stub_translation
from synth.code.translate import split_translation, translation_record_id
from synth.engines.scripted import ScriptedEngine
from synth.export import ExportOptions, export_dataset, read_split
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import TranslateSettings
from synth.pipelines.translate import TranslatePipeline
from synth.records import Problem, TestCase, TestSuite
from synth.store import RunStore
from tests.sandbox.programs import CASES

pytestmark = [pytest.mark.sandbox, pytest.mark.docker]

SOURCE = Source(
    record_id="rec-add",
    problem=Problem(
        id="p-add",
        slot=0,
        concept_ids=("arithmetic",),
        statement="Return the sum of two integers.",
        signature="def add(a: int, b: int) -> int:",
        entry_point="add",
    ),
    code=CASES["python"].right,
    tests=CASES["python"].tests,
    suite=TestSuite(
        problem_id="p-add",
        cases=(
            TestCase(name="t1", source="assert add(1, 2) == 3"),
            TestCase(name="t2", source="assert add(-1, 1) == 0"),
        ),
    ),
)


def translate_run(sources, engine, sandbox, store, settings: TranslateSettings):
    return run_here(TranslatePipeline(sources, settings), engine, sandbox, store)


def blocks(tag: str, solution: str, tests: str) -> str:
    return f"Here it is.\n\n```{tag}\n{solution}```\n\nAnd the tests:\n\n```{tag}\n{tests}```\n"


def target_of(request) -> str:
    first = request.messages[0].content
    return next(
        lang
        for lang in ("cpp", "rust", "go", "java", "php", "javascript")
        if f"```{lang} blocks" in first
    )


def test_a_translation_that_does_not_compile_is_corrected_in_round_2(docker_sandbox, tmp_path):
    def respond(request, index):
        if len(request.messages) == 1:  # round 1: a missing semicolon
            return blocks("cpp", CASES["cpp"].broken, CASES["cpp"].tests)
        assert "does not compile" in request.messages[-1].content
        assert "error" in request.messages[-1].content  # the compiler's own words
        return blocks("cpp", CASES["cpp"].right, CASES["cpp"].tests)

    store = RunStore(tmp_path / "run")
    stats = translate_run(
        [SOURCE],
        ScriptedEngine(respond),
        docker_sandbox,
        store,
        TranslateSettings(languages=("cpp",)),
    )
    (record,) = list(store.records())
    assert (record.status, record.kind, record.problem.language) == ("verified", "translate", "cpp")
    assert record.source.record_id == "rec-add" and record.source.code == SOURCE.code
    attempts = record.trajectories[0].attempts
    assert [a.verdict.stage for a in attempts] == ["compile", "ok"]
    assert "fail a default-value stub" in attempts[-1].verdict.detail
    assert (stats.records_verified, stats.samples, stats.trajectories_corrected) == (1, 2, 1)


def test_translated_tests_that_check_nothing_are_rejected(docker_sandbox, tmp_path):
    vacuous = "fn main() {\n    let _ = add(1, 2);\n}\n"
    engine = ScriptedEngine(lambda request, index: blocks("rust", CASES["rust"].right, vacuous))
    store = RunStore(tmp_path / "run")
    translate_run(
        [SOURCE],
        engine,
        docker_sandbox,
        store,
        TranslateSettings(languages=("rust",), max_attempts=2),
    )
    (record,) = list(store.records())
    assert record.status == "rejected"
    assert [a.verdict.reason for a in record.trajectories[0].attempts] == ["tests_vacuous"] * 2
    assert "returns a default value" in engine.requests[-1].messages[-1].content
    assert record.rejection_keys() == ["solution/tests_vacuous"]


def test_garbage_is_rejected_with_a_reason_and_the_run_resumes(docker_sandbox, tmp_path):
    engine = ScriptedEngine(lambda request, index: "I cannot do that.")
    store = RunStore(tmp_path / "run")
    config = TranslateSettings(languages=("go", "php"), max_attempts=1)
    translate_run([SOURCE], engine, docker_sandbox, store, config)
    reasons = {
        r.problem.language: r.trajectories[0].attempts[0].verdict.reason for r in store.records()
    }
    assert reasons == {"go": "no_code", "php": "no_code"}
    asked = len(engine.requests)
    translate_run([SOURCE], engine, docker_sandbox, store, config)  # everything is stored
    assert len(engine.requests) == asked
    assert store.ids() == {translation_record_id("rec-add", lang) for lang in ("go", "php")}


@pytest.mark.parametrize("language", sorted(set(CASES) - {"python"}))
def test_every_language_translation_passes_and_its_tests_fail_the_stub(
    docker_sandbox, tmp_path, language
):
    case = CASES[language]
    tag = {"cpp": "cpp", "javascript": "javascript"}.get(language, language)
    engine = ScriptedEngine(lambda request, index: blocks(tag, case.right, case.tests))
    store = RunStore(tmp_path / "run")
    translate_run([SOURCE], engine, docker_sandbox, store, TranslateSettings(languages=(language,)))
    (record,) = list(store.records())
    assert record.status == "verified", record.trajectories[0].attempts[-1].verdict
    assert stub_translation(language, case.right, "add") not in (None, case.right)


def test_split_translation_takes_the_two_blocks_of_the_language():
    text = "```python\nx = 1\n```\n```go\nA\n```\ntext\n```golang\nB\n```\n```go\nC\n```"
    assert split_translation(text, "go") == ("A\n", "B\n")
    assert split_translation("```go\nonly one\n```", "go") is None


def test_translations_export_with_their_kind_language_and_source(
    docker_sandbox, tmp_path, monkeypatch
):
    def respond(request, index):
        if len(request.messages) == 1:
            return blocks("go", CASES["go"].broken, CASES["go"].tests)
        return blocks("go", CASES["go"].right, CASES["go"].tests)

    store = RunStore(tmp_path / "run")
    translate_run(
        [SOURCE],
        ScriptedEngine(respond),
        docker_sandbox,
        store,
        TranslateSettings(languages=("go",)),
    )
    export_dataset(tmp_path / "run", tmp_path / "data", ExportOptions(validation_share=0))
    (row,) = read_split(tmp_path / "data", "train")
    assert (row["kind"], row["language"], row["corrected"]) == ("translate", "go", True)
    assert SOURCE.code.strip() in row["messages"][0]["content"]
    assert row["messages"][1]["content"].startswith("```go\n" + CASES["go"].right)
    card = (tmp_path / "data" / "README.md").read_text()
    assert "| translate | go | 1 |" in card
