"""`synth generate` put together: options -> engine, sandbox, store -> pipeline -> summary.

Everything that can be checked before the engine loads is checked first (taxonomy, run
directory settings, replay file, server reachability), so a mistake costs seconds, not a
model load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synth.engines.base import Engine
from synth.errors import SynthError
from synth.pipeline import Pipeline, RunConfig, Stats
from synth.sandbox import get_sandbox
from synth.sandbox.base import Sandbox
from synth.store import RunStore
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


def open_engine(options: GenerateOptions) -> Engine:
    """Build the engine the options name (the vLLM one loads its model here)."""
    if options.engine == "replay":
        from synth.engines.replay import ReplayEngine

        if options.replay is None:
            raise SynthError(
                "--replay", "the replay engine needs the recorded file", "pass --replay FILE"
            )
        engine: Engine = ReplayEngine(options.replay)
    elif options.engine == "openai":
        from synth.engines.openai_http import OpenAIConfig, OpenAIEngine

        engine = OpenAIEngine(OpenAIConfig(base_url=options.base_url, model=options.model))
        engine.check()
    elif options.engine == "vllm":
        from synth.engines.vllm_local import VLLMConfig, VLLMEngine
        from synth.models.registry import converted_dtype, resolve_model

        model = resolve_model(options.model)
        engine = VLLMEngine(
            VLLMConfig(
                model=model,
                dtype=converted_dtype(model),
                seed=options.run.seed,
                max_model_len=options.max_model_len,
                gpu_memory_utilization=options.gpu_memory_utilization,
                kv_cache_gib=options.kv_cache_gib,
            )
        )
    else:
        raise SynthError(
            "--engine", f"unknown engine {options.engine!r}", "choose vllm, openai or replay"
        )
    if options.record is not None:
        from synth.engines.replay import RecordingEngine

        engine = RecordingEngine(engine, options.record)
    return engine


def open_sandbox(kind: str, console: Console) -> Sandbox:
    """The backend `kind` names; says which one `auto` took, and why."""
    sandbox = get_sandbox(kind)
    if sandbox.auto_reason:
        console.print(f"sandbox: {sandbox.describe()} ({sandbox.auto_reason})")
    return sandbox


def check_settings(store: RunStore, settings: dict) -> None:
    """A resumed run must be the same run: everything but the slot count must match."""
    stored = store.read_settings()
    if stored is None:
        return
    different = {
        key: (stored.get(key), value)
        for key, value in settings.items()
        if key != "problems" and stored.get(key) != value
    }
    if different:
        listed = ", ".join(
            f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in sorted(different.items())
        )
        raise SynthError(
            f"--out {store.location}",
            f"holds a run with other settings ({listed})",
            "use a new --out directory, or the stored settings to resume",
        )


def run_generate(options: GenerateOptions, console: Console, engine: Engine | None = None) -> Stats:
    """Run (or resume) the pipeline the options describe. `engine`: an open engine to use
    (and leave open) instead of opening the one the options name."""
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
    settings = {
        **config.settings(),
        "taxonomy": str(taxonomy_path),
        "model": options.model,
        "engine": options.engine,
        "domain": taxonomy.domain,
        "problems_from": str(options.problems_from) if options.problems_from else None,
    }
    check_settings(store, settings)
    sandbox = open_sandbox(options.sandbox, console)
    owns_engine = engine is None
    engine = engine or open_engine(options)
    judge_engine = None
    if options.judge_base_url:
        from synth.engines.openai_http import OpenAIConfig, OpenAIEngine

        judge_engine = OpenAIEngine(
            OpenAIConfig(base_url=options.judge_base_url, model=options.judge_model)
        )
        judge_engine.check()
    store.write_settings(settings)
    finished = False
    with _progress(console) as progress:
        task = progress.add_task("problems", total=config.problems, counts="")

        def show(stats: Stats) -> None:
            rejected = sum(stats.rejected.values())
            progress.update(
                task,
                completed=stats.slots_done,
                counts=f"samples {stats.samples}  verified {stats.trajectories_verified}  "
                f"corrected {stats.trajectories_corrected}  rejected {rejected}  "
                f"{stats.tokens_per_second():.0f} tok/s",
            )

        if taxonomy.domain == "math":
            from synth.math.pipeline import MathPipeline

            pipeline: Pipeline = MathPipeline(
                taxonomy, engine, sandbox, store, config, on_update=show, imported=imported
            )
        else:
            pipeline = Pipeline(
                taxonomy,
                engine,
                sandbox,
                store,
                config,
                on_update=show,
                imported=imported,
                judge_engine=judge_engine,
            )
        try:
            pipeline.run()
            finished = True
        finally:  # an interrupted run still says what it did; the next one resumes
            store.write_summary(
                {**pipeline.stats.summary(), "finished": finished, "settings": settings}
            )
            if owns_engine:
                engine.close()
            sandbox.close()
            if judge_engine is not None:
                judge_engine.close()
    console.print(summary_table(pipeline.stats, options.out))
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


def summary_table(stats: Stats, out: str | Path) -> Table:
    summary = stats.summary()
    table = Table(title=f"synth generate: {out}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in (
        "slots",
        "slots_skipped_already_stored",
        "problems_accepted",
        "samples",
        "verified",
        "corrected",
        "problems_with_verified_solution",
        "completion_tokens",
        "completion_tokens_per_second",
    ):
        table.add_row(key.replace("_", " "), str(summary[key]))
    for reason, count in summary["rejected"].items():
        table.add_row(f"rejected: {reason}", str(count))
    table.caption = f"summary saved to {str(out).rstrip('/')}/summary.json"
    return table


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
        "source": str(run_dir),
        "model": options.model,
        "engine": options.engine,
    }
    check_settings(store, settings)
    sandbox = open_sandbox(options.sandbox, console)
    engine = open_engine(options)
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
