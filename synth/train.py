"""Supervised fine-tuning on an export with TRL's SFTTrainer; the same command on CPU and GPU.

The loss is on the assistant turns only, whatever the model's chat template: each dialog
is tokenized here, and the tokens of every assistant turn are found by rendering the
dialog up to that turn (with and without the turn) and taking the difference, so a
template needs no `{% generation %}` markers. Everything else is TRL and transformers:
packing, LoRA through peft (merged into the weights at the end, so vLLM loads the result
like any checkpoint), resuming from the last checkpoint in the output directory, a
progress bar, and the logged metrics in `OUT/metrics.jsonl`.

Bad input (no export, an export without assistant turns, a base model that does not
exist, a config file with a wrong field) is refused before anything is written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synth.errors import SynthError
from synth.inputs import read_yaml, validated


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class TrainConfig(BaseModel):
    """The knobs of `synth train` (a YAML file with these keys, all optional)."""

    model_config = ConfigDict(extra="forbid")

    epochs: float = Field(3.0, gt=0)
    max_steps: int = Field(-1, description="overrides epochs when > 0")
    learning_rate: float = Field(2e-5, gt=0)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(2048, ge=16)
    packing: bool = False
    lora: LoraSettings | None = None
    warmup: float = Field(0, ge=0, description="steps, or a share of all steps when below 1")
    lr_scheduler: str = "linear"
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(500, ge=1)
    seed: int = 0
    resume: bool = True


def load_train_config(path: str | Path | None) -> TrainConfig:
    if path is None:
        return TrainConfig()
    return parse_train_config(read_yaml(Path(path)) or {}, str(path))


def parse_train_config(data: Any, where: str = "<train config>") -> TrainConfig:
    return validated(TrainConfig, data, where, "train config is a mapping of settings")


# --- data ---------------------------------------------------------------------------------


def load_dialogs(export: Path, split: str) -> list[list[dict]]:
    """The `messages` of every row of a split; an export without one is refused clearly."""
    from synth.export import read_split

    if not export.is_dir():
        raise SynthError(str(export), "not an export directory (made by `synth export`)")
    try:
        rows = read_split(export, split)
    except FileNotFoundError:
        if split != "train":
            return []
        raise SynthError(str(export), "holds no train split", "export a run into it") from None
    except (ValueError, OSError) as exc:
        raise SynthError(str(export), f"the {split} split cannot be read: {exc}") from None
    dialogs = []
    for index, row in enumerate(rows):
        messages = row.get("messages") if isinstance(row, dict) else None
        where = f"{export}: {split} row {index}"
        if not isinstance(messages, list) or not messages:
            raise SynthError(where, "has no `messages`")
        if not any(m.get("role") == "assistant" and m.get("content") for m in messages):
            raise SynthError(where, "has no assistant turn to learn from")
        dialogs.append([{"role": m["role"], "content": m["content"]} for m in messages])
    if split == "train" and not dialogs:
        raise SynthError(str(export), "the train split is empty")
    return dialogs


def tokenize_dialog(tokenizer: Any, messages: list[dict]) -> dict[str, list[int]]:
    """input_ids of the whole dialog, and labels that are -100 outside the assistant turns.

    Spans are found on the rendered text, then mapped to tokens through the tokenizer's
    offsets: token boundaries can merge across a turn's start, characters cannot."""
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(
            messages[:index], tokenize=False, add_generation_prompt=True
        )
        through = tokenizer.apply_chat_template(messages[: index + 1], tokenize=False)
        if not (through.startswith(before) and text.startswith(through)):
            raise SynthError(
                "the model's chat template",
                "renders a dialog differently from its beginning, so assistant turns cannot be found",
            )
        spans.append((len(before), len(through)))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(encoded["input_ids"])
    labels = [
        token if any(start <= begin < end for start, end in spans) else -100
        for token, (begin, _) in zip(input_ids, encoded["offset_mapping"], strict=True)
    ]
    return {"input_ids": input_ids, "labels": labels}


# --- training -----------------------------------------------------------------------------


def check_base_model(model: str) -> None:
    path = Path(model).expanduser()
    looks_like_path = model.startswith((".", "/", "~")) or path.exists()
    if looks_like_path and not (path / "config.json").is_file():
        raise SynthError(
            f"--model {model}",
            "does not exist" if not path.exists() else "is not a model directory (no config.json)",
        )


def train(data: Path, model: str, out: Path, config: TrainConfig) -> dict[str, Any]:
    """Fine-tune `model` on the export `data`; the checkpoint (and metrics) go to `out`."""
    check_base_model(model)
    train_dialogs = load_dialogs(Path(data), "train")
    eval_dialogs = load_dialogs(Path(data), "validation")

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise SynthError(f"--model {model}", f"cannot load its tokenizer: {exc}") from None
    if not tokenizer.chat_template:
        raise SynthError(f"--model {model}", "has no chat template to render dialogs with")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    train_set = Dataset.from_list([tokenize_dialog(tokenizer, d) for d in train_dialogs])
    eval_set = (
        Dataset.from_list([tokenize_dialog(tokenizer, d) for d in eval_dialogs])
        if eval_dialogs
        else None
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    on_gpu = torch.cuda.is_available()
    args = SFTConfig(
        output_dir=str(out),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        max_length=config.max_length,
        packing=config.packing,
        warmup_steps=config.warmup,
        lr_scheduler_type=config.lr_scheduler,
        logging_steps=config.logging_steps,
        save_steps=config.save_steps,
        save_total_limit=2,
        eval_strategy="epoch" if eval_set is not None else "no",
        seed=config.seed,
        bf16=on_gpu and torch.cuda.is_bf16_supported(),
        use_cpu=not on_gpu,
        report_to="none",
    )
    peft_config = None
    if config.lora is not None:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora.r,
            lora_alpha=config.lora.alpha,
            lora_dropout=config.lora.dropout,
            target_modules=config.lora.target_modules,
            task_type="CAUSAL_LM",
        )

    metrics_path = out / "metrics.jsonl"

    class WriteMetrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            with metrics_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **(logs or {})}) + "\n")

    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32),
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[WriteMetrics()],
    )
    resume = config.resume and any(out.glob("checkpoint-*"))
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    final = trainer.model
    if peft_config is not None:
        final = final.merge_and_unload()  # a plain checkpoint vLLM loads like any other
    final.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    summary = {
        "base_model": model,
        "data": str(data),
        "train_examples": len(train_set),
        "validation_examples": len(eval_set) if eval_set is not None else 0,
        "steps": result.global_step,
        "train_loss": round(result.training_loss, 4),
        "resumed": resume,
        "lora": config.lora is not None,
        "seconds": round(time.monotonic() - started, 1),
        "device": "cuda" if on_gpu else "cpu",
    }
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
