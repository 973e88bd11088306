"""Which engine a run uses: one small typed record, and a dict of lazy constructors.

`EngineSettings` is what `synth generate`, `synth eval`, a fleet job spec and rounds.yaml
say about the engine (its fields are their flags and keys: `engine`, `model`, `base_url`,
...); `open_engine(settings, seed=...)` builds it and `check_engine(settings)` checks what
it names without loading a model (the replay file parses, the server answers, the plug-in
imports). Each backend is imported only when chosen, so using one never imports
the others' dependencies (vLLM takes seconds to import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from synth.engines.base import Engine
from synth.errors import SynthError
from synth.models.registry import DEFAULT_MODEL

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


class EngineSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: str = Field(
        "vllm",
        description="vllm (in process), openai (an OpenAI-compatible server), replay (recorded "
        "completions), python (a plug-in: engine_factory).",
    )
    model: str = Field(
        DEFAULT_MODEL,
        description="A known model's name (synth model list), a checkpoint directory, a hub "
        "id, or 'tiny' (the random test model).",
    )
    base_url: str = Field(DEFAULT_BASE_URL, description="openai engine: the server's /v1 URL.")
    replay: str | None = Field(None, description="replay engine: the recorded JSONL file.")
    engine_factory: str | None = Field(
        None,
        description='python engine: "module:callable", called with these settings '
        "(synth.engines.registry.EngineSettings) and the run's seed.",
    )
    max_model_len: int = Field(4096, ge=16, description="vllm engine: context length.")
    gpu_memory_utilization: float | None = Field(
        None,
        gt=0,
        le=1,
        description="vllm engine: share of accelerator memory (default 0.9 on GPU; on CPU the "
        "KV cache size decides).",
    )
    kv_cache_gib: float | None = Field(
        None,
        gt=0,
        description="vllm engine: KV cache size in GiB instead of a share of memory "
        "(default 2 on CPU).",
    )


@dataclass(frozen=True)
class Backend:
    open: Callable[[EngineSettings, int], Engine]  # (settings, the run's seed)
    check: Callable[[EngineSettings], None]  # raises SynthError naming the field at fault


def _open_vllm(settings: EngineSettings, seed: int) -> Engine:
    from synth.engines.vllm_local import VLLMConfig, VLLMEngine
    from synth.models.registry import converted_dtype, resolve_model

    model = resolve_model(settings.model)
    return VLLMEngine(
        VLLMConfig(
            model=model,
            dtype=converted_dtype(model),
            seed=seed,
            max_model_len=settings.max_model_len,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            kv_cache_gib=settings.kv_cache_gib,
        )
    )


def _check_vllm(settings: EngineSettings) -> None:
    if settings.model.startswith(("/", "./")) and not Path(settings.model).exists():
        raise SynthError("model", f"no model at {settings.model!r}")


def _open_openai(settings: EngineSettings, seed: int = 0) -> Engine:
    from synth.engines.openai_http import OpenAIConfig, OpenAIEngine

    engine = OpenAIEngine(OpenAIConfig(base_url=settings.base_url, model=settings.model))
    engine.check()
    return engine


def _check_openai(settings: EngineSettings) -> None:
    try:
        _open_openai(settings).close()
    except SynthError as exc:
        raise SynthError("base_url", str(exc)) from None


def _check_replay(settings: EngineSettings) -> None:
    _open_replay(settings).close()


def _open_replay(settings: EngineSettings, seed: int = 0) -> Engine:
    from synth.engines.replay import ReplayEngine

    if settings.replay is None:
        raise SynthError(
            "replay", "the replay engine needs the recorded file", "pass --replay FILE"
        )
    try:
        return ReplayEngine(settings.replay)
    except SynthError as exc:
        raise SynthError("replay", str(exc)) from None


def _open_plugin(settings: EngineSettings, seed: int) -> Engine:
    return plugin_factory(settings)(settings, seed)


def _check_plugin(settings: EngineSettings) -> None:
    plugin_factory(settings)


def plugin_factory(settings: EngineSettings) -> Callable[[EngineSettings, int], Engine]:
    """The callable a `python` engine names (a custom backend), imported, not called."""
    module, _, name = (settings.engine_factory or "").partition(":")
    if not module or not name:
        raise SynthError("engine_factory", f"{settings.engine_factory!r} is not 'module:callable'")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SynthError("engine_factory", f"cannot load it: {exc}") from None
    if not callable(factory):
        raise SynthError("engine_factory", f"{settings.engine_factory!r} is not callable")
    return factory


ENGINES: dict[str, Backend] = {
    "vllm": Backend(open=_open_vllm, check=_check_vllm),
    "openai": Backend(open=_open_openai, check=_check_openai),
    "replay": Backend(open=_open_replay, check=_check_replay),
    "python": Backend(open=_open_plugin, check=_check_plugin),
}


def _backend(settings: EngineSettings) -> Backend:
    backend = ENGINES.get(settings.engine)
    if backend is None:
        raise SynthError(
            "engine", f"unknown engine {settings.engine!r}", f"choose one of {', '.join(ENGINES)}"
        )
    return backend


def check_engine(settings: EngineSettings) -> None:
    """Check what the settings name, loading no model; raises SynthError."""
    _backend(settings).check(settings)


def open_engine(
    settings: EngineSettings, seed: int = 0, record: str | Path | None = None
) -> Engine:
    """The engine the settings name (vLLM loads its model here; `seed` is the run's), and,
    with `record`, every completion it gives also appended to that JSONL file."""
    engine = _backend(settings).open(settings, seed)
    if record is not None:
        from synth.engines.replay import RecordingEngine

        engine = RecordingEngine(engine, Path(record))
    return engine
