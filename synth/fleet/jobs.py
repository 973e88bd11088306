"""Job specs: what a queued job is, checked before anything is queued.

A job spec is a YAML file of the same settings the `synth` command takes (the fields of
synth/pipelines/settings.py and the engine's of synth/engines/registry.py, flat), plus
where the records go and how the fleet cuts the job. Its `kind` says what the job makes:

    kind: generate                          # the default: code or math, by the taxonomy
    taxonomy: taxonomies/math/skills.yaml   # default: the code taxonomy
    problems: 1000
    samples: 4
    max_attempts: 3
    solution_style: code                    # math: text or code
    judge: true                             # code: the built-in judge, or a judge config's path
    system_prompts: prompts.yaml            # code: a path, or the list [{name, text}, ...]
    model: /models/Qwen2.5-Coder-7B-Instruct
    engine: openai                          # vllm (in each generate worker), openai, replay,
    base_url: http://vllm:8000/v1           # python (engine_factory: "module:callable")
    limits: {timeout_s: 10, memory_mb: 1024}
    output: /shared/runs/r1                 # the run directory: a path all workers share,
                                            # or an fsspec URL (s3://bucket/runs/r1)

    kind: translate                         # verified Python records into other languages
    source: /shared/runs/r1                 # the run directory they come from
    languages: [cpp, rust]

    kind: explain                           # backtranslation of verified Python records
    source: /shared/runs/r1

Files a spec names for its settings (a judge config, system prompts) are read when the job
is submitted and travel inside the stored spec, so workers never need them; the taxonomy,
a `problems_from` file and a `source` run are read by the generate workers, which must see
them (a shared path or an object store).

`validate_job` checks every field and what it names (the taxonomy loads, the source holds
verified records, the replay file parses, the model endpoint answers, the output can be
written), so a mistake costs a second and queues nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from synth.engines.registry import EngineSettings, check_engine
from synth.errors import SynthError
from synth.inputs import read_yaml, validated
from synth.pipelines.settings import (
    ExplainSettings,
    RunSettings,
    Settings,
    TranslateSettings,
)


class FleetSettings(Settings):
    """Where a job's records go and how the fleet cuts it into tasks."""

    name: str = Field("", description="a name for people; the job id is made at submission")
    output: str = Field(description="the run directory: a path every worker sees, or an fsspec URL")
    chunk_slots: int = Field(48, ge=1, description="slots per generate task")
    max_deliveries: int = Field(
        5, ge=1, description="deliveries of a chunk (its worker died) before it is parked"
    )

    Run: ClassVar[type[Settings]]  # the settings of the job's kind, a part of the spec

    def run_settings(self) -> Any:
        """The settings of the job's kind, as a local run of it takes them."""
        return self.Run.model_validate(self.model_dump(include=set(self.Run.model_fields)))

    def engine_settings(self) -> EngineSettings:
        """The engine every generate worker opens for this job."""
        return EngineSettings.model_validate(
            self.model_dump(include=set(EngineSettings.model_fields))
        )


class GenerateJob(FleetSettings, EngineSettings, RunSettings):
    Run = RunSettings
    kind: Literal["generate"] = "generate"
    taxonomy: str | None = Field(None, description="the skill taxonomy (default: the code one)")
    problems_from: str | None = Field(
        None, description="solve these problems instead (as `synth generate --problems-from`)"
    )


class TranslateJob(FleetSettings, EngineSettings, TranslateSettings):
    Run = TranslateSettings
    kind: Literal["translate"]
    source: str = Field(description="the run directory of the verified Python records")


class ExplainJob(FleetSettings, EngineSettings, ExplainSettings):
    Run = ExplainSettings
    kind: Literal["explain"]
    source: str = Field(description="the run directory of the verified Python records")


JobSpec = GenerateJob | TranslateJob | ExplainJob
KINDS: dict[str, type[JobSpec]] = {
    "generate": GenerateJob,
    "translate": TranslateJob,
    "explain": ExplainJob,
}


