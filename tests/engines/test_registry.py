"""The engine registry: settings name an engine, `open_engine` builds it lazily and
`check_engine` checks what the settings name without loading a model."""

from __future__ import annotations

import json

import pytest

from synth.engines.registry import ENGINES, EngineSettings, check_engine, open_engine
from synth.engines.replay import RecordingEngine, ReplayEngine
from synth.errors import SynthError


def test_every_kind_the_cli_and_job_specs_name_is_registered():
    assert set(ENGINES) == {"vllm", "openai", "replay", "python"}


def test_an_unknown_kind_is_refused_naming_the_choices():
    with pytest.raises(SynthError, match="engine: unknown engine 'llama'.*vllm, openai"):
        open_engine(EngineSettings(engine="llama"))


def test_replay_settings_are_checked_and_opened(tmp_path):
    with pytest.raises(SynthError, match="replay: the replay engine needs the recorded file"):
        check_engine(EngineSettings(engine="replay"))
    with pytest.raises(SynthError, match="^replay: "):
        check_engine(EngineSettings(engine="replay", replay=str(tmp_path / "none.jsonl")))
    recorded = tmp_path / "r.jsonl"
    recorded.write_text("")
    engine = open_engine(EngineSettings(engine="replay", replay=str(recorded)))
    assert isinstance(engine, ReplayEngine)
    wrapped = open_engine(
        EngineSettings(engine="replay", replay=str(recorded)), record=tmp_path / "out.jsonl"
    )
    assert isinstance(wrapped, RecordingEngine)


def test_an_unreachable_server_is_the_base_url_field():
    with pytest.raises(SynthError, match="^base_url: "):
        check_engine(EngineSettings(engine="openai", base_url="http://127.0.0.1:9/v1"))


def test_a_plugin_is_imported_by_check_and_called_with_the_settings_and_seed_by_open():
    settings = EngineSettings(engine="python", engine_factory="tests.engines.test_registry:plugin")
    check_engine(settings)
    opened = open_engine(settings, seed=7)
    assert (opened.settings, opened.seed) == (settings, 7)
    for factory, why in [("nowhere:thing", "cannot load it"), ("json", "not 'module:callable'")]:
        with pytest.raises(SynthError, match=f"engine_factory: .*{why}"):
            check_engine(EngineSettings(engine="python", engine_factory=factory))
    with pytest.raises(SynthError, match="is not callable"):
        check_engine(
            EngineSettings(engine="python", engine_factory="tests.engines.test_registry:NOT")
        )


def test_a_vllm_model_path_that_does_not_exist_is_the_model_field(tmp_path):
    with pytest.raises(SynthError, match="^model: no model at"):
        check_engine(EngineSettings(model=str(tmp_path / "nothing")))
    check_engine(EngineSettings(model="tiny"))  # a registry name: nothing to check on disk


NOT = json.dumps({})


class _Plugin:
    def __init__(self, settings: EngineSettings, seed: int) -> None:
        self.settings = settings
        self.seed = seed


def plugin(settings: EngineSettings, seed: int) -> _Plugin:
    return _Plugin(settings, seed)
