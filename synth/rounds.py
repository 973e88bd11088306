"""Rounds: generate with checkpoint i, verify, export, train checkpoint i+1, and measure.

Round i (0-based) in OUT/round-i/:
    run/          `synth generate` with checkpoint i (the base model for round 0)
    export/       `synth export` of that run (absent when nothing was verified)
    data/         the training data: the seed exports plus every round's export so far
    checkpoint/   `synth train` of the base model on data/ -> checkpoint i+1
    pairs/        with `dpo`: `synth export --kind dpo` of the run (absent without pairs)
    pairs-data/   the seed preference exports plus every round's pairs so far
    checkpoint-dpo/  `synth train --method dpo` of checkpoint/ on pairs-data/ -> checkpoint
                  i+1 instead (the SFT-then-DPO step of the Llama 3 recipe)
    heldout/      checkpoint i on the held-out problems (greedy, one sample): pass@1
    eval-NAME/    `synth eval NAME` of checkpoint i, for each benchmark in `benchmarks`

Each checkpoint is trained from the base model on all data gathered so far (the round's
own verified data grows the set; the model is not fine-tuned on its own fine-tuning); with
`dpo`, the SFT checkpoint is then trained on every preference pair gathered so far (a
verified and a failed first answer to one prompt) before it generates the next round.
Every step is a `synth` command in its own process, so each vLLM engine and each trainer
gets a fresh process, and every step is skipped when its result is already on disk: an
interrupted `synth rounds` resumes. The report (OUT/report.json, OUT/report.png) has per
round the verified yield and tokens, per checkpoint the held-out pass@1 and each benchmark's
greedy pass@1, and the wall time of every step (OUT/timings.json keeps them across resumes,
engine starts included).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from synth.errors import SynthError
from synth.evals.benchmarks import BENCHMARKS
from synth.export import ExportOptions, export_dataset, read_split
from synth.export.card import pyplot
from synth.flags import option_name
from synth.inputs import read_yaml, validated
from synth.models.registry import resolve_model
from synth.pipelines.settings import (
    CodeSettings,
    MathSettings,
    PacingSettings,
    SamplingSettings,
    SlotSettings,
    field_of,
)
from synth.sandbox.base import Limits
from synth.train import PREFERENCE_COLUMNS, TrainConfig, check_base_model, parse_train_config


class RoundGenerate(PacingSettings, SlotSettings, SamplingSettings, MathSettings):
    """rounds.yaml's `generate:`: each round's `synth generate`, with the same settings
    (and defaults) as the command; the seed grows by one each round. The judge and system
    prompts are not available here."""

    min_tests: int = field_of(CodeSettings, "min_tests")
    limits: Limits = Field(default_factory=Limits, description="timeout_s and memory_mb only")
    problems_from: Path | None = None

    @field_validator("limits")
    @classmethod
    def _as_flags(cls, limits: Limits) -> Limits:
        other = sorted(set(limits.model_fields_set) - {"timeout_s", "memory_mb"})
        if other:
            raise ValueError(f"only timeout_s and memory_mb can be set here, not {other}")
        return limits

    def flags(self, seed: int) -> list[str]:
        """The `synth generate` flags that say these settings, with this round's seed."""
        values = self.model_dump(exclude={"limits", "problems_from", "seed"})
        args = ["--seed", str(seed)]
        for name, value in values.items():
            flag = option_name(name)
            if isinstance(value, bool):
                args.append(flag if value else f"--no-{flag[2:]}")
            else:
                args += [flag, str(value)]
        args += [
            "--timeout-s",
            str(self.limits.timeout_s),
            "--memory-mb",
            str(self.limits.memory_mb),
        ]
        if self.problems_from is not None:
            args += ["--problems-from", str(self.problems_from)]
        return args


class RoundsConfig(BaseModel):
    """`synth rounds --config FILE`: a YAML file with these keys."""

    model_config = ConfigDict(extra="forbid")

    out: Path
    base_model: str
    rounds: int = Field(2, ge=1)
    taxonomy: Path
    seed_data: list[Path] = Field(
        default_factory=list,
        description="export dirs to start from: chat examples, or preference pairs for `dpo`",
    )
    heldout: Path | None = Field(
        None, description="math: a problems JSONL with answers; code: a run directory"
    )
    benchmarks: list[str] = Field(
        default_factory=list,
        description="what `synth eval` scores every checkpoint on, greedily (pass@1): "
        f"{', '.join(BENCHMARKS)}, or an eval JSONL file",
    )
    benchmark_limit: int | None = Field(
        None, ge=1, description="only the first N problems of each benchmark"
    )
    generate: RoundGenerate = Field(default_factory=RoundGenerate)
    train: TrainConfig = Field(default_factory=TrainConfig)
    dpo: TrainConfig | None = Field(
        None,
        description="a DPO step after SFT each round (its method is dpo whatever is set); "
        "absent: SFT only",
    )
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
    for i, benchmark in enumerate(config.benchmarks):
        if benchmark not in BENCHMARKS and not Path(benchmark).is_file():
            raise SynthError(
                f"{path}: benchmarks[{i}]",
                f"{benchmark!r} is neither a benchmark synth eval knows "
                f"({', '.join(BENCHMARKS)}) nor a file",
            )
    for i, export in enumerate(config.seed_data):
        if _kind(export) == "dpo" and config.dpo is None:
            raise SynthError(
                f"{path}: seed_data[{i}]",
                f"{export} holds preference pairs, which only a `dpo` step trains on",
                "add `dpo:` (its training settings) or leave this export out",
            )
    if config.dpo is not None:  # checked as DPO now, not after the first round's SFT
        parse_train_config({**config.dpo.model_dump(), "method": "dpo"}, f"{path}: dpo")
    if config.base_model != "tiny":
        check_base_model(config.base_model)
    return config