def job_spec(data: dict[str, Any], where: str = "job spec") -> JobSpec:
    """A spec from its mapping (`kind` defaults to generate); errors name `where` and the
    field."""
    kind = data.get("kind", "generate")
    if kind not in KINDS:
        raise SynthError(f"{where}: kind", f"unknown kind {kind!r}", f"one of {', '.join(KINDS)}")
    return validated(KINDS[kind], {**data, "kind": kind}, where, "job spec mapping")


def load_job(path: Path) -> JobSpec:
    """The spec in `path`, validated field by field (errors name the file and the field)."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise SynthError(str(path), "a job spec mapping (kind, output, ...)")
    return job_spec(data, str(path))


def validate_job(spec: JobSpec, where: str) -> int:
    """Check what the spec names, not just its shape; returns the job's slot count.
    Raises SynthError naming the field."""
    slots = len(job_kind(spec, where).slots())
    try:
        check_engine(spec.engine_settings())
    except SynthError as exc:
        raise SynthError(f"{where}: {exc.where}", exc.problem, exc.fix) from None
    from synth.store import RunStore

    try:
        RunStore(output_dir(spec)).check_writable()
    except SynthError as exc:
        raise SynthError(f"{where}: output", str(exc)) from None
    return slots


def job_kind(spec: JobSpec, where: str | None = None):
    """The pipeline kind that makes this job's records (synth.pipelines); with `where`
    (the spec's file), a SynthError names the spec's field whose input failed to load."""

    def load(field: str, action):
        try:
            return action()
        except SynthError as exc:
            if where is None:
                raise
            raise SynthError(f"{where}: {field}", str(exc)) from None

    if isinstance(spec, GenerateJob):
        from synth.run import generate_kind
        from synth.taxonomy import load_taxonomy

        taxonomy = load("taxonomy", lambda: load_taxonomy(taxonomy_path(spec)))
        settings = spec.run_settings()
        load("judge", lambda: settings.check_domain(taxonomy.domain))
        return load("problems_from", lambda: generate_kind(taxonomy, settings, spec.problems_from))
    from synth.code.sources import load_sources

    sources = load("source", lambda: load_sources(spec.source))
    if isinstance(spec, TranslateJob):
        from synth.pipelines.translate import TranslatePipeline

        return TranslatePipeline(sources, spec.run_settings())
    from synth.pipelines.explain import ExplainPipeline

    return ExplainPipeline(sources, spec.run_settings())


def taxonomy_path(spec: GenerateJob) -> Path:
    from synth.taxonomy import default_taxonomy_path

    return Path(spec.taxonomy) if spec.taxonomy else default_taxonomy_path()


def job_settings(spec: JobSpec) -> dict[str, Any]:
    """run.json of a job's run directory: what a local run of the same kind records, and
    the engine (a resubmission into the directory must agree with them)."""
    from synth.run import derived_settings, generate_settings

    if isinstance(spec, GenerateJob):
        from synth.taxonomy import load_taxonomy

        taxonomy = taxonomy_path(spec)
        domain = load_taxonomy(taxonomy).domain
        settings = generate_settings(spec.run_settings(), taxonomy, domain, spec.problems_from)
    else:
        settings = derived_settings(spec.kind, spec.source, spec.run_settings())
    return {**settings, "model": spec.model, "engine": spec.engine}


def chunk(spec: JobSpec, slots: int, number: int) -> range:
    """The slots of chunk `number` of a job of `slots` slots."""
    start = number * spec.chunk_slots
    return range(start, min(start + spec.chunk_slots, slots))


def chunk_count(spec: JobSpec, slots: int) -> int:
    return -(-slots // spec.chunk_slots)


def output_dir(spec: JobSpec) -> str:
    """The job's run directory: a local path, or an fsspec URL (an object store)."""
    from synth.store import is_url, local_path

    return spec.output if is_url(spec.output) else str(local_path(spec.output))
