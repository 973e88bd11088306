"""A resume compares run.json by meaning: the same file under another spelling resumes, an
edited input file is refused by name, URLs stay URLs, and old run directories still resume."""

from __future__ import annotations

import logging
import os
import re
import shutil

import pytest

from synth.code.static import LintConfig
from synth.engines.registry import EngineSettings
from synth.errors import SynthError
from synth.pipelines.settings import RunSettings
from synth.resume import LATER_SETTINGS, check_settings, describe_input, resolved, sha256_of
from synth.run import generate_settings
from synth.sandbox.base import Limits
from synth.store import RunStore


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A working directory holding a taxonomy, a problems file and a system prompts file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tax.yaml").write_text("name: t\nareas: []\n")
    (tmp_path / "problems.jsonl").write_text('{"problem": "1 + 1?", "answer": "2"}\n')
    (tmp_path / "prompts.yaml").write_text("prompts: [{name: terse, text: Be terse.}]\n")
    return tmp_path


def settings_for(taxonomy, config: RunSettings | None = None, **inputs) -> dict:
    """run.json as `synth generate` writes it for these inputs (the default engine)."""
    engine = EngineSettings()
    settings = generate_settings(config or RunSettings(), taxonomy, "code", **inputs)
    return {**settings, "model": engine.model, "engine": engine.engine}


def started(tmp_path, settings: dict) -> RunStore:
    store = RunStore(tmp_path / "run")
    store.write_settings(settings)
    return store


def test_the_same_files_under_other_paths_resume(files):
    store = started(
        files,
        settings_for(
            files / "tax.yaml",
            problems_from=str(files / "problems.jsonl"),
            system_prompts_file=files / "prompts.yaml",
        ),
    )
    os.symlink(files / "tax.yaml", files / "link.yaml")
    (files / "sub").mkdir()
    # the same bytes copied elsewhere are the same taxonomy: inputs compare by content
    shutil.copy(files / "tax.yaml", files / "sub" / "copy.yaml")
    for taxonomy in ("tax.yaml", "./sub/../tax.yaml", "link.yaml", "sub/copy.yaml"):
        check_settings(
            store,
            settings_for(
                taxonomy,
                problems_from="problems.jsonl",
                system_prompts_file="prompts.yaml",
            ),
        )
    recorded = store.read_settings()
    assert recorded["taxonomy"] == str(files / "tax.yaml")
    assert recorded["inputs"]["taxonomy"] == {
        "path": str(files / "tax.yaml"),
        "sha256": sha256_of(files / "tax.yaml"),
    }
    assert set(recorded["inputs"]) == {"taxonomy", "problems_from", "system_prompts"}


@pytest.mark.parametrize("edited", ["tax.yaml", "problems.jsonl", "prompts.yaml"])
def test_an_input_file_edited_since_the_start_is_refused_by_name(files, edited):
    def now():
        return settings_for(
            "tax.yaml", problems_from="problems.jsonl", system_prompts_file="prompts.yaml"
        )

    store = started(files, now())
    before = sha256_of(files / edited)
    with (files / edited).open("a") as handle:
        handle.write("\n# edited\n")
    with pytest.raises(SynthError) as caught:
        check_settings(store, now())
    message = str(caught.value)
    assert str(files / edited) in message and "changed since the run started" in message
    assert before[:12] in message and sha256_of(files / edited)[:12] in message
    assert "sha256" in message and before not in message  # short hashes, not whole ones


def test_a_problems_run_directory_is_compared_by_location_not_hashed(files):
    (files / "source-run").mkdir()
    store = started(files, settings_for("tax.yaml", problems_from=str(files / "source-run")))
    assert store.read_settings()["inputs"]["problems_from"] == {"path": str(files / "source-run")}
    check_settings(store, settings_for("tax.yaml", problems_from="source-run"))
    (files / "other-run").mkdir()
    with pytest.raises(SynthError, match="problems_from: stored .*source-run.*other-run"):
        check_settings(store, settings_for("tax.yaml", problems_from="other-run"))
    with pytest.raises(SynthError, match="problems_from: stored .*source-run.*given None"):
        check_settings(store, settings_for("tax.yaml"))


def test_urls_are_never_resolved_as_local_paths(files):
    url = "s3://bucket/runs/source"
    assert resolved(url) == url
    assert describe_input(url) == {"path": url}
    assert resolved("file://" + str(files / "tax.yaml")) == str(files / "tax.yaml")
    store = started(files, settings_for("tax.yaml", problems_from=url))
    assert store.read_settings()["problems_from"] == url
    check_settings(store, settings_for("tax.yaml", problems_from=url))
    with pytest.raises(SynthError, match="problems_from"):
        check_settings(store, settings_for("tax.yaml", problems_from="s3://bucket/runs/other"))