def run_rounds(config: RoundsConfig, log=print) -> dict[str, Any]:
    """Run (or resume) every round; returns the report, also written to OUT/report.json."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_model(config.base_model)
    kinds = {export: _kind(export) for export in config.seed_data}  # each split read once
    exports = [e for e in config.seed_data if kinds[e] == "sft"]
    pair_exports = [e for e in config.seed_data if kinds[e] == "dpo"]
    report: dict[str, Any] = {"base_model": config.base_model, "rounds": [], "checkpoints": []}
    checkpoint = base
    split = {"validation_share": config.validation_share}
    for index in range(config.rounds):
        round_dir = out / f"round-{index}"
        log(f"round {index}: checkpoint {checkpoint}")
        report["checkpoints"].append(_checkpoint_scores(config, checkpoint, round_dir, index))
        run = _generate(config, checkpoint, round_dir / "run", index)
        export = round_dir / "export"
        exported = _export(config, round_dir / "run", export, ExportOptions(**split))
        if exported:
            exports.append(export)
        data = _merge(exports, round_dir / "data", ("messages",))
        next_checkpoint = round_dir / "checkpoint"
        sft = config.train.model_copy(update={"method": "sft"})
        trained = _train(config, sft, base, data, next_checkpoint)
        preferences: dict[str, Any] = {}
        if config.dpo is not None:
            pairs = round_dir / "pairs"
            options = ExportOptions(kind="dpo", **split)
            preferences["new_pairs"] = _export(config, round_dir / "run", pairs, options)
            if preferences["new_pairs"]:
                pair_exports.append(pairs)
            pairs_data = _merge(pair_exports, round_dir / "pairs-data", PREFERENCE_COLUMNS)
            if _rows(pairs_data):  # no pair yet: the SFT checkpoint goes on
                dpo = config.dpo.model_copy(update={"method": "dpo"})
                sft_checkpoint, next_checkpoint = next_checkpoint, round_dir / "checkpoint-dpo"
                tuned = _train(config, dpo, str(sft_checkpoint), pairs_data, next_checkpoint)
                preferences["dpo_pairs"] = tuned["train_examples"]
                preferences["dpo_loss"] = tuned["train_loss"]
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
                **preferences,
            }
        )
        checkpoint = next_checkpoint
    report["checkpoints"].append(
        _checkpoint_scores(config, checkpoint, out / f"round-{config.rounds}", config.rounds)
    )
    report["step_seconds"] = _timings(out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    _plot(report, out / "report.png")
    return report


def _synth(config: RoundsConfig, step: Path, *args: str) -> None:
    """One `synth` command in its own process; its error becomes ours. Its wall time (the
    engine's start or the model's load included) is kept in OUT/timings.json under `step`,
    the directory it writes."""
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "synth.cli", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SynthError(f"synth {args[0]}", f"failed (exit {done.returncode}): {last}")
    timings = _timings(config.out)
    timings[step.relative_to(config.out).as_posix()] = round(time.monotonic() - started, 1)
    (config.out / "timings.json").write_text(json.dumps(timings, indent=2) + "\n", encoding="utf-8")


def _timings(out: Path) -> dict[str, float]:
    path = out / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _generate(config: RoundsConfig, model: str, run_dir: Path, index: int) -> dict:
    summary_path = run_dir / "summary.json"
    if not _finished(summary_path):
        args = [
            "generate", "--model", model, "--taxonomy", str(config.taxonomy),
            "--out", str(run_dir), "--max-model-len", str(config.max_model_len),
        ]  # fmt: skip
        _synth(config, run_dir, *args, *config.generate.flags(config.generate.seed + index))
    return json.loads(summary_path.read_text())


def _checkpoint_scores(config: RoundsConfig, model: str, round_dir: Path, index: int) -> dict:
    """Checkpoint `index` on the held-out problems and on every benchmark."""
    scores = _heldout(config, model, round_dir / "heldout", index)
    scores["benchmarks"] = {
        benchmark: _benchmark(config, model, round_dir / f"eval-{Path(benchmark).stem}", benchmark)
        for benchmark in config.benchmarks
    }
    return scores


def _benchmark(config: RoundsConfig, model: str, eval_dir: Path, benchmark: str) -> dict:
    """`synth eval` of one checkpoint, greedy: its pass@1 (resumed like any eval)."""
    summary_path = eval_dir / "summary.json"
    done = summary_path.exists() and json.loads(summary_path.read_text())["complete"]
    if not done:
        args = [
            "eval", benchmark, "--model", model, "--out", str(eval_dir),
            "--max-tokens", str(config.generate.max_tokens),
        ]  # fmt: skip
        if config.benchmark_limit is not None:
            args += ["--limit", str(config.benchmark_limit)]
        _synth(config, eval_dir, *args)
    summary = json.loads(summary_path.read_text())
    return {
        "pass_at_1": summary["pass_at_k"]["pass@1"],
        "problems": summary["problems"],
        "solved": summary["problems_solved"],
        "reasons": summary["reasons"],
        "completion_tokens": summary["completion_tokens"],
    }


def _heldout(config: RoundsConfig, model: str, run_dir: Path, index: int) -> dict:
    """pass@1 of a checkpoint on the held-out problems: one greedy sample, no correction."""
    if config.heldout is None:
        return {"checkpoint": index, "model": str(model), "pass_at_1": None}
    summary_path = run_dir / "summary.json"
    if not _finished(summary_path):
        _synth(
            config,
            run_dir,
            "generate", "--model", model, "--taxonomy", str(config.taxonomy),
            "--problems-from", str(config.heldout), "--out", str(run_dir),
            "--samples", "1", "--max-attempts", "1", "--temperature", "0",
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


def _kind(export: Path) -> str:
    """dpo when the export's train rows are preference pairs, else sft."""
    try:
        rows = read_split(export, "train")
    except FileNotFoundError:
        raise SynthError(str(export), "holds no train split: not an export") from None
    return "dpo" if rows and all(c in rows[0] for c in PREFERENCE_COLUMNS) else "sft"


