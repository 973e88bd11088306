"""`synth generate` put together: options -> engine, sandbox, store -> pipeline -> summary.

Everything that can be checked before the engine loads is checked first (taxonomy, run
directory settings, replay file, server reachability), so a mistake costs seconds, not a
model load.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from synth.counts import run_counts
from synth.engines.base import Engine
from synth.engines.registry import EngineSettings, open_engine
from synth.errors import SynthError
from synth.pipelines.code import CodePipeline
from synth.pipelines.config import RunConfig
from synth.pipelines.math import MathPipeline
from synth.pipelines.scheduler import Stats
from synth.sandbox import get_sandbox
from synth.sandbox.base import Sandbox
from synth.settings import check_settings, describe_inputs, resolved
from synth.store import RunStore
from synth.summary import build_summary, summary_table
from synth.taxonomy import default_taxonomy_path, load_taxonomy


@dataclass(frozen=True)
class GenerateOptions:
    """Where a run writes, what it reads and which engine answers; `run` holds the data knobs."""

    out: str | Path  # a local path or an fsspec URL
    run: RunConfig = field(default_factory=RunConfig)
    taxonomy: Path | None = None
    model: str = "tiny"
    engine: str = "vllm"
    base_url: str = "http://127.0.0.1:8000/v1"
    replay: Path | None = None
    record: Path | None = None
    gpu_memory_utilization: float | None = None
    kv_cache_gib: float | None = None
    max_model_len: int = 4096
    problems_from: str | Path | None = None  # math: a JSONL; code: a JSONL or a run directory
    sandbox: str = "auto"  # auto, docker or bubblewrap
    judge_base_url: str | None = None  # the judge's own OpenAI-compatible server
    judge_model: str = "judge"
    # the files `run.system_prompts` and `run.judge` were read from, hashed into run.json
    system_prompts_file: Path | None = None
    judge_config: Path | None = None

    def engine_settings(self) -> EngineSettings:
        """The engine these options name (synth.engines.registry opens it)."""
        return EngineSettings(
            kind=self.engine,
            model=self.model,
            base_url=self.base_url,
            replay=str(self.replay) if self.replay else None,
            record=str(self.record) if self.record else None,
            seed=self.run.seed,
            max_model_len=self.max_model_len,
            gpu_memory_utilization=self.gpu_memory_utilization,
            kv_cache_gib=self.kv_cache_gib,
        )


def open_sandbox(kind: str, console: Console) -> Sandbox:
    """The backend `kind` names; says which one `auto` took, and why."""
    sandbox = get_sandbox(kind)
    if sandbox.auto_reason:
        console.print(f"sandbox: {sandbox.describe()} ({sandbox.auto_reason})")
    return sandbox


def generate_settings(
    options: GenerateOptions, config: RunConfig, taxonomy_path: Path, domain: str
) -> dict:
    """run.json of a `synth generate` run: the data knobs, locations resolved, and each
    input file with its sha256 (a resume compares them: synth/settings.py)."""
    return {
        **config.settings(),
        "taxonomy": resolved(taxonomy_path),
        "model": options.model,
        "engine": options.engine,
        "domain": domain,
        "problems_from": resolved(options.problems_from),
        "inputs": describe_inputs(
            taxonomy=taxonomy_path,
            problems_from=options.problems_from,
            system_prompts=options.system_prompts_file,
            judge_config=options.judge_config,
        ),
    }


def run_generate(options: GenerateOptions, console: Console, engine: Engine | None = None) -> Stats:
    """Run (or resume) the pipeline the options describe. `engine`: an open engine to use
    (and leave open) instead of opening the one the options name. Returns this invocation's
    stats; summary.json holds the whole run's counts (synth/summary.py)."""
    taxonomy_path = options.taxonomy or default_taxonomy_path()
    taxonomy = load_taxonomy(taxonomy_path)
    config = options.run
    imported = None
    if options.problems_from is not None:
        from dataclasses import replace

        if taxonomy.domain == "math":
            from synth.math.problems import load_problems

            imported = load_problems(options.problems_from)
        elif str(options.problems_from).endswith(".jsonl"):
            from synth.code.problem_files import load_problem_file

            imported = load_problem_file(options.problems_from)
        else:
            from synth.code.problems import load_verified_problems

            imported = load_verified_problems(options.problems_from)
        config = replace(config, problems=len(imported))
    if taxonomy.domain == "math" and (config.judge or config.system_prompts):
        raise SynthError(
            "--judge/--system-prompts", "apply to code runs", f"{taxonomy_path} is a math taxonomy"
        )
    store = RunStore(options.out)
    settings = generate_settings(options, config, taxonomy_path, taxonomy.domain)
    check_settings(store, settings)
    counts = run_counts(store)  # the whole run so far; each stored batch is added to it
    sandbox = open_sandbox(options.sandbox, console)
    owns_engine = engine is None
    engine = engine or open_engine(options.engine_settings())
    judge_engine = None
    if options.judge_base_url:
        from synth.engines.openai_http import OpenAIConfig, OpenAIEngine

        judge_engine = OpenAIEngine(
            OpenAIConfig(base_url=options.judge_base_url, model=options.judge_model)
        )
        judge_engine.check()
    store.write_settings(settings)
    started_at = time.time()
    pipeline: CodePipeline | MathPipeline

    def write_summary(state: str, stopped_by: str | None = None) -> dict:
        summary = build_summary(
            counts,
            pipeline.stats,
            state=state,
            settings=settings,
            started_at=started_at,
            stopped_by=stopped_by,
        )
        store.write_summary(summary)
        return summary

    def stored(records: list) -> None:
        # One writer per run directory: every record of this invocation is new to the store.
        for record in records:
            counts.add(record)
        write_summary("running")

    with _progress(console) as progress:
        task = progress.add_task("problems", total=config.problems, counts="")
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

        parts = (taxonomy, engine, sandbox, store, config)
        hooks = {"on_update": show, "imported": imported, "on_stored": stored}
        if taxonomy.domain == "math":
            pipeline = MathPipeline(*parts, **hooks)
        else:
            pipeline = CodePipeline(*parts, **hooks, judge_engine=judge_engine)
        try:
            pipeline.run()
        except BaseException as exc:  # an interrupted run still says what it did; the next resumes
            write_summary("interrupted", stopped_by=type(exc).__name__)
            raise
        else:
            summary = write_summary("finished")
        finally:
            if owns_engine:
                engine.close()
            sandbox.close()
            if judge_engine is not None:
                judge_engine.close()
    console.print(summary_table(summary, options.out))
    return pipeline.stats


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    )


