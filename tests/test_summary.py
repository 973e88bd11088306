"""summary.json describes the whole run: a run interrupted after its first batch and resumed
ends with the same whole-run counts as the same run done in one go (code and math alike),
and a resume with nothing to do keeps them. The invocation's own counts are a section apart.
"""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
import yaml
from rich.console import Console

from synth.counts import count_records, run_counts
from synth.engines.base import ChatRequest
from synth.engines.scripted import ScriptedEngine
from synth.pipelines.settings import RunSettings
from synth.run import GenerateOptions, RunPlace, run_generate
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import Taxonomy
from tests.pipelines import test_math as math_scenario
from tests.pipelines.test_code import TAXONOMY, _fixed_combos, scenario

pytestmark = pytest.mark.sandbox

# One slot per batch and one batch in flight: "after the first batch" is after slot 0.
CODE = RunSettings(
    problems=2,
    samples=2,
    max_attempts=3,
    batch_size=1,
    batches_in_flight=1,
    min_tests=2,
    limits=Limits(timeout_s=5),
)
MATH = RunSettings(
    problems=2,
    samples=3,
    max_attempts=2,
    seed=7,
    batch_size=1,
    batches_in_flight=1,
    limits=Limits(timeout_s=20),
    verify_workers=1,
)


def taxonomy_file(tmp_path, taxonomy: Taxonomy):
    """`taxonomy` as the YAML file `synth generate --taxonomy` reads."""
    path = tmp_path / f"{taxonomy.name}.yaml"
    leaves = [
        {"id": c.id, "name": c.name, "description": c.description, "weight": c.weight}
        for c in taxonomy.concepts
    ]
    area = {"id": "area", "name": "Area", "children": leaves}
    path.write_text(
        yaml.safe_dump({"name": taxonomy.name, "domain": taxonomy.domain, "areas": [area]})
    )
    return path


def generate(out, taxonomy, config, respond, name="scripted") -> dict:
    """`synth generate` with a scripted engine; returns the summary.json it left."""
    place = RunPlace(out=out, sandbox="bubblewrap")
    options = GenerateOptions(place=place, run=config, taxonomy=taxonomy)
    console = Console(file=io.StringIO(), width=200)
    try:
        run_generate(options, console, engine=ScriptedEngine(respond, name=name))
    finally:
        generate.output = console.file.getvalue()
    return RunStore(out).read_summary()


def dies_on_second_problem(respond):
    """`respond`, but the second problem request is a Ctrl-C (slot 0 is stored by then)."""
    calls = Counter()

    def answer(request: ChatRequest, index: int):
        calls[request.tag] += 1
        if request.tag == "problem" and calls["problem"] == 2:
            raise KeyboardInterrupt
        return respond(request, index)

    return answer


def whole_run(summary: dict) -> dict:
    """summary.json without the section of the invocation that wrote it."""
    return {key: value for key, value in summary.items() if key != "this_invocation"}


def test_an_interrupted_and_resumed_code_run_sums_up_like_one_done_in_one_go(tmp_path, monkeypatch):
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    taxonomy = taxonomy_file(tmp_path, TAXONOMY)
    in_one_go = generate(tmp_path / "one-go", taxonomy, CODE, scenario)

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "resumed", taxonomy, CODE, dies_on_second_problem(scenario))
    stopped = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert (stopped["state"], stopped["finished"]) == ("interrupted", False)
    assert stopped["this_invocation"]["stopped_by"] == "KeyboardInterrupt"
    assert (stopped["slots"], stopped["slots_done"]) == (2, 1)
    assert stopped["problems_with_verified_solution"] == 1 and stopped["rejected"] == {}

    resumed = generate(tmp_path / "resumed", taxonomy, CODE, scenario)
    assert resumed["this_invocation"]["slots_done"] == 1
    assert resumed["this_invocation"]["slots_skipped_already_stored"] == 1
    assert whole_run(resumed) == whole_run(in_one_go)
    # what the two records hold: clamp verified (one sample corrected), is_even's tests vacuous
    assert (resumed["slots_done"], resumed["verified"], resumed["corrected"]) == (2, 2, 1)
    assert resumed["samples"] == 3 and resumed["completion_tokens"] > 0
    assert resumed["rejected"] == {"tests/tests_vacuous": 1}
    assert resumed["state"] == "finished" and resumed["finished"] is True
    assert "2 of 2" in generate.output and "this invocation" in generate.output

    # Nothing left to do: the whole run is still what summary.json says.
    again = generate(tmp_path / "resumed", taxonomy, CODE, scenario)
    assert again["this_invocation"]["slots_done"] == 0
    assert again["this_invocation"]["slots_skipped_already_stored"] == 2
    assert again["this_invocation"]["completion_tokens"] == 0
    assert whole_run(again) == whole_run(in_one_go)


def test_an_interrupted_and_resumed_math_run_sums_up_like_one_done_in_one_go(tmp_path):
    taxonomy = taxonomy_file(tmp_path, math_scenario.TAXONOMY)
    math_scenario.respond.problems = 0
    in_one_go = generate(tmp_path / "one-go", taxonomy, MATH, math_scenario.respond)

    math_scenario.respond.problems = 0
    with pytest.raises(KeyboardInterrupt):
        generate(
            tmp_path / "resumed", taxonomy, MATH, dies_on_second_problem(math_scenario.respond)
        )
    resumed = generate(tmp_path / "resumed", taxonomy, MATH, math_scenario.respond)

    assert whole_run(resumed) == whole_run(in_one_go)
    assert resumed["settings"]["domain"] == "math"
    assert (resumed["slots_done"], resumed["problems_with_verified_solution"]) == (2, 1)
    assert resumed["verified"] == 3 and resumed["corrected"] == 1
    assert resumed["rejected"] == {"reference/reference_failed": 1}
    assert resumed["this_invocation"]["slots_done"] == 1


def test_run_counts_are_the_records_counted_once(tmp_path, monkeypatch):
    """The one function every reader takes whole-run counts from agrees with the records,
    and a record stored twice (a fleet's redelivered task) counts once."""
    monkeypatch.setattr("synth.pipelines.batch.sample_combo", _fixed_combos)
    taxonomy = taxonomy_file(tmp_path, TAXONOMY)
    summary = generate(tmp_path / "run", taxonomy, CODE, scenario)
    store = RunStore(tmp_path / "run")
    records = list(store.records())
    twice = RunStore(tmp_path / "run")
    shard = sorted((tmp_path / "run" / "records").iterdir())[0]
    (shard.parent / "shard-99999999999999999999-copy.jsonl").write_text(shard.read_text())

    counts = run_counts(twice)
    assert counts == count_records(records)
    assert counts.as_dict(planned=2) == {key: summary[key] for key in counts.as_dict(planned=2)}
    assert count_records(records[:1]) + count_records(records[1:]) == counts
