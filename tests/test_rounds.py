"""The loop closes on CPU: seeded with verified examples, training raises the verified yield.

The tiny random model solves none of the held-out problems. A scripted run makes verified
and wrong solutions for them (the seed data: chat examples and preference pairs); one round
of `synth rounds` generates with the base model, trains a checkpoint on the seed data plus
what that round verified, takes a few DPO steps on the pairs, and scores both checkpoints
on the held-out problems (the pipeline's prompt) and as `synth eval` benchmark, with the
real vLLM engine and the real checker.
"""

from __future__ import annotations

import json

import pytest
import yaml

from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset
from synth.pipelines.math import MathPipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.rounds import load_rounds_config, run_rounds
from synth.store import RunStore
from synth.taxonomy import load_taxonomy

PROBLEMS = [(a, b) for a in (2, 3, 4, 5) for b in (6, 7)]


def seed_exports(tmp_path, sandbox, heldout):
    """Verified solutions of the held-out problems, as a scripted model would write them
    (the first sample right, the second off by one), exported as chat examples and as
    preference pairs."""

    def solve(request, index):
        statement = request.messages[0].content
        a, b = next((a, b) for a, b in PROBLEMS if f"What is {a} plus {b}?" in statement)
        total = a + b + index  # sample 1 is wrong
        return f"${a} + {b} = {total}$.\n\n$\\boxed{{{total}}}$"

    imported = [(f"What is {a} plus {b}?", str(a + b)) for a, b in PROBLEMS]
    store = RunStore(tmp_path / "seed-run")
    config = RunSettings(problems=len(imported), samples=2, max_attempts=1, verify_workers=1)
    taxonomy = load_taxonomy("taxonomies/math/skills.yaml")
    run_here(
        MathPipeline(taxonomy, config, imported=imported), ScriptedEngine(solve), sandbox, store
    )
    sft, dpo = tmp_path / "seed", tmp_path / "seed-pairs"
    export_dataset(store.location, sft, ExportOptions(validation_share=0))
    assert export_dataset(store.location, dpo, ExportOptions(kind="dpo", validation_share=0))[
        "train_pairs"
    ] == len(PROBLEMS)
    heldout.write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n" for p, a in imported))
    return sft, dpo


@pytest.mark.slow
@pytest.mark.sandbox
@pytest.mark.timeout(1800)  # seven `synth` processes: four engine starts, two trainings
def test_training_on_verified_data_raises_the_verified_yield(tmp_path, sandbox, tiny_model):
    heldout = tmp_path / "heldout.jsonl"
    sft, pairs = seed_exports(tmp_path, sandbox, heldout)
    config_file = tmp_path / "rounds.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "out": str(tmp_path / "loop"),
                "base_model": str(tiny_model),
                "rounds": 1,
                "taxonomy": "taxonomies/math/skills.yaml",
                "seed_data": [str(sft), str(pairs)],
                "heldout": str(heldout),
                # the same problems through `synth eval` (its own prompt, not the pipeline's)
                "benchmarks": [str(heldout)],
                "generate": {"problems": 2, "samples": 1, "max_attempts": 1, "max_tokens": 48},
                "train": {
                    "max_steps": 400,
                    "learning_rate": 0.003,
                    "batch_size": 8,
                    "logging_steps": 50,
                    "save_steps": 400,
                },
                # then a few DPO steps on the seed pairs, from the SFT checkpoint
                "dpo": {"max_steps": 4, "learning_rate": 1.0e-5, "logging_steps": 1},
                "max_model_len": 1024,
            }
        )
    )
    report = run_rounds(load_rounds_config(config_file), log=lambda line: None)

    before, after = report["checkpoints"]
    assert before["pass_at_1"] == 0.0  # random weights solve nothing
    for checkpoint in (before, after):
        scored = checkpoint["benchmarks"][str(heldout)]
        assert scored["problems"] == len(PROBLEMS)
        assert scored["pass_at_1"] == scored["solved"] / len(PROBLEMS)
    assert before["benchmarks"][str(heldout)]["solved"] == 0
    steps = report["step_seconds"]
    assert set(steps) == {
        "round-0/heldout", "round-0/eval-heldout", "round-0/run", "round-0/checkpoint",
        "round-0/checkpoint-dpo", "round-1/heldout", "round-1/eval-heldout",
    }  # fmt: skip
    assert all(seconds > 0 for seconds in steps.values())
    assert after["pass_at_1"] >= before["pass_at_1"] + 0.5, report
    (round_0,) = report["rounds"]
    assert round_0["train_examples"] >= len(PROBLEMS) and round_0["completion_tokens"] > 0
    assert round_0["dpo_pairs"] >= len(PROBLEMS)  # the seed pairs, and the round's if any
    assert after["model"] == str(tmp_path / "loop" / "round-0" / "checkpoint-dpo")
    dpo_metrics = (tmp_path / "loop" / "round-0" / "checkpoint-dpo" / "metrics.jsonl").read_text()
    assert '"rewards/margins"' in dpo_metrics
    assert (tmp_path / "loop" / "report.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / "loop" / "report.json").read_text()) == report
    metrics = (tmp_path / "loop" / "round-0" / "checkpoint" / "metrics.jsonl").read_text()
    losses = [json.loads(line)["loss"] for line in metrics.splitlines() if '"loss"' in line]
    assert losses[-1] < losses[0] / 4
    # resumed, every step is on disk: nothing runs again and the report is the same
    assert run_rounds(load_rounds_config(config_file), log=lambda line: None) == report


def test_a_rounds_config_with_a_wrong_field_names_it(tmp_path):
    bad = tmp_path / "rounds.yaml"
    bad.write_text("out: x\nbase_model: tiny\ntaxonomy: taxonomies/math/skills.yaml\nround: 3\n")
    with pytest.raises(SynthError, match="round"):
        load_rounds_config(bad)
    bad.write_text("out: x\nbase_model: /no/such/model\ntaxonomy: taxonomies/math/skills.yaml\n")
    with pytest.raises(SynthError, match="does not exist"):
        load_rounds_config(bad)
    bad.write_text(
        "out: x\nbase_model: tiny\ntaxonomy: taxonomies/math/skills.yaml\n"
        "benchmarks: [humaneval, mbpp]\n"
    )
    with pytest.raises(SynthError, match=r"benchmarks\[1\].*'mbpp' is neither"):
        load_rounds_config(bad)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    (pairs / "train.jsonl").write_text(
        json.dumps(
            {
                "prompt": [{"role": "user", "content": "What is 2 plus 6?"}],
                "chosen": [{"role": "assistant", "content": "$\\boxed{8}$"}],
                "rejected": [{"role": "assistant", "content": "$\\boxed{9}$"}],
            }
        )
        + "\n"
    )
    bad.write_text(
        f"out: x\nbase_model: tiny\ntaxonomy: taxonomies/math/skills.yaml\nseed_data: [{pairs}]\n"
    )
    with pytest.raises(SynthError, match=r"seed_data\[0\].*preference pairs"):
        load_rounds_config(bad)
    bad.write_text(
        "out: x\nbase_model: tiny\ntaxonomy: taxonomies/math/skills.yaml\n"
        f"seed_data: [{pairs}]\ndpo: {{packing: true}}\n"
    )
    with pytest.raises(SynthError, match="packing is for method sft"):
        load_rounds_config(bad)
