"""Session fixtures: the sandbox, the tiny model and one vLLM engine for the whole session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def sandbox():
    """The bubblewrap sandbox; fails loudly (never skips) when bubblewrap does not work here."""
    from synth.sandbox import bubblewrap_works, get_sandbox

    works, why = bubblewrap_works()
    assert works, f"bubblewrap does not run here: {why}"
    backend = get_sandbox("bubblewrap")
    yield backend
    backend.close()
