"""A tiny random Llama checkpoint, built locally: no model hub needed.

It exists to prove the plumbing (vLLM loading a real checkpoint with a real tokenizer and
chat template, batching, sampling, token accounting, the trainer) on any machine. Its
weights are random, so it writes nonsense: a pipeline run on it rejects everything.

The tokenizer is a byte-level BPE (2k tokens) trained on Python source from the standard
library, with Llama-3-style special tokens and chat template. The build is deterministic
for a seed and writes into a temporary directory that is renamed into place at the end, so
an interrupted build never leaves half a model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

MARKER = "synth-tiny.json"
VOCAB_SIZE = 2048
SPECIAL_TOKENS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|pad|>",
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
ARCHITECTURE = {
    "hidden_size": 128,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,  # head dimension 64: vLLM's CPU backend refuses 16
    "num_key_value_heads": 1,
    "max_position_embeddings": 4096,
}
# Standard-library modules whose source trains the tokenizer: Python text, always on disk.
CORPUS_MODULES = (
    "argparse",
    "collections",
    "dataclasses",
    "fractions",
    "heapq",
    "json",
    "random",
    "statistics",
    "string",
    "textwrap",
    "bisect",
    "datetime",
    "functools",
    "itertools",
)


def default_tiny_model_dir() -> Path:
    cache = os.environ.get("SYNTH_CACHE") or Path.home() / ".cache" / "synth"
    return Path(cache) / "models" / "tiny-llama"


def ensure_tiny_model() -> Path:
    return build_tiny_model(default_tiny_model_dir())


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Build the model into `out_dir` unless it is already there; returns `out_dir`."""
    out_dir = Path(out_dir)
    if (out_dir / MARKER).exists():
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        _build(staging, seed)
        if out_dir.exists():  # a half-built leftover without the marker
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _build(directory: Path, seed: int) -> None:
    import torch
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train_tokenizer(),
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|pad|>",
        chat_template=CHAT_TEMPLATE,
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
        **ARCHITECTURE,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory, safe_serialization=True)
    GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ).save_pretrained(directory)
    (directory / MARKER).write_text(
        json.dumps({"seed": seed, "vocab_size": len(tokenizer), **ARCHITECTURE})
    )


def _train_tokenizer():
    import importlib

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = []
    for name in CORPUS_MODULES:
        module = importlib.import_module(name)
        source = getattr(module, "__file__", None)
        if source and source.endswith(".py"):
            texts.append(Path(source).read_text(encoding="utf-8"))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer
