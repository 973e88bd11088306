"""Exporting a run directory: formats, split by problem, dedup, decontamination, the card."""

from __future__ import annotations

import json

import pytest

from synth.errors import SynthError
from synth.export import ExportOptions, export_dataset, read_split
from synth.export.dedup import DedupOptions
from synth.records import (
    Attempt,
    Problem,
    Record,
    Sample,
    TestCase,
    TestSuite,
    Trajectory,
    Verdict,
    record_id,
)
from synth.store import RunStore

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike".split()


def statement(slot: int) -> str:
    """Distinct statements: each slot draws its own words."""
    words = [WORDS[(slot * 7 + i * 3) % len(WORDS)] + str(slot) for i in range(12)]
    return f"Write a function that combines {' '.join(words)} into one result number {slot}."


def record(slot: int, text: str | None = None, solutions: tuple[str, ...] = ()) -> Record:
    problem = Problem(
        id=f"p{slot}",
        slot=slot,
        concept_ids=("reverse-words",),
        statement=text or statement(slot),
        signature="def f(x):",
        entry_point="f",
    )
    codes = solutions or (
        f"def f(x):\n    return x + {slot}\n",
        f"def f(x):\n    return {slot} + x\n",
    )
    trajectories = tuple(
        Trajectory(
            index=i,
            attempts=(
                Attempt(
                    sample=Sample(
                        id=f"s{slot}-{i}",
                        problem_id=problem.id,
                        trajectory=i,
                        round=1,
                        text=f"```python\n{code}```",
                        code=code,
                    ),
                    verdict=Verdict(id=f"v{slot}-{i}", passed=True, stage="ok", reason="ok"),
                ),
            ),
        )
        for i, code in enumerate(codes)
    )
    return Record(
        id=record_id(0, slot),
        slot=slot,
        status="verified",
        concept_ids=problem.concept_ids,
        problem=problem,
        tests=TestSuite(problem_id=problem.id, cases=(TestCase(name="t1", source="assert f(1)"),)),
        trajectories=trajectories,
    )


def rejected(slot: int) -> Record:
    return Record(
        id=record_id(0, slot),
        slot=slot,
        status="rejected",
        concept_ids=("reverse-words",),
        rejected_at="problem",
        rejection="unparseable",
    )


@pytest.fixture
def run_dir(tmp_path):
    store = RunStore(tmp_path / "run")
    store.write_settings({"taxonomy": "taxonomies/code/python.yaml"})
    store.write([record(slot) for slot in range(10)] + [rejected(10)])
    return tmp_path / "run"


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_every_format_holds_the_same_rows(run_dir, tmp_path, fmt):
    out = tmp_path / fmt
    counts = export_dataset(run_dir, out, ExportOptions(format=fmt, validation_share=0.3))
    train, validation = read_split(out, "train"), read_split(out, "validation")
    assert counts["train_examples"] == len(train) and counts["validation_examples"] == len(
        validation
    )
    assert len(train) + len(validation) == 20 and validation
    reference = read_split(_jsonl(run_dir, tmp_path), "train")
    assert sorted(r["sample_id"] for r in train) == sorted(r["sample_id"] for r in reference)
    row = train[0]
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    assert row["skills"] == ["reverse-words"] and row["domain"] == "code"
    assert {"rounds", "verdict", "model", "seed", "language", "problem"} <= set(row)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_an_empty_validation_split_reads_back_empty(run_dir, tmp_path, fmt):
    out = tmp_path / fmt
    export_dataset(run_dir, out, ExportOptions(format=fmt, validation_share=0))
    assert len(read_split(out, "train")) == 20 and read_split(out, "validation") == []


def test_a_jsonl_row_holding_a_line_separator_reads_back_whole(tmp_path):
    # json.dumps(ensure_ascii=False) keeps U+2028 raw; str.splitlines would cut there
    from synth.inputs import read_jsonl

    row = {"messages": [{"role": "user", "content": "a\u2028b\u2029c\x85d"}]}
    (tmp_path / "train.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n")
    assert read_split(tmp_path, "train") == [row]
    assert [line for _, line in read_jsonl(tmp_path / "train.jsonl", "rows")] == [row]


def _jsonl(run_dir, tmp_path):
    out = tmp_path / "reference"
    export_dataset(run_dir, out, ExportOptions(validation_share=0.3))
    return out


def test_split_keeps_each_problem_on_one_side(run_dir, tmp_path):
    out = tmp_path / "out"
    export_dataset(run_dir, out, ExportOptions(validation_share=0.5, split_seed=3))
    train = {r["problem_id"] for r in read_split(out, "train")}
    validation = {r["problem_id"] for r in read_split(out, "validation")}
    assert train and validation and not train & validation
    assert len(train | validation) == 10


