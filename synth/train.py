"""Fine-tuning on an export with TRL: SFT (`SFTTrainer`) or DPO (`DPOTrainer`), CPU or GPU.

The two methods share everything but the data and the trainer class: the config file,
the tokenizer checks, LoRA through peft (merged into the weights at the end, so vLLM
loads the result like any checkpoint), resuming from the last checkpoint in the output
directory, the logged metrics in `OUT/metrics.jsonl` and `OUT/train_summary.json`.

SFT reads `messages` rows and puts the loss on the assistant turns only, whatever the
model's chat template: each dialog is tokenized here, and the tokens of every assistant
turn are found by rendering the dialog up to that turn (with and without the turn) and
taking the difference, so a template needs no `{% generation %}` markers.

DPO reads rows in TRL's conversational preference format: `prompt` (messages), `chosen`
and `rejected` (the assistant answer each); other columns (the export's metadata) are
dropped. TRL renders and tokenizes them with the chat template. The reference model is
TRL's default: with LoRA, the policy with its adapter disabled (the base model, no second
copy in memory); without LoRA, a second frozen copy of the base model loaded from the
same path, so full DPO holds the weights twice. A prompt that fills `max_length` on its
own leaves no answer tokens, and TRL skips that pair (a warning says how many).

Bad input (no export, an export of the other method's kind, rows without the columns
the method needs, a base model that does not exist, a config file with a wrong field) is
refused before anything is written.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from synth.errors import SynthError
from synth.inputs import read_yaml, validated

log = logging.getLogger(__name__)

Method = Literal["sft", "dpo"]
# TRL 1.16's DPO losses (DPOConfig.loss_type)
DPOLoss = Literal[
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard",
    "aot", "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
]  # fmt: skip
PREFERENCE_COLUMNS = ("prompt", "chosen", "rejected")


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class DPOSettings(BaseModel):
    """The knobs only DPO has, under TRL's names."""

    model_config = ConfigDict(extra="forbid")

    beta: float = Field(
        0.1, gt=0, description="how far the policy may move from the reference (higher: less)"
    )
    loss_type: list[DPOLoss] = Field(
        default_factory=lambda: ["sigmoid"],
        min_length=1,
        description="TRL's DPO losses, summed with loss_weights: [sigmoid, sft] with weights "
        "[1.0, 0.2] adds an NLL term on the chosen answer, as in the Llama 3 recipe",
    )
    loss_weights: list[float] | None = Field(
        None, description="one weight per loss_type entry (default: 1.0 each)"
    )

    @model_validator(mode="after")
    def _one_weight_per_loss(self) -> DPOSettings:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(
                f"loss_weights has {len(self.loss_weights)} entries for "
                f"{len(self.loss_type)} loss_type entries"
            )
        return self


