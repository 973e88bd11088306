"""The settings of every pipeline kind: one pydantic model per concern.

Each knob is declared once, here, with its default, its bounds and its help text. The
`synth` command builds its flags from these fields (synth/flags.py), a fleet job spec is
composed of the same models (synth/fleet/jobs.py), and so is rounds.yaml's `generate:`
(synth/rounds.py): a default cannot differ between them.

Concerns:

- `PacingSettings`: how fast a run goes (engine batch width, batches in flight, sandbox
  threads). They never change which data is made, so a resume may change them; every
  other field is compared on resume (`data_settings`).
- `SlotSettings`: which problem slots a run makes and how they are drawn.
- `SamplingSettings`: how the model is asked for solutions, and how often it may correct one.
- `Limits` (synth.sandbox.base): what one sandbox run may use.
- `CodeSettings`, `MathSettings`: the checks of each domain.
- `RunSettings`: a `synth generate` run (code or math), all of the above.
- `TranslateSettings`, `ExplainSettings`: the kinds made from verified records; their
  own defaults (a translation is longer and samples colder).

The models compose by inheritance, so a job spec and run.json stay flat (`samples: 4`, not
`sampling: {samples: 4}`), and every model is frozen.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo

from synth.code.judge import DEFAULT_CONFIG, JudgeConfig, load_judge_config
from synth.code.solutions import SystemPrompt, load_system_prompts
from synth.code.static import LintConfig
from synth.errors import SynthError
from synth.sandbox.base import Limits

_SAME = object()


def _from_file(load, path: str | Path) -> Any:
    """A setting read from a file a YAML spec names; a file that fails is the field's error."""
    try:
        return load(Path(path))
    except SynthError as exc:
        raise ValueError(str(exc)) from None


def judge_from(value: Any, builtin: Path) -> Any:
    """A judge setting as a YAML file gives it: `true` (the built-in config), `false`
    (none), a config file's path, or the config itself."""
    if value is True:
        return load_judge_config(builtin)
    if value is False:
        return None
    if isinstance(value, str | Path):
        return _from_file(load_judge_config, value)
    return value


def field_of(model: type[BaseModel], name: str, default: Any = _SAME) -> Any:
    """`model`'s field `name` (its bounds, help and aliases) for another model to declare,
    with another default if given: a kind whose default differs declares only the value."""
    field: FieldInfo = copy.copy(model.model_fields[name])
    if default is not _SAME:
        field.default = default
        field.default_factory = None
    return field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PacingSettings(Settings):
    batch_size: int = Field(16, ge=1, description="Problems per engine batch.")
    batches_in_flight: int = Field(
        3, ge=1, description="Batches going at once: the engine serves one while others check."
    )
    verify_workers: int = Field(2, ge=1, description="Sandbox runs in parallel.")


class SlotSettings(Settings):
    problems: int = Field(8, ge=1, description="Problem slots to generate.")
    seed: int = Field(
        0, description="Seed for skills and sampling; the same seed makes the same run."
    )
    rare_boost: float = Field(
        0.0, ge=0, le=1, description="Up-weight rare concepts: 0 = weights, 1 = uniform."
    )
    near_duplicate_threshold: float = Field(
        0.7,
        ge=0.1,
        le=0.98,
        description="A problem this similar (Jaccard of word shingles) to an earlier one is "
        "rejected as a near copy.",
    )


class SamplingSettings(Settings):
    samples: int = Field(4, ge=1, description="Solutions sampled per problem.")
    max_attempts: int = Field(
        3,
        ge=1,
        # `max_rounds` was this knob's name before "rounds" came to mean training rounds
        validation_alias=AliasChoices("max_attempts", "max_rounds"),
        description="Attempts per sample, corrections included (1: no correction).",
    )
    temperature: float = Field(0.8, ge=0, description="Sampling temperature.")
    max_tokens: int = Field(1024, ge=16, description="Token budget of one answer.")