def test_other_settings_still_have_to_match(files):
    store = started(files, settings_for("tax.yaml"))
    changed = {**settings_for("tax.yaml"), "seed": 5}
    with pytest.raises(SynthError, match="seed: stored 0, given 5"):
        check_settings(store, changed)
    check_settings(store, {**settings_for("tax.yaml"), "problems": 100})  # may grow


@pytest.mark.parametrize(
    ("changed", "named"),
    [
        (RunSettings(limits=Limits(timeout_s=3)), "limits.timeout_s: stored 10.0, given 3.0"),
        (RunSettings(limits=Limits(memory_mb=4096)), "limits.memory_mb: stored 1024, given 4096"),
        (RunSettings(lint=LintConfig(tampering=())), "lint.tampering: stored ["),
        (
            RunSettings(near_duplicate_threshold=0.9),
            "near_duplicate_threshold: stored 0.7, given 0.9",
        ),
        (RunSettings(answer_timeout_s=1.0), "answer_timeout_s: stored 5.0, given 1.0"),
    ],
)
def test_every_setting_that_changes_the_data_is_compared_by_name(files, changed, named):
    """Sandbox limits and lint rules decide what passes, the threshold and the answer
    timeout what is kept: a resume under other values would mix two runs' data."""
    store = started(files, settings_for("tax.yaml"))
    check_settings(store, settings_for("tax.yaml", RunSettings()))  # as written: resumes
    with pytest.raises(SynthError, match=re.escape(named)):
        check_settings(store, settings_for("tax.yaml", changed))


def test_a_run_from_before_those_settings_were_recorded_resumes_with_a_warning(files, caplog):
    old = {k: v for k, v in settings_for("tax.yaml").items() if k not in LATER_SETTINGS}
    store = started(files, old)
    with caplog.at_level(logging.WARNING, logger="synth.resume"):
        check_settings(store, settings_for("tax.yaml", RunSettings(limits=Limits(timeout_s=3))))
    assert "does not record limits, lint, near_duplicate_threshold, answer_timeout_s" in (
        caplog.text
    )
    # the resume records them (run.py writes run.json after the check): from then on, checked
    store.write_settings(settings_for("tax.yaml", RunSettings(limits=Limits(timeout_s=3))))
    with pytest.raises(SynthError, match="limits.timeout_s: stored 3.0, given 10.0"):
        check_settings(store, settings_for("tax.yaml"))
    with pytest.raises(SynthError, match="seed: stored 0, given 1"):  # the rest as before
        check_settings(store, {**settings_for("tax.yaml"), "seed": 1})


def test_a_run_from_before_max_attempts_was_named_so_resumes_and_is_compared(files):
    """run.json recorded the knob of correction attempts as `max_rounds` before "rounds"
    came to mean training rounds: read under its new name, with the other settings as
    an earlier synth wrote them (no system prompts was null)."""
    current = settings_for("tax.yaml")
    old = {k: v for k, v in current.items() if k != "max_attempts"} | {"max_rounds": 3}
    assert current["system_prompts"] is None  # as earlier run.json files hold it
    store = started(files, old)
    check_settings(store, current)
    with pytest.raises(SynthError, match="max_attempts: stored 3, given 2"):
        check_settings(store, settings_for("tax.yaml", RunSettings(max_attempts=2)))


def test_an_old_run_without_hashes_resumes_with_a_warning(files, caplog):
    """run.json as synth wrote it before the hashes: locations as given, no `inputs`."""
    old = {key: value for key, value in settings_for("tax.yaml").items() if key != "inputs"} | {
        "taxonomy": "tax.yaml",
        "problems_from": None,
    }
    store = started(files, old)
    with caplog.at_level(logging.WARNING, logger="synth.resume"):
        check_settings(store, settings_for(files / "tax.yaml"))
    assert "no hashes" in caplog.text and "cannot be checked" in caplog.text
    (files / "other.yaml").write_text("name: t\nareas: []\n")
    with pytest.raises(SynthError, match="taxonomy: stored 'tax.yaml'"):
        check_settings(store, settings_for("other.yaml"))


def test_a_corrupt_inputs_record_is_named(files):
    store = started(files, {**settings_for("tax.yaml"), "inputs": ["tax.yaml"]})
    with pytest.raises(SynthError, match="run.json: inputs: not the mapping synth writes"):
        check_settings(store, settings_for("tax.yaml"))
