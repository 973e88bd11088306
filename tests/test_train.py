"""`synth train`: assistant-only labels, LoRA and full training, resume, and bad input."""

from __future__ import annotations

import json

import pytest

from synth.errors import SynthError
from synth.train import TrainConfig, load_dialogs, parse_train_config, tokenize_dialog, train

DIALOG = [
    {"role": "user", "content": "What is 2 plus 3?"},
    {"role": "assistant", "content": "$2 + 3 = 5$. $\\boxed{5}$"},
    {"role": "user", "content": "```output\n5\n```"},
    {"role": "assistant", "content": "So $\\boxed{5}$."},
]


def write_export(path, rows):
    path.mkdir(parents=True, exist_ok=True)
    (path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_only_assistant_tokens_are_labelled(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    example = tokenize_dialog(tokenizer, DIALOG)
    labelled = [
        t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100
    ]
    text = tokenizer.decode(labelled)
    assert "2 + 3 = 5" in text and "So" in text and text.count("<|eot_id|>") == 2
    assert "What is" not in text and "output" not in text and "assistant" not in text
    assert len(example["labels"]) == len(example["input_ids"])


def test_bad_input_is_refused_before_anything_is_written(tmp_path, tiny_model):
    out = tmp_path / "ckpt"
    with pytest.raises(SynthError, match="not an export directory"):
        train(tmp_path / "nothing", str(tiny_model), out, TrainConfig())
    no_assistant = write_export(tmp_path / "a", [{"messages": [DIALOG[0]]}])
    with pytest.raises(SynthError, match="row 0: has no assistant turn"):
        train(no_assistant, str(tiny_model), out, TrainConfig())
    empty = write_export(tmp_path / "b", [])
    with pytest.raises(SynthError, match="train split is empty"):
        train(empty, str(tiny_model), out, TrainConfig())
    good = write_export(tmp_path / "c", [{"messages": DIALOG}])
    with pytest.raises(SynthError, match="does not exist"):
        train(good, str(tmp_path / "no-model"), out, TrainConfig())
    assert not out.exists()
    with pytest.raises(SynthError, match="learning_rate"):
        parse_train_config({"learning_rate": -1}, "train.yaml")
    with pytest.raises(SynthError, match="epoch"):
        parse_train_config({"epoch": 3}, "train.yaml")


def test_load_dialogs_reads_every_format(tmp_path):
    export = write_export(tmp_path / "e", [{"messages": DIALOG, "rounds": 1}])
    assert load_dialogs(export, "train") == [DIALOG]
    assert load_dialogs(export, "validation") == []


@pytest.mark.slow
def test_lora_training_merges_and_resumes(tmp_path, tiny_model):
    data = write_export(tmp_path / "data", [{"messages": DIALOG}] * 8)
    out = tmp_path / "ckpt"
    config = parse_train_config(
        {
            "max_steps": 4,
            "batch_size": 4,
            "save_steps": 2,
            "logging_steps": 1,
            "learning_rate": 1e-3,
            "lora": {"r": 4, "alpha": 8},
        }
    )
    summary = train(data, str(tiny_model), out, config)
    assert summary["steps"] == 4 and summary["lora"] and not summary["resumed"]
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) >= 4

    longer = config.model_copy(update={"max_steps": 6})
    resumed = train(data, str(tiny_model), out, longer)
    assert resumed["resumed"] and resumed["steps"] == 6
