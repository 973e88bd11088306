"""Typed records passed between the pipeline's stages.

Every stage takes and returns these records, never untyped dicts, so each stage can be
tested alone and every record can be written to, and read back from, a shard on disk.
All records are immutable; a stage that "changes" one returns a copy (`model_copy`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Role = Literal["system", "user", "assistant"]


class Message(Frozen):
    """One turn of a chat: what engines are sent, and what a sample keeps of its prompt."""

    role: Role
    content: str


def stable_id(*parts: object, length: int = 16) -> str:
    """A deterministic id from JSON-serialisable parts (the same parts give the same id)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


# --- taxonomy ---------------------------------------------------------------------------


class Concept(Frozen):
    """A leaf of a skill taxonomy: one concept a problem can exercise."""

    id: str
    name: str
    description: str
    weight: float
    path: tuple[str, ...] = Field(description="ids from the root area down to this leaf")


class SkillCombo(Frozen):
    """The 1-3 concepts drawn for one problem slot of a run."""

    slot: int
    concepts: tuple[Concept, ...]

    @property
    def concept_ids(self) -> list[str]:
        return [c.id for c in self.concepts]


# --- problems and tests -----------------------------------------------------------------


class Rejection(Frozen):
    """Why a step refused its input: a short reason code and the evidence."""

    reason: str
    detail: str = ""


class Problem(Frozen):
    """A self-contained programming problem written by the model for a skill combo."""

    id: str
    slot: int
    concept_ids: tuple[str, ...]
    statement: str
    signature: str = Field(description="the function's `def` line(s), body elided")
    entry_point: str
    examples: str = ""
    language: str = "python"
    kind: Literal["code"] = "code"


AnswerSource = Literal["reference_program", "given", "majority"]


class MathProblem(Frozen):
    """A math problem and its ground-truth answer, with where that answer came from."""

    id: str
    slot: int
    concept_ids: tuple[str, ...]
    statement: str
    reference_program: str = Field("", description="Python + sympy; prints the answer last")
    answer: str = Field("", description="the ground truth; '' until it is known")
    answer_source: AnswerSource | None = None
    kind: Literal["math"] = "math"


class TestCase(Frozen):
    """One assertion (or `def test_*` function) of a generated unit-test suite."""

    __test__ = False  # not a pytest test class

    name: str = Field(description="t1, t2, ... in the order the model wrote them")
    source: str


class DroppedTest(Frozen):
    """A case the guards removed. `duplicate`: the same assertion as an earlier case;
    `solution_in_tests`: not a case but the model's own solution found in its tests (never run
    as the reference); `not_an_assert`: a statement that calls the solution outside an assert
    (`assert_allclose(f(1), 5.0)`), not read as a case; the others are the guards' (see
    synth/code/tests.py)."""

    test: TestCase
    reason: Literal[
        "no_entry_point",
        "vacuous",
        "unconfirmed",
        "duplicate",
        "solution_in_tests",
        "not_an_assert",
    ]


class TestSuite(Frozen):
    """The unit tests of a problem after the guards: what is kept, what was dropped and why."""

    __test__ = False

    problem_id: str
    setup: str = Field("", description="imports and helpers the tests need, run before them")
    cases: tuple[TestCase, ...]
    dropped: tuple[DroppedTest, ...] = ()
    rule: str = Field("", description="the agreement rule applied to the cases, and its outcome")
    truncated: bool = Field(
        False,
        description="the tests' completion hit max_tokens; only its finished statements are kept",
    )

    def source(self) -> str:
        """The kept tests as one module (setup first)."""
        parts = [self.setup] if self.setup.strip() else []
        parts += [c.source for c in self.cases]
        return "\n".join(parts) + "\n"


# --- engine output and verification -----------------------------------------------------


class ToolTurn(Frozen):
    """One assistant turn of a solution that runs code: its text, code and the code's output."""

    text: str
    code: str | None = None
    output: str | None = Field(None, description="what the sandbox printed, fed back to the model")


class Sample(Frozen):
    """One completion for one problem: the raw text and the code (or answer) taken from it."""

    id: str
    problem_id: str
    trajectory: int = Field(description="which of the n samples of the problem this continues")
    round: int = Field(description="1 for the first attempt, 2 for the first correction, ...")
    text: str
    code: str | None = None
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answer: str | None = Field(None, description="math: the final boxed answer")
    turns: tuple[ToolTurn, ...] = Field((), description="math with code: the turns, in order")
    tests: str | None = Field(None, description="a translation: its own tests, in its language")
    system_prompt: str = Field("", description="the name of the system prompt it was sampled with")
    prompt: tuple[Message, ...] = Field(
        (),
        description="the messages the model was sent for this attempt (its system prompt, "
        "earlier attempts and feedback included); empty in records written before samples "
        "kept them",
    )