def _export(config: RoundsConfig, run_dir: Path, export: Path, options: ExportOptions) -> int:
    """Rows (examples or pairs) exported from the round's run, both splits; 0 when the run
    has none of that kind (nothing verified, or no problem with both kinds of answer)."""
    unit = "pairs" if options.kind == "dpo" else "examples"
    if (export / "export.json").exists():
        counts = json.loads((export / "export.json").read_text())
    else:
        try:
            counts = export_dataset(run_dir, export, options)
        except SynthError as error:
            if "is verified" in error.problem or "no preference pairs" in error.problem:
                return 0  # nothing of this kind this round: no new data
            raise
    return counts[f"train_{unit}"] + counts[f"validation_{unit}"]


def _merge(exports: list[Path], data: Path, columns: tuple[str, ...]) -> Path:
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
                kept = {column: row[column] for column in columns}
                handle.write(json.dumps(kept, ensure_ascii=False) + "\n")
    return data


def _rows(data: Path) -> int:
    with (data / "train.jsonl").open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def _train(
    config: RoundsConfig, train: TrainConfig, base: str, data: Path, checkpoint: Path
) -> dict:
    summary_path = checkpoint / "train_summary.json"
    if not summary_path.exists():
        settings = checkpoint.parent / f"{checkpoint.name}.yaml"
        settings.write_text(yaml.safe_dump(train.model_dump(mode="json")), encoding="utf-8")
        _synth(
            config,
            checkpoint,
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
    checkpoints = [c["checkpoint"] for c in report["checkpoints"]]
    scored = [c for c in report["checkpoints"] if c["pass_at_1"] is not None]
    if scored:
        passes.plot(
            [c["checkpoint"] for c in scored],
            [c["pass_at_1"] for c in scored],
            marker="o",
            label="held-out",
        )
    for benchmark in report["checkpoints"][0].get("benchmarks", {}):
        points = [c["benchmarks"][benchmark]["pass_at_1"] for c in report["checkpoints"]]
        passes.plot(checkpoints, points, marker="s", label=Path(benchmark).stem)
    passes.set_title("pass@1 per checkpoint")
    passes.set_xlabel("checkpoint")
    passes.set_ylim(0, 1)
    passes.set_xticks(checkpoints)
    if passes.lines:
        passes.legend()
    tokens.bar(rounds, [r["completion_tokens"] for r in report["rounds"]])
    tokens.set_title("generated tokens per round")
    tokens.set_xlabel("round")
    tokens.set_xticks(rounds)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