def run_derived(
    kind: str,
    run_dir: str | Path,
    options: GenerateOptions,
    settings: dict,
    work: Callable,
    console: Console,
):
    """`synth translate` and `synth explain`: the verified Python records of RUN_DIR in, a
    run directory of derived records out (resumable like any run). `work(sources, engine,
    sandbox, store, on_update)` does the kind's work and returns its counts."""
    from synth.code.sources import load_sources

    sources = load_sources(run_dir)
    store = RunStore(options.out)
    settings = {
        **settings,
        "source": resolved(run_dir),
        "model": options.model,
        "engine": options.engine,
        "inputs": describe_inputs(source=run_dir),
    }
    check_settings(store, settings)
    sandbox = open_sandbox(options.sandbox, console)
    engine = open_engine(options.engine_settings())
    store.write_settings(settings)
    try:
        with _progress(console) as progress:
            task = progress.add_task(kind, total=None, counts="")

            def show(stats) -> None:
                progress.update(
                    task,
                    completed=stats.records,
                    counts=f"records {stats.records}  verified {stats.verified}  "
                    f"samples {stats.samples}",
                )

            stats = work(sources, engine, sandbox, store, show)
    finally:
        engine.close()
        sandbox.close()
    summary = {
        "kind": kind,
        "sources": len(sources),
        "records": stats.records,
        "verified": stats.verified,
        "rejected": stats.rejected,
        "verified_by_language": stats.by_language,
        "settings": settings,
    }
    store.write_summary(summary)
    console.print(
        f"{kind}: {stats.verified} of {stats.records} records verified in this pass, "
        f"written to {options.out}"
    )
    return stats
