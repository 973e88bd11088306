"""The tiny local model: built once, complete, with a working chat template."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoTokenizer

from synth.models.tiny import (
    MARKER,
    SPECIAL_TOKENS,
    build_tiny_model,
    default_tiny_model_dir,
    is_complete,
    recipe,
)


def test_build_is_complete_and_idempotent(tiny_model):
    files = {p.name for p in tiny_model.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        MARKER,
    } <= files
    assert is_complete(tiny_model)
    before = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny_model) == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == before
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["hidden_size"] // config["num_attention_heads"] >= 32  # vLLM's CPU backend
    assert config["max_position_embeddings"] == 4096
    # no staging directories left beside it
    assert not [p for p in tiny_model.parent.iterdir() if p.name.startswith(".tiny-llama-")]


def test_chat_template_renders_a_conversation_with_special_tokens(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ]
    assert tokenizer.apply_chat_template(conversation, tokenize=False) == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|>"
    )
    prompt = tokenizer.apply_chat_template(
        conversation[:2], add_generation_prompt=True, tokenize=False
    )
    assert prompt.endswith("hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert tokenizer.eos_token == "<|eot_id|>" and tokenizer.pad_token == "<|pad|>"
    assert tokenizer.bos_token == "<|begin_of_text|>"
    for token in SPECIAL_TOKENS:  # each special token is one token, never split
        assert len(tokenizer.encode(token, add_special_tokens=False)) == 1
    code = "def f(x):\n    return x  # the answer"
    assert tokenizer.decode(tokenizer.encode(code, add_special_tokens=False)) == code
    assert tokenizer.model_max_length == 4096


def test_half_built_and_stale_directories_are_replaced(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "config.json").write_text("{}")  # a leftover without the completion marker
    assert not is_complete(target)
    build_tiny_model(target)
    assert is_complete(target) and not is_complete(target, seed=1)  # another seed: rebuild
    assert json.loads((target / "config.json").read_text())["vocab_size"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]
    (target / MARKER).write_text(json.dumps({**recipe(), "recipe": -1}))  # an older build
    assert not is_complete(target)


def test_default_directory_follows_synth_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTH_CACHE", str(tmp_path))
    assert default_tiny_model_dir() == tmp_path / "models" / "tiny-llama"
    monkeypatch.delenv("SYNTH_CACHE")
    assert default_tiny_model_dir() == Path.home() / ".cache" / "synth" / "models" / "tiny-llama"
