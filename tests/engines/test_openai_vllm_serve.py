"""The HTTP engine against a real `vllm serve` on the tiny model (what users deploy)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest

from synth.engines.base import ChatRequest, user
from synth.engines.openai_http import OpenAIConfig, OpenAIEngine

pytestmark = pytest.mark.slow
STARTUP_LIMIT_S = 420


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("serve") / "vllm-serve.log"
    # `vllm serve` is this module; the CPU wheel's `vllm` script looks up the GPU
    # distribution's metadata, so the module is started directly.
    with log.open("w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                str(tiny_model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--served-model-name",
                "tiny",
                "--max-model-len",
                "2048",
                "--gpu-memory-utilization",
                "0.3",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_LIMIT_S
    try:
        while True:  # poll the health endpoint: the server says when it is ready
            assert process.poll() is None, f"vllm serve exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"vllm serve not ready: {log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(1)
        yield f"{url}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def test_batch_with_n_samples_through_vllm_serve(vllm_server):
    engine = OpenAIEngine(OpenAIConfig(base_url=vllm_server, model="tiny", timeout_s=60))
    engine.check()
    requests = [
        ChatRequest(messages=(user(f"question {i}"),), n=2, max_tokens=12, seed=i) for i in range(5)
    ]
    results = engine.chat(requests)
    assert [len(r) for r in results] == [2] * 5
    for completions in results:
        assert all(c.finish_reason in ("stop", "length") and not c.error for c in completions)
        assert sum(c.completion_tokens for c in completions) > 0
        assert all(c.prompt_tokens > 5 for c in completions)
    again = engine.chat(requests[:1])[0]
    assert [c.text for c in again] == [c.text for c in results[0]]  # seeded: reproducible
    engine.close()
