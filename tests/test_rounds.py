"""The loop closes on CPU: seeded with verified examples, training raises the verified yield.

The tiny random model solves none of the held-out problems. A scripted run makes verified
solutions for them (the seed data); one round of `synth rounds` generates with the base
model, trains a checkpoint on the seed data plus what that round verified, and scores both
checkpoints on the held-out problems with the real vLLM engine and the real checker.
"""

from __future__ import annotations

import json

import pytest
import yaml

from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset
from synth.math.pipeline import MathPipeline
from synth.pipeline import RunConfig
from synth.rounds import load_rounds_config, run_rounds
from synth.store import RunStore
from synth.taxonomy import load_taxonomy

PROBLEMS = [(a, b) for a in (2, 3, 4, 5) for b in (6, 7)]


def seed_export(tmp_path, sandbox, heldout):
    """Verified solutions of the held-out problems, as a scripted model would write them."""

    def solve(request, index):
        statement = request.messages[0].content
        a, b = next((a, b) for a, b in PROBLEMS if f"What is {a} plus {b}?" in statement)
        return f"${a} + {b} = {a + b}$.\n\n$\\boxed{{{a + b}}}$"

    imported = [(f"What is {a} plus {b}?", str(a + b)) for a, b in PROBLEMS]
    store = RunStore(tmp_path / "seed-run")
    config = RunConfig(problems=len(imported), samples=1, max_rounds=1, verify_workers=1)
    taxonomy = load_taxonomy("taxonomies/math/skills.yaml")
    MathPipeline(taxonomy, ScriptedEngine(solve), sandbox, store, config, imported=imported).run()
    export_dataset(store.location, tmp_path / "seed", ExportOptions(validation_share=0))
    heldout.write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n" for p, a in imported))
    return tmp_path / "seed"


@pytest.mark.slow
@pytest.mark.sandbox
def test_training_on_verified_data_raises_the_verified_yield(tmp_path, sandbox, tiny_model):
    heldout = tmp_path / "heldout.jsonl"
    seed = seed_export(tmp_path, sandbox, heldout)
    config_file = tmp_path / "rounds.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "out": str(tmp_path / "loop"),
                "base_model": str(tiny_model),
                "rounds": 1,
                "taxonomy": "taxonomies/math/skills.yaml",
                "seed_data": [str(seed)],
                "heldout": str(heldout),
                "generate": {"problems": 2, "samples": 1, "max_rounds": 1, "max_tokens": 48},
                "train": {
                    "max_steps": 400,
                    "learning_rate": 0.003,
                    "batch_size": 8,
                    "logging_steps": 50,
                    "save_steps": 400,
                },
                "max_model_len": 1024,
            }
        )
    )
    report = run_rounds(load_rounds_config(config_file), log=lambda line: None)

    before, after = report["checkpoints"]
    assert before["pass_at_1"] == 0.0  # random weights solve nothing
    assert after["pass_at_1"] >= before["pass_at_1"] + 0.5, report
    (round_0,) = report["rounds"]
    assert round_0["train_examples"] >= len(PROBLEMS) and round_0["completion_tokens"] > 0
    assert (tmp_path / "loop" / "report.png").read_bytes().startswith(b"\x89PNG")
    assert json.loads((tmp_path / "loop" / "report.json").read_text()) == report
    metrics = (tmp_path / "loop" / "round-0" / "checkpoint" / "metrics.jsonl").read_text()
    losses = [json.loads(line)["loss"] for line in metrics.splitlines() if '"loss"' in line]
    assert losses[-1] < losses[0] / 4


def test_a_rounds_config_with_a_wrong_field_names_it(tmp_path):
    bad = tmp_path / "rounds.yaml"
    bad.write_text("out: x\nbase_model: tiny\ntaxonomy: taxonomies/math/skills.yaml\nround: 3\n")
    with pytest.raises(SynthError, match="round"):
        load_rounds_config(bad)
    bad.write_text("out: x\nbase_model: /no/such/model\ntaxonomy: taxonomies/math/skills.yaml\n")
    with pytest.raises(SynthError, match="does not exist"):
        load_rounds_config(bad)
