"""The in-process vLLM engine on the tiny model: the plumbing a real model relies on."""

from __future__ import annotations

import pytest

from synth.engines.base import ChatRequest, system, user
from synth.engines.vllm_local import VLLMConfig, VLLMEngine
from synth.errors import SynthError

pytestmark = pytest.mark.slow


def request(text: str, **options) -> ChatRequest:
    return ChatRequest(messages=(user(text),), **{"max_tokens": 32, "seed": 1, **options})


def test_a_batch_returns_n_completions_per_request_in_order(vllm_engine):
    requests = [request("first", n=1), request("second request", n=3), request("third", n=2)]
    results = vllm_engine.chat(requests)
    assert [len(r) for r in results] == [1, 3, 2]
    # prompts of different lengths: each result belongs to its own request
    assert [r[0].prompt_tokens for r in results] == [vllm_engine.prompt_tokens(q) for q in requests]
    assert results[0][0].prompt_tokens < results[1][0].prompt_tokens


def test_the_chat_template_is_applied(vllm_engine, tiny_model):
    from transformers import AutoTokenizer

    messages = (system("You write Python."), user("def f(x):"))
    result = vllm_engine.chat([ChatRequest(messages=messages, max_tokens=4)])[0][0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer.apply_chat_template(
        [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=True
    )["input_ids"]
    assert result.prompt_tokens == len(ids)
    assert tokenizer.decode(ids).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_token_accounting_and_the_length_finish_reason(vllm_engine):
    results = vllm_engine.chat([request("count", n=4, max_tokens=7, temperature=1.0)])[0]
    for completion in results:
        assert 1 <= completion.completion_tokens <= 7
        if completion.finish_reason == "length":
            assert completion.completion_tokens == 7
    assert any(
        c.finish_reason == "length" for c in results
    )  # a random model rarely stops in 7 tokens


def test_same_seed_same_output_different_seed_differs(vllm_engine):
    def sample(seed: int) -> list[str]:
        return [
            c.text for c in vllm_engine.chat([request("go", n=2, seed=seed, temperature=1.0)])[0]
        ]

    assert sample(5) == sample(5)
    assert sample(5) != sample(6)
    greedy = [
        vllm_engine.chat([request("go", temperature=0.0, seed=None)])[0][0].text for _ in range(2)
    ]
    assert greedy[0] == greedy[1]


def test_an_overlong_prompt_fails_alone(vllm_engine):
    results = vllm_engine.chat([request("ok"), request("word " * 3000, n=2), request("fine")])
    assert [c.finish_reason for c in results[1]] == ["error", "error"]
    assert "exceeds max_model_len" in results[1][0].error
    assert results[0][0].finish_reason != "error" and results[2][0].finish_reason != "error"


def test_a_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(SynthError, match="not a model directory"):
        VLLMEngine(VLLMConfig(model=str(tmp_path)))


def test_a_large_batch_of_seeded_long_prompts_completes(vllm_engine):
    """Regression: on CPU, chunking the prefill of a seeded request killed vLLM's engine."""
    requests = [request(f"lorem ipsum {i} " * 120, n=2, max_tokens=8, seed=i) for i in range(24)]
    results = vllm_engine.chat(requests)
    assert [len(r) for r in results] == [2] * 24
    assert all(c.finish_reason != "error" and c.completion_tokens > 0 for r in results for c in r)
