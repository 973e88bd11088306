"""Datasets out of a run directory: chat examples or preference pairs, deduplicated,
decontaminated, split, with a card.

`export_dataset(run_dir, out, options)` writes a directory:

    train.jsonl | train.parquet | (Hugging Face DatasetDict files)   and the validation split
    README.md        the dataset card: counts, rejections, yields; plots/*.png
    export.json      the same counts as JSON, with the options and what was dropped and why

Two kinds of rows, through one path that differs only in how a record becomes rows:
`sft` (synth.export.dialogs: one chat example per verified trajectory) and `dpo`
(synth.export.preferences: pairs of a verified and a failed answer to one prompt, in
TRL's conversational preference format). The kind is its own option, apart from the file
format (`jsonl`, `parquet`, `hf`): the two choices are independent, and any kind goes in
any format. Both kinds get the same split by problem, the same dedup of problems (pairs
skip the dedup of solutions, see synth.export.dedup) and the same decontamination.

The export streams, in memory bounded whatever the run's size: the shards are read in
batches (synth.export.batches: records to rows, dedup signatures and contamination verdicts,
in `workers` processes), and each batch, in run order, goes through the dedup decisions
(synth.export.dedup), decontamination, the split by problem (synth.export.split) and the
writers (synth.export.formats); the card and export.json come from counters
(synth.export.card). No list of all rows is ever made: what grows with the run is the
near-duplicate indexes (numpy tables, synth.near_duplicates), one set of record ids and one
of problem ids, and the report's list of contaminated rows. The rows, their order and their
split are those of the list-based export it replaced (tests/export/test_streaming.py).

That is the local engine. `engine="dask"` (`synth export --engine dask`) runs the same
stages on a Dask cluster, for runs past what one machine exports in an hour, and writes
the same files (synth.export.on_dask says how); both hand their counts to one ending
(the split's last move, the card, export.json), through synth.export.totals.

The directory is built beside `out` and renamed into place, so a failed export leaves
the previous one (or nothing), never half of one.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synth.errors import SynthError
from synth.evals.benchmarks import BENCHMARKS
from synth.export.batches import Batch, Work, read_batches
from synth.export.card import RunStats, write_card
from synth.export.decontaminate import BenchmarkIndex, dropped_entry
from synth.export.dedup import Dedup, DedupOptions
from synth.export.dialogs import DialogShape, examples
from synth.export.formats import ExportFormat, SplitFiles, read_split
from synth.export.preferences import (
    REJECTED_STAGES,
    ExportKind,
    check_rejected_stages,
    preference_pairs,
)
from synth.export.totals import Totals
from synth.store import RunStore

__all__ = ["ExportOptions", "examples", "export_dataset", "preference_pairs", "read_split"]


@dataclass(frozen=True)
class ExportOptions:
    format: ExportFormat = "jsonl"
    kind: ExportKind = "sft"  # sft: chat examples; dpo: preference pairs
    dialog: DialogShape = "final"  # sft only
    validation_share: float = 0.05
    split_seed: int = 0  # also the draw that breaks ties between pairs
    dedup: DedupOptions | None = field(default_factory=DedupOptions)  # None: keep duplicates
    benchmarks: tuple[Path, ...] = ()
    # the benchmarks `synth eval` knows, by name: decontaminated against unless turned off
    builtin_benchmarks: tuple[str, ...] = tuple(BENCHMARKS)
    ngram: int = 13
    # dpo only: pairs per problem, and the verdict stages a rejected answer may come from,
    # most preferred first (see synth.export.preferences)
    max_pairs_per_problem: int = 4
    rejected_stages: tuple[str, ...] = REJECTED_STAGES
    # processes that read records and make rows (synth.export.batches); 0: one a core, at
    # most 4. The output is the same whatever the number.
    workers: int = 0

    def __post_init__(self) -> None:
        if self.kind == "dpo" and self.dialog != "final":
            raise SynthError(
                f"--dialog {self.dialog}",
                "applies to --kind sft",
                "a pair's answers are first attempts: drop --dialog",
            )
        if self.max_pairs_per_problem < 1:
            raise SynthError("--max-pairs-per-problem", f"{self.max_pairs_per_problem} is below 1")
        check_rejected_stages(self.rejected_stages)


ENGINES = ("local", "dask")


def export_dataset(
    run_dir: str | Path,
    out: str | Path,
    options: ExportOptions,
    engine: str = "local",
    scheduler: str | None = None,
) -> dict:
    """Export a run's verified examples (or, `kind="dpo"`, its preference pairs) to the
    directory `out`; returns the counts.

    `engine`: "local" streams the run here (synth.export.batches); "dask" runs the same
    stages on a Dask cluster (synth.export.on_dask: the one at `scheduler`, or a local one
    of `options.workers` processes). Both write the same files."""
    if engine not in ENGINES:
        raise SynthError("--engine", f"unknown engine {engine!r}", f"one of {', '.join(ENGINES)}")
    if scheduler is not None and engine != "dask":
        raise SynthError("--scheduler", "applies to --engine dask", "add --engine dask")
    on_dask = _dask_engine() if engine == "dask" else None
    store = RunStore(run_dir)
    if not store.exists():
        raise SynthError(str(run_dir), "not a run directory (it does not exist)")
    out = Path(out)
    if out.exists() and not (out / "export.json").exists() and any(out.iterdir()):
        raise SynthError(
            f"--out {out}", "exists and is not an export", "choose a new or empty directory"
        )
    index = BenchmarkIndex(n=options.ngram)
    against = []  # read before anything is written
    for name in options.builtin_benchmarks:
        against.append(f"{name} (built in, {index.add_builtin(name)} problems)")
    for benchmark in options.benchmarks:
        against.append(f"{Path(benchmark).name} ({index.add_file(benchmark)} lines)")
    work = Work(store.location, options, index if against else None, _areas(store))

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        files = SplitFiles(tmp, options.format)
        if on_dask is None:
            totals = _stream(work, files)
        else:
            totals = on_dask.export_rows(work, files, scheduler)
        files.close()
        summary = _finish(tmp, store, options, against, files, totals)
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _stream(work: Work, files: SplitFiles) -> Totals:
    """The local engine: the batches in run order, each through the dedup decisions,
    decontamination, the split and the writers."""
    options = work.options
    totals = Totals.of(options)
    dedup = Dedup(options.dedup, solutions=options.kind == "sft") if options.dedup else None
    seen: set[str] = set()  # record ids: a fleet may store a record twice
    for batch in read_batches(work, options.workers or default_workers()):
        _first_copies(batch, seen, dedup, work.benchmarks)
        for facts in batch.facts:
            totals.stats.add_facts(facts)
        totals.found += len(batch.rows)
        kept = range(len(batch.rows))
        if dedup is not None:
            kept = dedup.keep_indices(batch.rows, batch.signed)
        for i in kept:
            row = batch.rows[i]
            if batch.contamination and batch.contamination[i] is not None:
                totals.contaminated.append(dropped_entry(row, batch.contamination[i]))
                continue
            totals.rows.add(row)
            files.write(totals.split.side(row["problem_id"]), row)
        del batch
    if dedup is not None:
        totals.duplicates = dedup.dropped
    return totals


def _finish(
    tmp: Path,
    store: RunStore,
    options: ExportOptions,
    against: list[str],
    files: SplitFiles,
    totals: Totals,
) -> dict:
    """After the rows are written and closed: the checks that need the whole export, the
    split's last move, the card and export.json; returns the summary."""
    stats, split, found = totals.stats, totals.split, totals.found
    _check_rows(store.location, stats, options, found)
    duplicates = dict(sorted(totals.duplicates.items()))
    unit = "pairs" if options.kind == "dpo" else "examples"
    if split.rows["train"] + split.rows["validation"] == 0:
        raise SynthError(
            store.location,
            f"all {found} {unit} were dropped (duplicates {duplicates}, "
            f"contaminated {len(totals.contaminated)})",
            "loosen the dedup thresholds or check the benchmark files",
        )
    if move := split.finish():
        split.moved(move[1], move[2], files.move_problem(*move))
    summary = {
        "kind": options.kind,
        "records": stats.records,
        "verified_records": stats.verified_records,
        f"{unit}_found": found,
        "dropped_duplicates": sum(duplicates.values()),
        "dropped_contaminated": len(totals.contaminated),
        "decontaminated_against": ", ".join(against) or "nothing",
        f"train_{unit}": split.rows["train"],
        f"validation_{unit}": split.rows["validation"],
        "train_problems": split.problems["train"],
        "validation_problems": split.problems["validation"],
    }
    report = {
        **summary,
        **({"pairs_by_reason": totals.rows.pairs_by_reason()} if options.kind == "dpo" else {}),
        "duplicates": duplicates,
        "contaminated": totals.contaminated,
        "options": {
            **asdict(options),
            "benchmarks": [str(b) for b in options.benchmarks],
            "builtin_benchmarks": list(options.builtin_benchmarks),
        },
        "run_dir": store.location,
    }
    report["files"] = files.finish()
    write_card(tmp, f"synth dataset from {store.name}", stats, summary, totals.rows)
    (tmp / "export.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return summary


def _dask_engine():
    """synth.export.on_dask, or a SynthError naming the extra when Dask is missing."""
    try:
        import dask  # noqa: F401
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise SynthError(
            "--engine dask",
            f"needs Dask, which is not installed here ({exc})",
            "pip install 'synth[dask]'",
        ) from None
    from synth.export import on_dask

    return on_dask


def _check_rows(run_dir: str, stats: RunStats, options: ExportOptions, found: int) -> None:
    """Refuse a run with no records, none verified, or (pairs) no pair at all."""
    if stats.records == 0:
        raise SynthError(run_dir, "holds no records", "run `synth generate --out` into it first")
    if stats.verified_records == 0:
        raise SynthError(
            run_dir,
            f"none of its {stats.records} records is verified, nothing to export",
            "see summary.json for the rejection reasons",
        )
    if not found:  # pairs only: every verified record gives an SFT example
        raise SynthError(
            run_dir,
            f"no preference pairs: none of its {stats.verified_records} verified problems has "
            "both a first attempt that passed and one that failed at "
            f"{'/'.join(options.rejected_stages)} (a pair needs both, for the same prompt)",
            "generate more --samples per problem, at a higher --temperature, so that answers "
            "differ; admit more failures with --rejected-stages; or export --kind sft",
        )


def default_workers() -> int:
    """Processes that make batches (synth.export.batches): one a core, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _first_copies(batch: Batch, seen: set[str], dedup: Dedup | None, benchmarks) -> None:
    """Drop from the batch the records already read (stored twice): rare, so their rows'
    signatures and verdicts are then made again here rather than picked apart."""
    again = set()
    for i, record_id in enumerate(batch.record_ids):
        if record_id in seen:
            again.add(i)
        seen.add(record_id)
    if not again:
        return
    keep = [i for i, record in enumerate(batch.row_records) if record not in again]
    batch.rows = [batch.rows[i] for i in keep]
    batch.row_records = [batch.row_records[i] for i in keep]
    batch.facts = [f for i, f in enumerate(batch.facts) if i not in again]
    batch.signed = dedup.sign(batch.rows) if dedup is not None else None
    batch.contamination = benchmarks.contaminations(batch.rows) if benchmarks else []


def _areas(store: RunStore) -> dict[str, str]:
    """concept id -> its taxonomy area, from the run's taxonomy ({} when it cannot be read:
    the card then says "unknown" rather than failing the export)."""
    settings = store.read_settings() or {}
    try:
        from synth.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(settings["taxonomy"])
    except (KeyError, SynthError):
        return {}
    return {c.id: c.path[0] for c in taxonomy.concepts}


def _replace_dir(new: Path, out: Path) -> None:
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)
