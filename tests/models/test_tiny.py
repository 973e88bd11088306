"""The tiny local model: built once, complete, with a working chat template."""

from __future__ import annotations

import json

from transformers import AutoTokenizer

from synth.models.tiny import MARKER, build_tiny_model


def test_build_is_complete_and_idempotent(tiny_model):
    files = {p.name for p in tiny_model.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "generation_config.json",
        MARKER,
    } <= files
    before = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny_model) == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == before
    config = json.loads((tiny_model / "config.json").read_text())
    assert (
        config["hidden_size"] // config["num_attention_heads"] >= 32
    )  # vLLM's CPU backend needs it


def test_chat_template_renders_a_conversation_with_special_tokens(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
        tokenize=False,
    )
    assert text == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nhello<|eot_id|>"
    )
    assert tokenizer.eos_token == "<|eot_id|>"
    assert (
        tokenizer.decode(tokenizer.encode("def f(x):\n    return x")) == "def f(x):\n    return x"
    )


def test_half_built_directories_are_replaced(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "config.json").write_text("{}")  # a leftover without the completion marker
    build_tiny_model(target)
    assert (target / MARKER).exists() and json.loads((target / "config.json").read_text())[
        "vocab_size"
    ] > 0
