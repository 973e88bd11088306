"""A tiny random Llama checkpoint, built locally: no model hub needed.

This model writes nonsense. It exists to prove the plumbing (vLLM loading a real
checkpoint with a real tokenizer and chat template, batching, sampling, token accounting)
on any machine without a model hub: its weights are random, so a pipeline run on it
rejects everything.

The tokenizer is a byte-level BPE (2k tokens) trained on local text only: the source of
some standard-library modules read from disk and a few English sentences, with
Llama-3-style special tokens and chat template. The build is deterministic for a seed and a
Python version (the standard library is the corpus) and takes a few seconds. It writes into
a temporary directory beside the target that is renamed into place at the end, so an
interrupted build never leaves half a model; the marker file (`synth-tiny.json`, written
last) says the directory is complete, and concurrent builders wait on a lock file.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from synth.models.cache import cache_root, file_lock

MARKER = "synth-tiny.json"
RECIPE_VERSION = 2  # bump when the build changes: caches of older recipes are rebuilt
VOCAB_SIZE = 2048
BOS, EOS, PAD = "<|begin_of_text|>", "<|eot_id|>", "<|pad|>"
SPECIAL_TOKENS = [
    BOS,
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    EOS,
    PAD,
]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] }}<|eot_id|>"
    "{% endfor %}{% if add_generation_prompt %}"
    "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
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
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "fractions",
    "functools",
    "heapq",
    "itertools",
    "json",
    "random",
    "statistics",
    "string",
    "textwrap",
)
ENGLISH = """\
You are a careful Python programmer. Write a function that solves the problem below.
The function takes a list of integers and returns the largest sum of a contiguous slice.
Explain your reasoning step by step, then give the final answer in a code block.
Here are the tests your solution must pass. If a test fails, read the error and fix it.
Please write clear, correct and efficient code with type hints and a short docstring.
The quick brown fox jumps over the lazy dog. What is the value of the expression?
"""


def default_tiny_model_dir() -> Path:
    """`$SYNTH_CACHE/models/tiny-llama`, or `~/.cache/synth/models/tiny-llama`."""
    return cache_root() / "tiny-llama"


def ensure_tiny_model() -> Path:
    """The tiny model in the default cache directory, built on first use."""
    return build_tiny_model(default_tiny_model_dir())


def recipe(seed: int = 0) -> dict:
    """What the marker file records; a directory whose marker differs is rebuilt."""
    return {"recipe": RECIPE_VERSION, "seed": seed, "vocab_size": VOCAB_SIZE, **ARCHITECTURE}


def is_complete(directory: Path, seed: int = 0) -> bool:
    try:
        return json.loads((Path(directory) / MARKER).read_text()) == recipe(seed)
    except (OSError, ValueError):
        return False


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Build the model into `out_dir` unless it is already there; returns `out_dir`."""
    out_dir = Path(out_dir).expanduser()
    if is_complete(out_dir, seed):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out_dir.parent / f".{out_dir.name}.lock"):
        if is_complete(out_dir, seed):  # another process built it while we waited
            return out_dir
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-build-", dir=out_dir.parent))
        try:
            _build(staging, seed)
            if out_dir.exists():  # a half-built leftover or an older recipe
                trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
                os.replace(out_dir, trash / "model")
                shutil.rmtree(trash, ignore_errors=True)
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
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        chat_template=CHAT_TEMPLATE,
        model_max_length=ARCHITECTURE["max_position_embeddings"],
    )
    tokenizer.save_pretrained(directory)
    # Portable across transformers 4 and 5: the generic class name, and the chat template
    # in tokenizer_config.json as well as chat_template.jinja.
    config_path = directory / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config.update(tokenizer_class="PreTrainedTokenizerFast", chat_template=CHAT_TEMPLATE)
    config_path.write_text(json.dumps(tokenizer_config, indent=2) + "\n")

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # float32 on disk: every engine can cast it (vLLM picks bfloat16 on CPU and on
        # recent GPUs, float16 on GPUs without bfloat16)
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
    # mkdtemp makes the directory private; a shared cache must be readable by others
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    (directory / MARKER).write_text(json.dumps(recipe(seed), indent=2) + "\n")  # last


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts = [ENGLISH]
    for name in CORPUS_MODULES:
        source = getattr(importlib.import_module(name), "__file__", None)
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
