"""The in-process vLLM engine on the tiny model: the plumbing a real model relies on.

The tiny model writes nonsense, so these tests check structure (order, counts, token
accounting, finish reasons, seeds, errors), never content.
"""

from __future__ import annotations

import json

import pytest

from synth.engines.base import ChatRequest, system, user
from synth.engines.vllm_local import VLLMConfig, VLLMEngine
from synth.errors import SynthError

pytestmark = pytest.mark.slow


def request(text: str, **options) -> ChatRequest:
    return ChatRequest(messages=(user(text),), **{"max_tokens": 32, "seed": 1, **options})


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def chat_template_length(tokenizer, messages) -> int:
    encoded = tokenizer.apply_chat_template(
        [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=True
    )
    return len(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def test_a_batch_returns_n_completions_per_request_in_order(vllm_engine, tokenizer):
    requests = [
        request("first", n=1),
        request("the second request, a longer one " * 4, n=3, temperature=1.0),
        request("third " * 9, n=1),
        request("fourth " * 20, n=3),
    ]
    results = vllm_engine.chat(requests)
    assert [len(r) for r in results] == [1, 3, 1, 3]
    # prompts of different lengths: each result belongs to its own request
    lengths = [chat_template_length(tokenizer, q.messages) for q in requests]
    assert len(set(lengths)) == 4
    for completions, length in zip(results, lengths, strict=True):
        assert all(c.prompt_tokens == length for c in completions)
        assert all(c.finish_reason in ("stop", "length") and not c.error for c in completions)
    assert len({c.text for c in results[1]}) > 1  # n samples, not one sample n times
    assert vllm_engine.chat([]) == []


def test_the_chat_template_is_applied(vllm_engine, tokenizer):
    messages = (system("You write Python."), user("def f(x):"))
    result = vllm_engine.chat([ChatRequest(messages=messages, max_tokens=4)])[0][0]
    assert result.prompt_tokens == chat_template_length(tokenizer, messages)
    ids = tokenizer.apply_chat_template(
        [m.model_dump() for m in messages], add_generation_prompt=True, tokenize=True
    )["input_ids"]
    text = tokenizer.decode(ids)
    assert text.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>")
    assert text.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_token_accounting_and_the_length_finish_reason(vllm_engine):
    results = vllm_engine.chat([request("count", n=4, max_tokens=7, temperature=1.0)])[0]
    for completion in results:
        assert 0 <= completion.completion_tokens <= 7
        if completion.finish_reason == "length":
            assert completion.completion_tokens == 7
    # a random model rarely stops within 7 tokens
    assert any(c.finish_reason == "length" for c in results)


def test_max_tokens_beyond_the_context_stops_at_max_model_len(vllm_engine):
    limit = vllm_engine.max_model_len
    ten, twenty = (vllm_engine.prompt_tokens(request("word " * k)) for k in (10, 20))
    per_word = (twenty - ten) // 10
    prompt = request("word " * (10 + (limit - 8 - ten) // per_word), max_tokens=limit)
    assert limit - 8 - per_word < vllm_engine.prompt_tokens(prompt) <= limit - 8
    result = vllm_engine.chat([prompt])[0][0]
    assert result.finish_reason in ("length", "stop")
    assert result.prompt_tokens + result.completion_tokens <= limit
    if result.finish_reason == "length":
        assert result.prompt_tokens + result.completion_tokens == limit


def test_stop_strings_reach_vllm(vllm_engine):
    greedy = request("stop here", temperature=0.0, max_tokens=24)
    text = vllm_engine.chat([greedy])[0][0].text
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    assert stop.strip(), f"greedy text too short to pick a stop string: {text!r}"
    stopped = vllm_engine.chat([greedy.model_copy(update={"stop": (stop,)})])[0][0]
    assert stopped.finish_reason == "stop"
    assert stop not in stopped.text and text.startswith(stopped.text)


def test_same_seed_same_output_different_seed_differs(vllm_engine):
    def sample(seed: int, temperature: float = 1.0) -> list[str]:
        results = vllm_engine.chat([request("go", n=2, seed=seed, temperature=temperature)])
        return [c.text for c in results[0]]

    assert sample(5) == sample(5)
    assert sample(5) != sample(6)
    assert sample(7, temperature=0.0) == sample(7, temperature=0.0)


def test_an_overlong_prompt_fails_alone(vllm_engine):
    results = vllm_engine.chat([request("ok"), request("word " * 3000, n=2), request("fine")])
    assert [len(r) for r in results] == [1, 2, 1]
    assert [c.finish_reason for c in results[1]] == ["error", "error"]
    assert "exceeds max_model_len" in results[1][0].error
    assert results[1][0].prompt_tokens > vllm_engine.max_model_len
    for completions in (results[0], results[2]):
        assert completions[0].finish_reason in ("stop", "length")
        assert completions[0].completion_tokens > 0


def test_a_request_vllm_refuses_fails_alone(vllm_engine, monkeypatch):
    # Under-measure one over-long prompt so it reaches vLLM, which refuses it while adding
    # the batch: the engine must retry the others one by one and fail that one alone.
    measure = vllm_engine.prompt_tokens
    monkeypatch.setattr(
        vllm_engine, "prompt_tokens", lambda r: 1 if r.tag == "refused" else measure(r)
    )
    refused = request("word " * 3000, tag="refused")
    results = vllm_engine.chat([request("ok"), refused, request("fine", n=2)])
    assert [len(r) for r in results] == [1, 1, 2]
    assert results[1][0].finish_reason == "error" and "vLLM refused" in results[1][0].error
    for completions in (results[0], results[2]):
        assert all(c.finish_reason in ("stop", "length") for c in completions)
    # the aborted first attempt leaves nothing behind in the engine
    assert [len(r) for r in vllm_engine.chat([request("again", n=2)])] == [2]


def test_a_large_batch_of_seeded_long_prompts_completes(vllm_engine):
    """Regression: on CPU, chunking the prefill of a seeded request killed vLLM's engine."""
    requests = [request(f"lorem ipsum {i} " * 120, n=2, max_tokens=8, seed=i) for i in range(24)]
    results = vllm_engine.chat(requests)
    assert [len(r) for r in results] == [2] * 24
    assert all(c.finish_reason != "error" and c.completion_tokens > 0 for r in results for c in r)


def test_name_is_the_model(vllm_engine, tiny_model):
    assert vllm_engine.name == str(tiny_model)


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(SynthError, match="not a model directory"):
        VLLMEngine(VLLMConfig(model=str(tmp_path)))
    with pytest.raises(SynthError, match="does not exist"):
        VLLMEngine(VLLMConfig(model=str(tmp_path / "nowhere")))
    with pytest.raises(SynthError, match="does not exist"):
        VLLMEngine(VLLMConfig(model="not/a/hub/id"))


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 24}, "count": {"type": "integer"}},
    "required": ["name", "count"],
    "additionalProperties": False,
}


def test_a_json_schema_makes_even_a_random_model_answer_valid_json(vllm_engine):
    """The tiny model writes nonsense; under the schema (guidance on vLLM's CPU build) every
    answer is strict JSON of that shape: escapes intact, no raw control characters."""
    requests = [
        request("tell me anything", json_schema=SCHEMA, max_tokens=300, seed=s, n=2)
        for s in range(4)
    ]
    for completions in vllm_engine.chat(requests):
        for completion in completions:
            assert completion.finish_reason == "stop", completion
            value = json.loads(completion.text)  # strict: control characters refused
            assert set(value) == {"name", "count"}, value
            assert isinstance(value["name"], str) and len(value["name"]) <= 24
            assert isinstance(value["count"], int)
    free = vllm_engine.chat([request("tell me anything", max_tokens=300, seed=0)])[0][0]
    assert not free.text.startswith('{"name":')  # the schema, not the model, made it JSON


def test_a_problem_request_is_answered_with_the_json_problem_shape(vllm_engine):
    from synth.code.problems import parse_problem, problem_request
    from synth.records import Concept, Problem, SkillCombo

    combo = SkillCombo(
        slot=0,
        concepts=(Concept(id="s", name="Sorting", description="sort", weight=1, path=("s",)),),
    )
    answer = vllm_engine.chat([problem_request(combo, seed=3)])[0][0]
    assert answer.finish_reason == "stop"
    assert list(json.loads(answer.text)) == ["statement", "signature", "examples"]
    parsed = parse_problem(answer, combo, "p0")  # nonsense fields, but read as JSON
    assert isinstance(parsed, Problem) or parsed.detail.startswith(
        ("JSON field 'signature'", "statement of")
    ), parsed


def test_penalties_and_the_schema_reach_vllm(vllm_engine):
    params = vllm_engine.sampling_params(
        request("x", repetition_penalty=1.3, frequency_penalty=0.4, json_schema=SCHEMA)
    )
    assert (params.repetition_penalty, params.frequency_penalty) == (1.3, 0.4)
    assert params.structured_outputs.json == SCHEMA
    default = vllm_engine.sampling_params(request("x"))
    assert (default.repetition_penalty, default.frequency_penalty) == (1.0, 0.0)
    assert default.structured_outputs is None
    penalised = vllm_engine.chat([request("x", repetition_penalty=1.3, frequency_penalty=0.4)])
    assert penalised[0][0].finish_reason in ("stop", "length")