class LintMessage(Frozen):
    code: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}:{self.column}: {self.code} {self.message}"


class TestOutcome(Frozen):
    __test__ = False

    name: str
    source: str
    passed: bool
    error: str = Field("", description="the failing assert's message or the exception, bounded")


ExecStatus = Literal["ok", "failed", "compile_error", "timeout", "memory", "output_limit", "error"]


class ExecResult(Frozen):
    """What a sandbox says about one execution."""

    status: ExecStatus
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float = Field(description="compile and run, seconds")
    compile_s: float = Field(0.0, description="the compile step's share of duration_s")


class Equivalence(Frozen):
    """Whether a predicted answer is the reference answer, with both in their compared form."""

    equivalent: bool
    gold: str
    pred: str
    reason: Literal["equal", "different", "unparseable", "empty", "timeout", "error"] = "different"


class StepCheck(Frozen):
    """One equality a math solution states, and whether it holds."""

    left: str
    right: str
    status: Literal["ok", "wrong"]

    def __str__(self) -> str:
        return f"{self.left} = {self.right}"


VerdictStage = Literal["extract", "parse", "lint", "compile", "tests", "answer", "steps", "ok"]


class Verdict(Frozen):
    """The outcome of checking one sample; `stage` is where it stopped ("ok" when it passed)."""

    id: str
    passed: bool
    stage: VerdictStage
    reason: str = Field(description="a short reason code: truncated, no_code, syntax, lint, ...")
    detail: str = ""
    lint: tuple[LintMessage, ...] = ()
    tests: tuple[TestOutcome, ...] = ()
    execution: ExecResult | None = None
    answer: Equivalence | None = None
    steps: tuple[StepCheck, ...] = ()

    @property
    def wrong_steps(self) -> tuple[StepCheck, ...]:
        return tuple(step for step in self.steps if step.status == "wrong")


class Judgement(Frozen):
    """A judge's scores of a verified sample, and whether the run keeps the sample.

    reason: above_thresholds (kept), low_score, judge_unparseable, judge_error, not_best
    (a better-judged sample of the same problem was kept).
    """

    scores: dict[str, int] = Field(default_factory=dict)
    rationale: str = ""
    kept: bool
    reason: str
    detail: str = ""


class Attempt(Frozen):
    sample: Sample
    verdict: Verdict
    judgement: Judgement | None = None


class Trajectory(Frozen):
    """One sample and its corrections, round by round."""

    index: int
    attempts: tuple[Attempt, ...]

    @property
    def verified(self) -> bool:
        """The last attempt passed every check, and the judge (when one ran) kept it."""
        if not self.attempts or not self.attempts[-1].verdict.passed:
            return False
        judgement = self.attempts[-1].judgement
        return judgement is None or judgement.kept

    @property
    def corrected(self) -> bool:
        return self.verified and len(self.attempts) > 1


# --- what is stored ---------------------------------------------------------------------

RecordStatus = Literal["verified", "rejected"]
RecordKind = Literal["solve", "translate", "explain"]


class SourceCode(Frozen):
    """The verified record a translation or an explanation was made from."""

    record_id: str
    language: str
    code: str
    tests: str


class Record(Frozen):
    """Everything one problem slot of a run produced, verified or not, with the evidence.

    The id is derived from the run's seed and the slot, so a resumed run recognises the
    slots already done and never writes one twice.
    """

    id: str
    slot: int
    status: RecordStatus
    concept_ids: tuple[str, ...]
    rejected_at: Literal["problem", "reference", "tests", "solution"] | None = None
    rejection: str | None = Field(None, description="why the whole problem was rejected")
    rejection_detail: str = ""
    problem: Problem | MathProblem | None = None
    tests: TestSuite | None = None
    trajectories: tuple[Trajectory, ...] = ()
    model: str = ""
    seed: int = 0
    kind: RecordKind = "solve"
    source: SourceCode | None = Field(None, description="translate/explain: made from this")

    def rejection_keys(self) -> list[str]:
        """ "stage/reason" of each rejection the record holds: the whole problem's, or each
        failed trajectory's last verdict (what summary.json and the dataset card count)."""
        if self.rejected_at in ("problem", "reference", "tests"):
            return [f"{self.rejected_at}/{self.rejection}"]
        keys = []
        for trajectory in self.trajectories:
            if not trajectory.attempts or trajectory.verified:
                continue
            last = trajectory.attempts[-1]
            if last.verdict.passed and last.judgement is not None:
                keys.append(f"judge/{last.judgement.reason}")
            else:
                keys.append(f"solution/{last.verdict.reason}")
        return keys


def problem_id(seed: int, slot: int) -> str:
    return stable_id("problem", seed, slot)


def record_id(seed: int, slot: int) -> str:
    return stable_id("record", seed, slot)
