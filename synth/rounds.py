"""Rounds: generate with checkpoint i, verify, export, train checkpoint i+1, and measure.

Round i (0-based) in OUT/round-i/:
    run/          `synth generate` with checkpoint i (the base model for round 0)
    export/       `synth export` of that run (absent when nothing was verified)
    data/         the training data: the seed exports plus every round's export so far
    checkpoint/   `synth train` of the base model on data/ -> checkpoint i+1
    heldout/      checkpoint i on the held-out problems (greedy, one sample): pass@1

Each checkpoint is trained from the base model on all data gathered so far (the round's
own verified data grows the set; the model is not fine-tuned on its own fine-tuning).
Every step is a `synth` command in its own process, so each vLLM engine and each trainer
gets a fresh process, and every step is skipped when its result is already on disk: an
interrupted `synth rounds` resumes. The report (OUT/report.json, OUT/report.png) has per
round the verified yield and tokens, and per checkpoint the held-out pass@1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset, read_split
from synth.export.card import pyplot
from synth.inputs import read_yaml, validated
from synth.models.registry import resolve_model
from synth.train import TrainConfig, check_base_model


class GenerateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    problems: int = Field(32, ge=1)
    samples: int = Field(4, ge=1)
    max_rounds: int = Field(2, ge=1)
    max_tokens: int = Field(1024, ge=16)
    temperature: float = Field(0.8, ge=0)
    seed: int = 0
    problems_from: Path | None = None


class RoundsConfig(BaseModel):
    """`synth rounds --config FILE`: a YAML file with these keys."""

    model_config = ConfigDict(extra="forbid")

    out: Path
    base_model: str
    rounds: int = Field(2, ge=1)
    taxonomy: Path
    seed_data: list[Path] = Field(default_factory=list, description="export dirs to start from")
    heldout: Path | None = Field(
        None, description="math: a problems JSONL with answers; code: a run directory"
    )
    generate: GenerateSettings = Field(default_factory=GenerateSettings)
    train: TrainConfig = Field(default_factory=TrainConfig)
    validation_share: float = Field(0.05, ge=0, lt=1)
    max_model_len: int = Field(2048, ge=256)


def load_rounds_config(path: str | Path) -> RoundsConfig:
    path = Path(path)
    config = validated(
        RoundsConfig,
        read_yaml(path),
        str(path),
        "rounds config is a mapping (out, base_model, taxonomy, ...)",
    )
    for where, file in [("taxonomy", config.taxonomy), ("heldout", config.heldout)] + [
        (f"seed_data[{i}]", p) for i, p in enumerate(config.seed_data)
    ]:
        if file is not None and not file.exists():
            raise SynthError(f"{path}: {where}", f"{file} does not exist")
    if config.base_model != "tiny":
        check_base_model(config.base_model)
    return config


def run_rounds(config: RoundsConfig, log=print) -> dict[str, Any]:
    """Run (or resume) every round; returns the report, also written to OUT/report.json."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_model(config.base_model)
    exports = list(config.seed_data)
    report: dict[str, Any] = {"base_model": config.base_model, "rounds": [], "checkpoints": []}
    checkpoint = base
    for index in range(config.rounds):
        round_dir = out / f"round-{index}"
        log(f"round {index}: checkpoint {checkpoint}")
        report["checkpoints"].append(_heldout(config, checkpoint, round_dir / "heldout", index))
        run = _generate(config, checkpoint, round_dir / "run", index)
        export = round_dir / "export"
        exported = _export(config, round_dir / "run", export)
        if exported:
            exports.append(export)
        data = _merge(exports, round_dir / "data")
        next_checkpoint = round_dir / "checkpoint"
        trained = _train(config, base, data, next_checkpoint)
        report["rounds"].append(
            {
                "round": index,
                "checkpoint": str(checkpoint),
                "slots": run["slots"],
                "verified_records": run["problems_with_verified_solution"],
                "verified_yield": run["problems_with_verified_solution"] / max(run["slots"], 1),
                # the generation's cost: every engine call (problems and tests too) of the
                # invocation that finished the round, not only the stored samples' tokens
                "completion_tokens": _engine_tokens(run, "completion_tokens"),
                "prompt_tokens": _engine_tokens(run, "prompt_tokens"),
                "new_examples": exported,
                "train_examples": trained["train_examples"],
                "train_loss": trained["train_loss"],
            }
        )
        checkpoint = next_checkpoint
    report["checkpoints"].append(
        _heldout(config, checkpoint, out / f"round-{config.rounds}" / "heldout", config.rounds)
    )
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot(report, out / "report.png")
    return report


