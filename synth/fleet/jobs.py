"""Job specs: what a queued generation job is, checked before anything is queued.

A job spec is a YAML file with the knobs of `synth generate` plus where the records go:

    taxonomy: taxonomies/code/python.yaml   # default: the code taxonomy
    problems: 1000
    samples: 4
    max_rounds: 3
    seed: 0
    model: /models/Qwen2.5-Coder-7B-Instruct
    engine: openai                          # vllm (in each generate worker), openai, replay
    base_url: http://vllm:8000/v1
    limits: {timeout_s: 10, memory_mb: 1024}
    output: /shared/runs/r1                 # the run directory: a path all workers share,
                                            # or an fsspec URL (s3://bucket/runs/r1)

`validate_job` checks every field and what it names (the taxonomy loads, the replay file
parses, the model endpoint answers, the output can be written), so a mistake costs a second
and queues nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.engines.registry import EngineSettings
from synth.errors import SynthError
from synth.inputs import read_yaml, validated
from synth.pipelines.config import RunConfig
from synth.sandbox.base import Limits


class JobLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timeout_s: float = Field(10.0, gt=0)
    memory_mb: int = Field(1024, ge=64)


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    taxonomy: str | None = None
    problems: int = Field(ge=1)
    samples: int = Field(4, ge=1)
    max_rounds: int = Field(3, ge=1)
    seed: int = 0
    batch_size: int = Field(16, ge=1)
    temperature: float = Field(0.8, ge=0)
    max_tokens: int = Field(1024, ge=16)
    min_tests: int = Field(3, ge=1)
    model: str = "tiny"
    engine: Literal["vllm", "openai", "replay", "python"] = "vllm"
    engine_factory: str | None = Field(
        None,
        description='engine "python": "module:callable", called with the engine settings '
        "(synth.engines.registry.EngineSettings)",
    )
    base_url: str = "http://127.0.0.1:8000/v1"
    replay: str | None = None
    limits: JobLimits = Field(default_factory=JobLimits)
    output: str
    chunk_slots: int = Field(48, ge=1, description="slots per generate task")
    max_attempts: int = Field(5, ge=1, description="deliveries of a chunk before it is parked")

    def run_config(self) -> RunConfig:
        return RunConfig(
            problems=self.problems,
            samples=self.samples,
            max_rounds=self.max_rounds,
            seed=self.seed,
            batch_size=self.batch_size,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            min_tests=self.min_tests,
            limits=Limits(timeout_s=self.limits.timeout_s, memory_mb=self.limits.memory_mb),
        )

    def engine_settings(self) -> EngineSettings:
        """The engine every generate worker opens for this job."""
        return EngineSettings(
            kind=self.engine,
            model=self.model,
            base_url=self.base_url,
            replay=self.replay,
            factory=self.engine_factory,
            seed=self.seed,
        )

    def chunk_count(self) -> int:
        return -(-self.problems // self.chunk_slots)

    def chunk(self, number: int) -> range:
        start = number * self.chunk_slots
        return range(start, min(start + self.chunk_slots, self.problems))


def load_job(path: Path) -> JobSpec:
    """The spec in `path`, validated field by field (errors name the file and the field)."""
    return validated(JobSpec, read_yaml(path), str(path), "job spec mapping")


def validate_job(spec: JobSpec, where: str) -> None:
    """Check what the spec names, not just its shape; raises SynthError with the field."""
    from synth.taxonomy import default_taxonomy_path, load_taxonomy

    try:
        load_taxonomy(Path(spec.taxonomy) if spec.taxonomy else default_taxonomy_path())
    except SynthError as exc:
        raise SynthError(f"{where}: taxonomy", str(exc)) from None
    from synth.engines.registry import check_engine

    try:
        check_engine(spec.engine_settings())
    except SynthError as exc:
        raise SynthError(f"{where}: {exc.where}", exc.problem, exc.fix) from None
    from synth.store import RunStore

    try:
        RunStore(output_dir(spec)).check_writable()
    except SynthError as exc:
        raise SynthError(f"{where}: output", str(exc)) from None


def output_dir(spec: JobSpec) -> str:
    """The job's run directory: a local path, or an fsspec URL (an object store)."""
    from synth.store import is_url, local_path

    return spec.output if is_url(spec.output) else str(local_path(spec.output))