class CodeSettings(Settings):
    min_tests: int = Field(3, ge=1, description="code: tests a problem needs after the guards.")
    lint: LintConfig = Field(
        default_factory=LintConfig, description="code: ruff rules and tampering rules"
    )
    judge: JudgeConfig | None = Field(
        None,
        description="code: the quality judge (template, scales, thresholds); in a YAML file "
        "`true` for the built-in one or a path to a judge config. None: no judge.",
    )
    system_prompts: tuple[SystemPrompt, ...] = Field(
        (),
        description="code: the samples are dealt out between these system prompts, and with "
        "a judge only the best-judged verified sample per problem is kept; in a YAML file a "
        "path to `prompts: [{name, text}, ...]` or the list itself.",
    )

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_from_file(cls, value: Any) -> Any:
        return judge_from(value, DEFAULT_CONFIG)

    @field_validator("system_prompts", mode="before")
    @classmethod
    def _prompts_from_file(cls, value: Any) -> Any:
        if value is None:  # run.json of earlier versions wrote none as null
            return ()
        if isinstance(value, str | Path):
            return _from_file(load_system_prompts, value)
        return value


class MathSettings(Settings):
    solution_style: Literal["text", "code"] = Field(
        "text", description="math: text (chain of thought) or code (reasoning with executed code)."
    )
    max_tool_calls: int = Field(4, ge=0, description="math, code style: code runs per attempt.")
    drop_wrong_steps: bool = Field(
        False, description="math: reject a right answer reached through a step sympy finds wrong."
    )
    majority_share: float = Field(
        0.5, ge=0, le=1, description="math: share of samples that must agree on an answer."
    )
    answer_timeout_s: float = Field(
        5.0, gt=0, description="math: seconds one answer or step comparison may take."
    )


class RunSettings(PacingSettings, SlotSettings, SamplingSettings, CodeSettings, MathSettings):
    """A `synth generate` run; the taxonomy's domain decides which checks apply."""

    limits: Limits = Field(default_factory=Limits, description="what one sandbox run may use")

    def check_domain(self, domain: str, where: str = "--judge/--system-prompts") -> None:
        """The judge and system prompts are code's: a math run with them is refused."""
        if domain == "math" and (self.judge is not None or self.system_prompts):
            raise SynthError(where, "apply to code runs", "this run's taxonomy is a math one")


TRANSLATE_LIMITS = Limits(timeout_s=20, memory_mb=512)  # compilers need the time
EXPLAIN_LIMITS = Limits(timeout_s=10, memory_mb=512)


class TranslateSettings(PacingSettings, SamplingSettings):
    """`synth translate`: verified Python records into other languages."""

    languages: tuple[str, ...] = Field(
        min_length=1, description="Target languages: cpp, rust, go, java, php, javascript."
    )
    seed: int = field_of(SlotSettings, "seed", 0)
    samples: int = field_of(SamplingSettings, "samples", 1)
    temperature: float = field_of(SamplingSettings, "temperature", 0.2)
    max_tokens: int = field_of(SamplingSettings, "max_tokens", 2048)
    limits: Limits = Field(TRANSLATE_LIMITS, description="what one sandbox run may use")

    @field_validator("languages")
    @classmethod
    def _translatable(cls, languages: tuple[str, ...]) -> tuple[str, ...]:
        from synth.code.translate import LAYOUTS

        unknown = [language for language in languages if language not in LAYOUTS]
        if unknown:
            raise ValueError(
                f"cannot translate into {', '.join(map(repr, unknown))}: "
                f"choose from {', '.join(LAYOUTS)}"
            )
        return languages


class ExplainSettings(PacingSettings):
    """`synth explain`: explanations kept when code rebuilt from them passes the tests."""

    seed: int = field_of(SlotSettings, "seed", 0)
    samples: int = field_of(SamplingSettings, "samples", 1)
    temperature: float = field_of(SamplingSettings, "temperature", 0.7)
    max_tokens: int = field_of(SamplingSettings, "max_tokens", 1024)
    judge: JudgeConfig | None = Field(
        None,
        description="the faithfulness judge; in a YAML file `true` for the built-in one or "
        "a path to a judge config. None: the rebuilt code's tests alone decide.",
    )
    limits: Limits = Field(EXPLAIN_LIMITS, description="what one sandbox run may use")

    @field_validator("judge", mode="before")
    @classmethod
    def _judge_from_file(cls, value: Any) -> Any:
        from synth.code.explain import EXPLAIN_JUDGE_CONFIG

        return judge_from(value, EXPLAIN_JUDGE_CONFIG)


PACING = frozenset(PacingSettings.model_fields)


def data_settings(settings: Settings) -> dict[str, Any]:
    """What a resumed run must agree with: every field but the pacing ones, as JSON holds
    it (run.json compares equal to a fresh dump)."""
    data = settings.model_dump(mode="json", exclude=set(PACING))
    if "system_prompts" in data:
        data["system_prompts"] = data["system_prompts"] or None  # as run.json always held it
    return data