def _synth(*args: str) -> None:
    """One `synth` command in its own process; its error becomes ours."""
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    done = subprocess.run(
        [sys.executable, "-m", "synth.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SynthError(f"synth {args[0]}", f"failed (exit {done.returncode}): {last}")


def _generate(config: RoundsConfig, model: str, run_dir: Path, index: int) -> dict:
    summary_path = run_dir / "summary.json"
    if not _finished(summary_path):
        g = config.generate
        args = [
            "generate", "--model", model, "--taxonomy", str(config.taxonomy),
            "--out", str(run_dir), "--problems", str(g.problems), "--samples", str(g.samples),
            "--max-rounds", str(g.max_rounds), "--max-tokens", str(g.max_tokens),
            "--temperature", str(g.temperature), "--seed", str(g.seed + index),
            "--max-model-len", str(config.max_model_len),
        ]  # fmt: skip
        if g.problems_from is not None:
            args += ["--problems-from", str(g.problems_from)]
        _synth(*args)
    return json.loads(summary_path.read_text())


def _heldout(config: RoundsConfig, model: str, run_dir: Path, index: int) -> dict:
    """pass@1 of a checkpoint on the held-out problems: one greedy sample, no correction."""
    if config.heldout is None:
        return {"checkpoint": index, "model": str(model), "pass_at_1": None}
    summary_path = run_dir / "summary.json"
    if not _finished(summary_path):
        _synth(
            "generate", "--model", model, "--taxonomy", str(config.taxonomy),
            "--problems-from", str(config.heldout), "--out", str(run_dir),
            "--samples", "1", "--max-rounds", "1", "--temperature", "0",
            "--max-tokens", str(config.generate.max_tokens),
            "--max-model-len", str(config.max_model_len),
        )  # fmt: skip
    summary = json.loads(summary_path.read_text())
    solved = summary["problems_with_verified_solution"]
    return {
        "checkpoint": index,
        "model": str(model),
        "heldout_problems": summary["slots"],
        "solved": solved,
        "pass_at_1": solved / max(summary["slots"], 1),
    }


def _export(config: RoundsConfig, run_dir: Path, export: Path) -> int:
    """Examples exported from the round's run (0 when nothing was verified)."""
    if (export / "export.json").exists():
        return json.loads((export / "export.json").read_text())["train_examples"]
    try:
        counts = export_dataset(
            run_dir, export, ExportOptions(validation_share=config.validation_share)
        )
    except SynthError as error:
        if "is verified" in error.problem:  # nothing verified this round: no new data
            return 0
        raise
    return counts["train_examples"] + counts["validation_examples"]


def _merge(exports: list[Path], data: Path) -> Path:
    """One JSONL export holding every split row of every export, for the trainer."""
    data.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation"):
        rows = []
        for export in exports:
            try:
                rows += read_split(export, split)
            except FileNotFoundError:
                continue
        with (data / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps({"messages": row["messages"]}, ensure_ascii=False) + "\n")
    return data


def _train(config: RoundsConfig, base: str, data: Path, checkpoint: Path) -> dict:
    summary_path = checkpoint / "train_summary.json"
    if not summary_path.exists():
        settings = checkpoint.parent / "train.yaml"
        settings.write_text(yaml.safe_dump(config.train.model_dump(mode="json")), encoding="utf-8")
        _synth(
            "train", "--data", str(data), "--model", base, "--out", str(checkpoint),
            "--config", str(settings),
        )  # fmt: skip
    return json.loads(summary_path.read_text())


def _engine_tokens(summary: dict, kind: str) -> int:
    """A round's engine tokens from its summary.json (older summaries had them at the top)."""
    return summary.get("this_invocation", summary)[kind]


def _finished(summary_path: Path) -> bool:
    return summary_path.exists() and json.loads(summary_path.read_text()).get("finished", False)


def _plot(report: dict, path: Path) -> None:
    plt = pyplot()
    figure, (yields, passes, tokens) = plt.subplots(1, 3, figsize=(12, 3.5))
    rounds = [r["round"] for r in report["rounds"]]
    yields.bar(rounds, [r["verified_yield"] for r in report["rounds"]])
    yields.set_title("verified yield per round")
    yields.set_xlabel("round")
    yields.set_ylim(0, 1)
    yields.set_xticks(rounds)
    scored = [c for c in report["checkpoints"] if c["pass_at_1"] is not None]
    passes.plot([c["checkpoint"] for c in scored], [c["pass_at_1"] for c in scored], marker="o")
    passes.set_title("held-out pass@1 per checkpoint")
    passes.set_xlabel("checkpoint")
    passes.set_ylim(0, 1)
    passes.set_xticks([c["checkpoint"] for c in scored])
    tokens.bar(rounds, [r["completion_tokens"] for r in report["rounds"]])
    tokens.set_title("generated tokens per round")
    tokens.set_xlabel("round")
    tokens.set_xticks(rounds)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
