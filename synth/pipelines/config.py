"""The settings of one generation run, shared by every pipeline kind."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from synth.code.judge import JudgeConfig
from synth.code.solutions import SystemPrompt
from synth.code.static import LintConfig
from synth.sandbox.base import Limits


@dataclass(frozen=True)
class RunConfig:
    """The settings of one run; everything that changes the data is here (and in run.json)."""

    problems: int = 8
    samples: int = 4
    max_rounds: int = 3
    seed: int = 0
    batch_size: int = 16
    temperature: float = 0.8
    max_tokens: int = 1024
    min_tests: int = 3
    near_duplicate_threshold: float = 0.7
    rare_boost: float = 0.0
    limits: Limits = field(default_factory=Limits)
    lint: LintConfig = field(default_factory=LintConfig)
    verify_workers: int = 2
    batches_in_flight: int = 3
    # math runs
    solution_style: str = "text"  # text: chain of thought; code: reasoning with executed code
    max_tool_calls: int = 4
    drop_wrong_steps: bool = False
    majority_share: float = 0.5
    answer_timeout_s: float = 5.0
    # code runs: the quality judge, and rejection sampling across system prompts
    judge: JudgeConfig | None = None
    system_prompts: tuple[SystemPrompt, ...] = ()

    def settings(self) -> dict[str, Any]:
        """What a resumed run must agree with: every knob that changes which data is made
        (the sandbox limits and lint rules decide what passes; the threshold and the answer
        timeout what is kept). Values as JSON holds them, so run.json compares equal."""
        return {
            "problems": self.problems,
            "samples": self.samples,
            "max_rounds": self.max_rounds,
            "seed": self.seed,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "min_tests": self.min_tests,
            "rare_boost": self.rare_boost,
            "solution_style": self.solution_style,
            "max_tool_calls": self.max_tool_calls,
            "drop_wrong_steps": self.drop_wrong_steps,
            "majority_share": self.majority_share,
            "judge": self.judge.model_dump() if self.judge else None,
            "system_prompts": [p.model_dump() for p in self.system_prompts] or None,
            "limits": self.limits.model_dump(mode="json"),
            "lint": lint_settings(self.lint),
            "near_duplicate_threshold": self.near_duplicate_threshold,
            "answer_timeout_s": self.answer_timeout_s,
        }


def lint_settings(lint: LintConfig) -> dict[str, Any]:
    """The lint rules as run.json holds them (lists, not tuples)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(lint).items()}