def test_exact_and_near_duplicates_are_dropped_with_counts(tmp_path):
    store = RunStore(tmp_path / "run")
    details = " ".join(f"{w} means {i}" for i, w in enumerate(WORDS * 2))  # a long statement
    base = f"{statement(1)} {details}."
    store.write(
        [
            record(1, text=base),
            record(2, text=base.upper() + "  "),  # the same text, normalised: exact copy
            record(3, text=base.replace("number 1", "number 9")),  # a word changed: near copy
            record(4, solutions=("def f(x):\n    return x * 2\n",) * 2),  # two identical solutions
            record(5),
        ]
    )
    out = tmp_path / "out"
    counts = export_dataset(store.location, out, ExportOptions(validation_share=0))
    report = json.loads((out / "export.json").read_text())
    assert report["duplicates"] == {"exact_problem": 2, "near_problem": 2, "exact_solution": 1}
    assert counts["dropped_duplicates"] == 5 and counts["train_examples"] == 5
    kept = {r["problem_id"] for r in read_split(out, "train")}
    assert kept == {"p1", "p4", "p5"}

    strict = tmp_path / "strict"
    export_dataset(
        store.location,
        strict,
        ExportOptions(validation_share=0, dedup=DedupOptions(problem_threshold=0.98)),
    )
    assert json.loads((strict / "export.json").read_text())["duplicates"].get("near_problem", 0) < 2


def test_examples_sharing_a_long_ngram_with_a_benchmark_are_dropped(run_dir, tmp_path):
    bench = tmp_path / "humaneval.jsonl"
    leaked = " ".join(statement(4).split()[3:17])
    bench.write_text(json.dumps({"prompt": f"def g():\n    '''{leaked}'''", "test": "x"}) + "\n")
    out = tmp_path / "out"
    counts = export_dataset(run_dir, out, ExportOptions(validation_share=0, benchmarks=(bench,)))
    report = json.loads((out / "export.json").read_text())
    assert counts["dropped_contaminated"] == 2
    assert {d["benchmark"] for d in report["contaminated"]} == {"humaneval"}
    assert all(len(d["ngram"].split()) == 13 for d in report["contaminated"])
    assert "p4" not in {r["problem_id"] for r in read_split(out, "train")}


def test_the_report_names_the_first_shared_ngram_of_the_text():
    """In reading order, not a set's (whose order changes with the hash seed of each
    process, and with it export.json)."""
    from synth.export.decontaminate import BenchmarkIndex

    words = [f"{w}{i}" for i, w in enumerate(WORDS * 4)]
    index = BenchmarkIndex(n=5)
    index.add_items("bench", [" ".join(words[10:])])
    found = index.shared("Intro words " + " ".join(words[8:]))
    assert found == ("bench", " ".join(words[10:15]))


def test_humaneval_is_decontaminated_against_by_default(run_dir, tmp_path):
    """The benchmark `synth eval` judges a round by is never in what the round trains on."""
    from synth.evals.benchmarks import load_humaneval
    from synth.export.decontaminate import BenchmarkIndex

    index = BenchmarkIndex()
    assert index.add_builtin("humaneval") == 164
    first = load_humaneval().tasks[0]  # has_close_elements: its docstring, in a problem
    found = index.contamination({"problem": "Task: " + first.prompt, "messages": []})
    assert found is not None and found[0] == "humaneval"
    assert index.contamination({"problem": statement(4), "messages": []}) is None

    out = tmp_path / "out"
    counts = export_dataset(run_dir, out, ExportOptions(validation_share=0))
    assert counts["decontaminated_against"] == "humaneval (built in, 164 problems)"
    assert (
        "| decontaminated against | humaneval (built in, 164 problems) |"
        in (out / "README.md").read_text()
    )
    off = export_dataset(run_dir, tmp_path / "off", ExportOptions(builtin_benchmarks=()))
    assert off["decontaminated_against"] == "nothing"
    with pytest.raises(SynthError, match="unknown"):
        BenchmarkIndex().add_builtin("mbpp")


def test_the_card_has_counts_reasons_yields_and_plots(run_dir, tmp_path):
    out = tmp_path / "out"
    export_dataset(run_dir, out, ExportOptions())
    card = (out / "README.md").read_text()
    assert "| records | 11 |" in card and "| verified records | 10 |" in card
    assert "| problem/unparseable | 1 |" in card
    assert "| strings | 11 | 10 | 91% |" in card  # reverse-words is in the strings area
    for plot in ("yield_by_area", "self_correction", "lengths"):
        data = (out / "plots" / f"{plot}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_bad_input_is_refused_and_nothing_is_written(run_dir, tmp_path):
    empty = RunStore(tmp_path / "empty")
    empty.write_settings({})
    with pytest.raises(SynthError, match="holds no records"):
        export_dataset(empty.location, tmp_path / "a", ExportOptions())
    assert not (tmp_path / "a").exists()

    bench = tmp_path / "broken.jsonl"
    bench.write_text('{"prompt": "fine"}\n{"prompt": \n')
    with pytest.raises(SynthError, match="broken.jsonl:2"):
        export_dataset(run_dir, tmp_path / "b", ExportOptions(benchmarks=(bench,)))
    assert not (tmp_path / "b").exists()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    with pytest.raises(SynthError, match="not an export"):
        export_dataset(run_dir, precious, ExportOptions())
    assert (precious / "notes.txt").read_text() == "mine"


def test_exporting_again_replaces_the_previous_export(run_dir, tmp_path):
    out = tmp_path / "out"
    export_dataset(run_dir, out, ExportOptions(format="parquet"))
    export_dataset(run_dir, out, ExportOptions(format="jsonl"))
    assert (out / "train.jsonl").exists() and not (out / "train.parquet").exists()
    assert not list(tmp_path.glob(".out.*"))