class TrainConfig(BaseModel):
    """The knobs of `synth train` (a YAML file with these keys, all optional)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = Field(
        "sft",
        description="sft: supervised, on an export of `messages`; dpo: preference pairs "
        "(prompt, chosen, rejected) through TRL's DPOTrainer",
    )
    epochs: float = Field(3.0, gt=0)
    max_steps: int = Field(-1, description="overrides epochs when > 0")
    learning_rate: float = Field(2e-5, gt=0)
    batch_size: int = Field(
        8, ge=1, description="examples per device and step (DPO: pairs, each run twice)"
    )
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(
        2048, ge=16, description="tokens per sequence (DPO: prompt + answer, cut at the end)"
    )
    packing: bool = Field(False, description="SFT only: pack short dialogs into one sequence")
    lora: LoraSettings | None = None
    dpo: DPOSettings = Field(default_factory=DPOSettings, description="used by method: dpo")
    warmup: float = Field(0, ge=0, description="steps, or a share of all steps when below 1")
    lr_scheduler: str = "linear"
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(500, ge=1)
    seed: int = 0
    resume: bool = True

    @model_validator(mode="after")
    def _packing_is_sft_only(self) -> TrainConfig:
        if self.method == "dpo" and self.packing:
            raise ValueError("packing is for method sft only")
        return self


def load_train_config(path: str | Path | None) -> TrainConfig:
    if path is None:
        return TrainConfig()
    return parse_train_config(read_yaml(Path(path)) or {}, str(path))


def parse_train_config(data: Any, where: str = "<train config>") -> TrainConfig:
    return validated(TrainConfig, data, where, "train config is a mapping of settings")


# --- data ---------------------------------------------------------------------------------


def read_rows(export: Path, split: str) -> list[dict]:
    """The rows of a split; a missing validation split is empty, a missing train split refused."""
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
    if split == "train" and not rows:
        raise SynthError(str(export), "the train split is empty")
    return rows


def load_dialogs(export: Path, split: str) -> list[list[dict]]:
    """The `messages` of every row of a split; an export without them is refused clearly."""
    rows = read_rows(export, split)
    if rows and isinstance(rows[0], dict) and "messages" not in rows[0]:
        raise SynthError(
            f"{export}: the {split} split",
            "has no `messages` column",
            "it holds preference pairs: train them with --method dpo"
            if "chosen" in rows[0]
            else "export a run with `synth export`",
        )
    dialogs = []
    for index, row in enumerate(rows):
        messages = row.get("messages") if isinstance(row, dict) else None
        where = f"{export}: {split} row {index}"
        if not isinstance(messages, list) or not messages:
            raise SynthError(where, "has no `messages`")
        if not any(m.get("role") == "assistant" and m.get("content") for m in messages):
            raise SynthError(where, "has no assistant turn to learn from")
        dialogs.append(_plain(messages))
    return dialogs


def load_preferences(export: Path, split: str) -> list[dict[str, list[dict]]]:
    """`prompt`, `chosen` and `rejected` of every row of a split, the other columns dropped."""
    rows = read_rows(export, split)
    if rows and isinstance(rows[0], dict):
        missing = [column for column in PREFERENCE_COLUMNS if column not in rows[0]]
        if missing:
            raise SynthError(
                f"{export}: the {split} split",
                f"has no `{missing[0]}` column, which --method dpo needs",
                "it is an SFT export of `messages`: train it with --method sft, or export "
                "preference pairs"
                if "messages" in rows[0]
                else "export preference pairs (prompt, chosen, rejected) into it",
            )
    pairs = []
    for index, row in enumerate(rows):
        where = f"{export}: {split} row {index}"
        if not isinstance(row, dict):
            raise SynthError(where, "is not a mapping of columns")
        pair = {}
        for column in PREFERENCE_COLUMNS:
            messages = row.get(column)
            if not isinstance(messages, list) or not messages:
                raise SynthError(where, f"`{column}` is not a non-empty list of messages")
            if not all(isinstance(m, dict) and "role" in m and "content" in m for m in messages):
                raise SynthError(where, f"`{column}` holds a message without role and content")
            pair[column] = _plain(messages)
        for column in ("chosen", "rejected"):
            last = pair[column][-1]
            if last["role"] != "assistant" or not last["content"]:
                raise SynthError(where, f"`{column}` does not end with an assistant answer")
        pairs.append(pair)
    return pairs


def _plain(messages: list[dict]) -> list[dict]:
    return [{"role": m["role"], "content": m["content"]} for m in messages]


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
    """Fine-tune `model` on the export `data` by `config.method`; the checkpoint (and
    metrics) go to `out`."""
    check_base_model(model)
    data, out = Path(data), Path(out)
    load = load_preferences if config.method == "dpo" else load_dialogs
    train_rows, eval_rows = load(data, "train"), load(data, "validation")

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(model)
    if config.method == "sft":  # DPOTrainer renders and tokenizes the pairs itself
        train_rows = [tokenize_dialog(tokenizer, d) for d in train_rows]
        eval_rows = [tokenize_dialog(tokenizer, d) for d in eval_rows]
    train_set = Dataset.from_list(train_rows)
    eval_set = Dataset.from_list(eval_rows) if eval_rows else None

    out.mkdir(parents=True, exist_ok=True)
    on_gpu = torch.cuda.is_available()
    arguments = {
        "output_dir": str(out),
        "num_train_epochs": config.epochs,
        "max_steps": config.max_steps,
        "learning_rate": config.learning_rate,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "max_length": config.max_length,
        "warmup_steps": config.warmup,
        "lr_scheduler_type": config.lr_scheduler,
        "logging_steps": config.logging_steps,
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        "eval_strategy": "epoch" if eval_set is not None else "no",
        "seed": config.seed,
        "bf16": on_gpu and torch.cuda.is_bf16_supported(),
        "use_cpu": not on_gpu,
        "report_to": "none",
    }
    trainer = make_trainer(
        config,
        AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32),
        tokenizer,
        arguments,
        train_set,
        eval_set,
        metrics_writer(out / "metrics.jsonl"),
    )
    if config.method == "dpo" and len(trainer.train_dataset) < len(train_set):
        skipped = len(train_set) - len(trainer.train_dataset)
        if not len(trainer.train_dataset):
            raise SynthError(
                f"max_length {config.max_length}",
                "every train pair's prompt is at least this many tokens: no answer is left",
                "raise max_length",
            )
        log.warning(
            "%d of %d train pairs have a prompt of max_length (%d) tokens or more: skipped",
            skipped,
            len(train_set),
            config.max_length,
        )
    resume = config.resume and any(out.glob("checkpoint-*"))
    started = time.monotonic()
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    final = trainer.model
    if config.lora is not None:
        final = final.merge_and_unload()  # a plain checkpoint vLLM loads like any other
    final.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    summary = {
        "method": config.method,
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


def load_tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise SynthError(f"--model {model}", f"cannot load its tokenizer: {exc}") from None
    if not tokenizer.chat_template:
        raise SynthError(f"--model {model}", "has no chat template to render dialogs with")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def make_trainer(
    config: TrainConfig,
    model: Any,
    tokenizer: Any,
    arguments: dict[str, Any],
    train_set: Any,
    eval_set: Any,
    callback: Any,
) -> Any:
    """The one place the methods differ: TRL's trainer and its config class."""
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    if config.method == "dpo":
        args = DPOConfig(
            **arguments,
            beta=config.dpo.beta,
            loss_type=list(config.dpo.loss_type),
            loss_weights=config.dpo.loss_weights,
        )
        trainer_class = DPOTrainer
    else:
        args = SFTConfig(**arguments, packing=config.packing)
        trainer_class = SFTTrainer
    return trainer_class(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=lora_config(config.lora),
        callbacks=[callback],
    )


def lora_config(lora: LoraSettings | None) -> Any:
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def metrics_writer(path: Path) -> Any:
    """A callback appending every log (loss, learning rate, DPO rewards...) to `path` as JSONL."""
    from transformers import TrainerCallback

    class WriteMetrics(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
            with path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **(logs or {})}) + "\n")

    return WriteMetrics()
