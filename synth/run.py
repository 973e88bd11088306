"""A run on this machine put together: settings -> engine, sandbox, store -> pipeline kind
-> summary. `synth generate` (code or math), `synth translate` and `synth explain` all go
through `run_kind`; they differ only in the kind they build and the settings they record.

Everything that can be checked before the engine loads is checked first (taxonomy, run
directory settings, replay file, server reachability), so a mistake costs seconds, not a
model load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synth.counts import run_counts
from synth.engines.base import Engine
from synth.engines.registry import EngineSettings, check_engine, open_engine
from synth.pipelines.scheduler import PipelineKind, Stats, run_here
from synth.pipelines.settings import (
    ExplainSettings,
    RunSettings,
    TranslateSettings,
    data_settings,
)
from synth.resume import check_settings, describe_inputs, resolved
from synth.sandbox import get_sandbox
from synth.sandbox.base import Sandbox
from synth.store import RunStore
from synth.summary import build_summary, summary_table
from synth.taxonomy import Taxonomy, default_taxonomy_path, load_taxonomy


@dataclass(frozen=True)
class RunPlace:
    """Where a run writes, which engine answers, where its code runs: what is not data."""

    out: str | Path  # a local path or an fsspec URL
    engine: EngineSettings = field(default_factory=EngineSettings)
    sandbox: str = "auto"  # auto, docker or bubblewrap
    record: Path | None = None  # also record every completion to this JSONL


@dataclass(frozen=True)
class GenerateOptions:
    """A `synth generate` run: where (`place`), its data settings (`run`) and its inputs."""

    place: RunPlace
    run: RunSettings = field(default_factory=RunSettings)
    taxonomy: Path | None = None
    problems_from: str | Path | None = None  # math: a JSONL; code: a JSONL or a run directory
    judge_engine: EngineSettings | None = None  # the judge's own server, if not the run's
    # the files `run.system_prompts` and `run.judge` were read from, hashed into run.json
    system_prompts_file: Path | None = None
    judge_config: Path | None = None


def open_sandbox(kind: str, console: Console) -> Sandbox:
    """The backend `kind` names; says which one `auto` took, and why."""
    sandbox = get_sandbox(kind)
    if sandbox.auto_reason:
        console.print(f"sandbox: {sandbox.describe()} ({sandbox.auto_reason})")
    return sandbox


def generate_settings(
    run: RunSettings,
    taxonomy_path: Path,
    domain: str,
    problems_from: str | Path | None = None,
    *,
    system_prompts_file: Path | None = None,
    judge_config: Path | None = None,
) -> dict:
    """run.json of a generation run, local or a fleet job's (the engine is added by its
    runner): the data settings, locations resolved, and each input file with its sha256
    (a resume compares them: synth/resume.py). A fleet job names no settings files: what
    they said travels in its spec, and so in the data settings."""
    return {
        **data_settings(run),
        "taxonomy": resolved(taxonomy_path),
        "domain": domain,
        "problems_from": resolved(problems_from),
        "inputs": describe_inputs(
            taxonomy=taxonomy_path,
            problems_from=problems_from,
            system_prompts=system_prompts_file,
            judge_config=judge_config,
        ),
    }


def generate_kind(
    taxonomy: Taxonomy,
    run: RunSettings,
    problems_from: str | Path | None = None,
    judge_engine: Engine | None = None,
) -> PipelineKind:
    """The pipeline kind a generation run of this taxonomy's domain is (code or math),
    solving the problems of `problems_from` when given (its slot count then is theirs)."""
    from synth.pipelines.code import CodePipeline
    from synth.pipelines.math import MathPipeline

    run.check_domain(taxonomy.domain)
    imported = None
    if problems_from is not None:
        if taxonomy.domain == "math":
            from synth.math.problems import load_problems

            imported = load_problems(problems_from)
        elif str(problems_from).endswith(".jsonl"):
            from synth.code.problem_files import load_problem_file

            imported = load_problem_file(problems_from)
        else:
            from synth.code.problems import load_verified_problems

            imported = load_verified_problems(problems_from)
        run = run.model_copy(update={"problems": len(imported)})
    if taxonomy.domain == "math":
        return MathPipeline(taxonomy, run, imported=imported)
    return CodePipeline(taxonomy, run, imported=imported, judge_engine=judge_engine)


def run_generate(options: GenerateOptions, console: Console, engine: Engine | None = None) -> Stats:
    """Run (or resume) the generation run the options describe. `engine`: an open engine
    to use (and leave open) instead of opening the one the options name. Returns this
    invocation's stats; summary.json holds the whole run's counts (synth/summary.py)."""
    taxonomy_path = options.taxonomy or default_taxonomy_path()
    taxonomy = load_taxonomy(taxonomy_path)
    judge_engine = None
    if options.judge_engine is not None:
        judge_engine = open_engine(options.judge_engine)  # a server: checked as it opens
    try:
        kind = generate_kind(taxonomy, options.run, options.problems_from, judge_engine)
        settings = generate_settings(
            kind.settings,
            taxonomy_path,
            taxonomy.domain,
            options.problems_from,
            system_prompts_file=options.system_prompts_file,
            judge_config=options.judge_config,
        )
        return run_kind(kind, settings, options.place, console, engine, title="problems")
    finally:
        if judge_engine is not None:
            judge_engine.close()


def derived_settings(
    name: str, source: str | Path, settings: TranslateSettings | ExplainSettings
) -> dict:
    """run.json of a translate or explain run, local or a fleet job's (the engine is added
    by its runner): its data settings and its source run."""
    return {
        "kind": name,
        **data_settings(settings),
        "source": resolved(source),
        "inputs": describe_inputs(source=source),
    }


def run_derived(
    name: str,
    source: str | Path,
    settings: TranslateSettings | ExplainSettings,
    place: RunPlace,
    console: Console,
) -> Stats:
    """`synth translate` and `synth explain`: the verified Python records of the run
    directory `source` in, a run directory of derived records out (resumable like any run)."""
    from synth.code.sources import load_sources
    from synth.pipelines.explain import ExplainPipeline
    from synth.pipelines.translate import TranslatePipeline

    sources = load_sources(source)
    if isinstance(settings, TranslateSettings):
        kind: PipelineKind = TranslatePipeline(sources, settings)
    else:
        kind = ExplainPipeline(sources, settings)
    return run_kind(kind, derived_settings(name, source, settings), place, console, title=name)


def run_kind(
    kind: PipelineKind,
    settings: dict[str, Any],
    place: RunPlace,
    console: Console,
    engine: Engine | None = None,
    *,
    title: str,
) -> Stats:
    """Run (or resume) `kind` into `place.out`; `settings` is the run.json a resume must
    agree with. summary.json is written as the run goes (whole-run counts and this
    invocation's own part); the closing table is printed."""
    store = RunStore(place.out)
    settings = {**settings, "problems": len(kind.slots())}
    settings.setdefault("model", place.engine.model)
    settings.setdefault("engine", place.engine.engine)
    check_settings(store, settings)
    if engine is None:
        check_engine(place.engine)  # the replay file parses, the server answers: before a load
    counts = run_counts(store)  # the whole run so far; each stored batch is added to it
    sandbox = open_sandbox(place.sandbox, console)
    owns_engine = engine is None
    try:
        engine = engine or open_engine(place.engine, kind.settings.seed, place.record)
        store.write_settings(settings)
        started_at = time.time()
        stats = Stats()

        def write_summary(state: str, stopped_by: str | None = None) -> dict:
            summary = build_summary(
                counts,
                stats,
                state=state,
                settings=settings,
                started_at=started_at,
                stopped_by=stopped_by,
            )
            store.write_summary(summary)
            return summary

        def stored(records: list) -> None:
            # One writer per run directory: every record of this invocation is new to the store.
            counts.add(records)
            write_summary("running")

        with _progress(console) as progress:
            task = progress.add_task(title, total=len(kind.slots()), counts="")
            show = _show(progress, task, counts, write_summary)

            def update(now: Stats) -> None:
                nonlocal stats
                stats = now
                show(now)

            try:
                run_here(kind, engine, sandbox, store, on_update=update, on_stored=stored)
            except BaseException as exc:  # an interrupted run says what it did; the next resumes
                write_summary("interrupted", stopped_by=type(exc).__name__)
                raise
            summary = write_summary("finished")
    finally:
        if owns_engine and engine is not None:
            engine.close()
        sandbox.close()
    console.print(summary_table(summary, place.out, title=f"synth {title}"))
    return stats


def _show(progress: Progress, task, counts, write_summary) -> Callable[[Stats], None]:
    announced = False

    def show(stats: Stats) -> None:
        nonlocal announced
        if not announced:  # the first update knows the slots skipped: say "running"
            announced = True
            write_summary("running")
        progress.update(
            task,
            completed=stats.slots_done,
            counts=f"verified {counts.verified}  corrected {counts.corrected}  "
            f"rejected {sum(counts.rejected.values())}  "
            f"{stats.tokens_per_second():.0f} tok/s",
        )

    return show


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    )
