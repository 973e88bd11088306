"""Session fixtures: the sandbox, the tiny model, one vLLM engine and one S3-compatible
object store for the whole session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def object_store_server():
    from tests.services import ObjectStoreServer

    server = ObjectStoreServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def object_store(object_store_server, monkeypatch):
    """The session's object store, with this process's (and its children's) environment
    pointing s3fs at it, as a user's AWS_* variables would."""
    for name, value in object_store_server.env.items():
        monkeypatch.setenv(name, value)
    return object_store_server


@pytest.fixture(scope="session")
def sandbox():
    """The bubblewrap sandbox; fails loudly (never skips) when bubblewrap does not work here."""
    from synth.sandbox import bubblewrap_works, get_sandbox

    works, why = bubblewrap_works()
    assert works, f"bubblewrap does not run here: {why}"
    backend = get_sandbox("bubblewrap")
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def docker_sandbox():
    """The Docker pool, one per session. A machine without a Docker engine or the images
    fails the tests that use it, with the reason (`make test` installs and builds what they
    need); nothing is skipped."""
    from synth.sandbox import get_sandbox

    backend = get_sandbox("docker", pool_size=2)
    for language in ("python", "javascript", "cpp", "rust", "go", "java", "php"):
        backend.image_ready(language)  # names `synth sandbox build` when one is missing
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The tiny random Llama (a few seconds to build), built once per session into
    $SYNTH_TEST_CACHE when set (reused across sessions), else a session temp directory."""
    from pathlib import Path

    from synth.models.tiny import build_tiny_model

    cache = os.environ.get("SYNTH_TEST_CACHE")
    root = Path(cache) if cache else tmp_path_factory.mktemp("models")
    return build_tiny_model(root / "tiny-llama")


@pytest.fixture(scope="session")
def vllm_engine(tiny_model):
    """One real vLLM engine on the tiny model for the whole session (starting one takes
    30-60 s on two cores), closed at the end."""
    from synth.engines.vllm_local import VLLMConfig, VLLMEngine

    engine = VLLMEngine(VLLMConfig(model=str(tiny_model), max_model_len=2048))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def real_model():
    """Qwen2.5-Coder-0.5B-Instruct from the registry, in the synth cache (~/.cache/synth or
    $SYNTH_CACHE): fetched, verified and converted on the first session of a machine, then
    reused by every later one."""
    from synth.models.registry import DEFAULT_MODEL, ensure_model

    return ensure_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def real_engine(real_model):
    """One vLLM engine on the real model for the module that uses it (two to four minutes
    to start on two cores), closed when that module ends, with a KV cache of its own size:
    the tests after it start engines of their own beside the session's tiny one."""
    from synth.engines.vllm_local import VLLMConfig, VLLMEngine
    from synth.models.registry import converted_dtype

    engine = VLLMEngine(
        VLLMConfig(
            model=str(real_model),
            dtype=converted_dtype(str(real_model)),
            seed=0,
            kv_cache_gib=1.0,  # ~87k tokens: 16 sequences of the longest prompts and answers
        )
    )
    yield engine
    engine.close()
