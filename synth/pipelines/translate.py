"""The translate pipeline: verified Python records, with their tests, into other languages.

A slot is one (source record, target language) pair, in the order of the sources and then
of `languages`. Steps of one batch, top to bottom in `TranslatePipeline.batch` (the
scheduler in synth.pipelines.scheduler drives it):

1. translations: `samples` per pair, solution and tests in the target language
   (synth.code.translate: prompts, layouts, parsing);
2. checks: each compiles and passes its translated tests in that language's sandbox, and
   those tests fail a default-value stub of the solution (`TranslationCheck`);
3. corrections: a failed translation goes back with the checks' feedback, up to
   `max_attempts` attempts (not after an engine error, nor when no stub could be made).

Records are stored with kind "translate" and their source; their ids come from the source
record and the language, so a resume skips the pairs done.
"""

from __future__ import annotations

from collections.abc import Sequence

from synth.checks.code import TranslationCheck
from synth.code.sources import Source
from synth.code.translate import (
    to_sample,
    translation_feedback,
    translation_record_id,
    translation_request,
)
from synth.engines.base import Completion, Message
from synth.pipelines.batch import Histories, request_seed, trajectories_of
from synth.pipelines.scheduler import BatchSteps, Generate
from synth.pipelines.settings import TranslateSettings
from synth.records import Attempt, Problem, Record, Sample, stable_id

NOT_RETRIED = ("engine_error", "stub_unusable")  # a correction cannot fix these


class TranslatePipeline:
    def __init__(self, sources: Sequence[Source], settings: TranslateSettings) -> None:
        self.settings = settings
        self.pairs = [(source, language) for source in sources for language in settings.languages]

    def slots(self) -> range:
        return range(len(self.pairs))

    def record_id(self, slot: int) -> str:
        source, language = self.pairs[slot]
        return translation_record_id(source.record_id, language)

    remember = None  # pairs are independent: nothing to carry over from stored records

    def _problem(self, slot: int) -> Problem:
        """The source's problem, as one in the target language."""
        source, language = self.pairs[slot]
        return source.problem.model_copy(
            update={"id": stable_id("problem", source.problem.id, language), "language": language}
        )

    def _seed(self, slot: int, *parts: object) -> int:
        source, language = self.pairs[slot]
        return request_seed(self.settings.seed, source.record_id, language, *parts)

    def batch(self, slots: list[int]) -> BatchSteps:
        settings = self.settings
        problems = {slot: self._problem(slot) for slot in slots}
        requests = [
            translation_request(
                problems[slot],
                self.pairs[slot][0].source_code(),
                self.pairs[slot][1],
                [],
                [],
                n=settings.samples,
                temperature=settings.temperature,
                max_tokens=settings.max_tokens,
                seed=self._seed(slot, "translate"),
            )
            for slot in slots
        ]
        answers = yield Generate(requests)
        pending = [
            self._sample(slot, completion, index, 1, request.messages)
            for slot, request, completions in zip(slots, requests, answers, strict=True)
            for index, completion in enumerate(completions)
        ]
        histories: Histories = {}
        for attempt in range(1, settings.max_attempts + 1):
            verdicts = yield TranslationCheck(
                samples=[sample for _, sample in pending],
                languages=[self.pairs[slot][1] for slot, _ in pending],
                entry_points=[problems[slot].entry_point for slot, _ in pending],
                limits=settings.limits,
                workers=settings.verify_workers,
            )
            failed = []
            for (slot, sample), verdict in zip(pending, verdicts, strict=True):
                key = (slot, sample.trajectory)
                histories.setdefault(key, []).append(Attempt(sample=sample, verdict=verdict))
                if not verdict.passed and verdict.reason not in NOT_RETRIED:
                    failed.append(key)
            if attempt == settings.max_attempts or not failed:
                break
            repairs = [
                translation_request(
                    problems[slot],
                    self.pairs[slot][0].source_code(),
                    self.pairs[slot][1],
                    [a.sample for a in histories[(slot, t)]],
                    [translation_feedback(a.verdict) for a in histories[(slot, t)]],
                    n=1,
                    temperature=settings.temperature,
                    max_tokens=settings.max_tokens,
                    seed=self._seed(slot, "repair", t, attempt + 1),
                )
                for slot, t in failed
            ]
            answers = yield Generate(repairs)
            pending = [
                self._sample(slot, completions[0], t, attempt + 1, request.messages)
                for (slot, t), request, completions in zip(failed, repairs, answers, strict=True)
            ]
        return [self._record(slot, problems[slot], histories) for slot in slots]

    def _sample(
        self,
        slot: int,
        completion: Completion,
        trajectory: int,
        attempt: int,
        prompt: tuple[Message, ...],
    ) -> tuple[int, Sample]:
        """(slot, the sample) of one translation, keeping the messages it answered."""
        language = self.pairs[slot][1]
        problem_id = self._problem(slot).id
        return slot, to_sample(
            completion, problem_id, language, trajectory=trajectory, round=attempt, prompt=prompt
        )

    def _record(self, slot: int, problem: Problem, histories: Histories) -> Record:
        source, _ = self.pairs[slot]
        trajectories = trajectories_of(slot, histories, self.settings.samples)
        verified = any(t.verified for t in trajectories)
        return Record(
            id=self.record_id(slot),
            slot=slot,
            status="verified" if verified else "rejected",
            concept_ids=problem.concept_ids,
            rejected_at=None if verified else "solution",
            problem=problem,
            trajectories=trajectories,
            seed=self.settings.seed,
            kind="translate",
            source=source.source_code(),
        )
