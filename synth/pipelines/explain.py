"""The explain pipeline (backtranslation): explanations of verified code, kept when the code
can be rebuilt from them alone.

A slot is one source record. Steps of one batch, top to bottom in `ExplainPipeline.batch`
(the scheduler in synth.pipelines.scheduler drives it; prompts and the rules of a usable
explanation are synth.code.explain's):

1. explanations: `samples` per source, in prose; one that quotes code or was cut off is
   rejected before anything else (a rebuild would copy the code and prove nothing);
2. rebuilds: in a fresh conversation that sees only the signature and the explanation,
   the model writes the code again (greedy);
3. checks: the rebuilt code runs against the source record's tests (`RebuildCheck`);
4. the judge (optional) scores each passing explanation's faithfulness to the code, and
   it is kept only at the threshold.

Records are stored with kind "explain" and their source; their ids come from the source
record, so a resume skips the sources done.
"""

from __future__ import annotations

from collections.abc import Sequence

from synth.checks.code import RebuildCheck
from synth.code.explain import (
    explain_request,
    explanation_record_id,
    explanation_sample,
    regenerate_request,
    unusable_explanation,
)
from synth.code.extract import extract_code
from synth.code.judge import judge_request, parse_judgement
from synth.code.sources import Source
from synth.pipelines.batch import request_seed
from synth.pipelines.scheduler import BatchSteps, Generate
from synth.pipelines.settings import ExplainSettings
from synth.records import Attempt, Judgement, Record, Sample, Trajectory, Verdict, stable_id


class ExplainPipeline:
    def __init__(self, sources: Sequence[Source], settings: ExplainSettings) -> None:
        self.settings = settings
        self.sources = list(sources)

    def slots(self) -> range:
        return range(len(self.sources))

    def record_id(self, slot: int) -> str:
        return explanation_record_id(self.sources[slot].record_id)

    remember = None  # sources are independent: nothing to carry over from stored records

    def _seed(self, source: Source, *parts: object) -> int:
        return request_seed(self.settings.seed, source.record_id, *parts)

    def batch(self, slots: list[int]) -> BatchSteps:
        settings = self.settings
        sources = [self.sources[slot] for slot in slots]
        requests = [
            explain_request(source, settings, seed=self._seed(source, "explain"))
            for source in sources
        ]
        answers = yield Generate(requests)
        explained = [
            (source, explanation_sample(completion, source, index, prompt=request.messages))
            for source, request, completions in zip(sources, requests, answers, strict=True)
            for index, completion in enumerate(completions)
        ]
        verdicts: dict[str, Verdict] = {}
        for _, sample in explained:
            early = unusable_explanation(sample)
            if early is not None:
                verdicts[sample.id] = early
        usable = [(source, sample) for source, sample in explained if sample.id not in verdicts]
        rebuilt = yield Generate(
            [
                regenerate_request(
                    source,
                    sample.text,
                    settings,
                    seed=self._seed(source, "rebuild", sample.trajectory),
                )
                for source, sample in usable
            ]
        )
        codes: dict[str, str | None] = {}
        probes: list[tuple[Source, Sample]] = []
        for (source, sample), completions in zip(usable, rebuilt, strict=True):
            code = extract_code(completions[0].text, source.problem.entry_point).code
            codes[sample.id] = code
            if completions[0].finish_reason != "stop" or code is None:
                verdicts[sample.id] = Verdict(
                    id=stable_id("verdict", sample.id),
                    passed=False,
                    stage="extract",
                    reason="no_rebuild",
                    detail="no code could be rebuilt from the explanation",
                )
            else:
                probes.append((source, sample.model_copy(update={"code": code})))
        checked = yield RebuildCheck(
            probes=[probe for _, probe in probes],
            suites=[source.suite for source, _ in probes],
            limits=settings.limits,
            workers=settings.verify_workers,
        )
        verdicts |= {probe.id: verdict for (_, probe), verdict in zip(probes, checked, strict=True)}
        judgements = yield from self._judge(probes, verdicts)
        trajectories: dict[str, list[Trajectory]] = {}
        for source, sample in explained:
            sample = sample.model_copy(update={"code": codes.get(sample.id)})
            attempt = Attempt(
                sample=sample, verdict=verdicts[sample.id], judgement=judgements.get(sample.id)
            )
            mine = trajectories.setdefault(source.record_id, [])
            mine.append(Trajectory(index=len(mine), attempts=(attempt,)))
        return [
            self._record(slot, tuple(trajectories.get(self.sources[slot].record_id, ())))
            for slot in slots
        ]

    def _judge(self, probes: list[tuple[Source, Sample]], verdicts: dict[str, Verdict]):
        """The faithfulness judge's scores of the explanations whose rebuild passed."""
        judge = self.settings.judge
        if judge is None:
            return {}
        judged = [(source, probe) for source, probe in probes if verdicts[probe.id].passed]
        answers = yield Generate(
            [
                judge_request(
                    judge,
                    source.problem,
                    probe,
                    seed=self._seed(source, "judge", probe.trajectory),
                    code=source.code,
                )
                for source, probe in judged
            ]
        )
        scores: dict[str, Judgement] = {}
        for (_, probe), completions in zip(judged, answers, strict=True):
            scores[probe.id] = parse_judgement(judge, completions[0])
        return scores

    def _record(self, slot: int, trajectories: tuple[Trajectory, ...]) -> Record:
        source = self.sources[slot]
        verified = any(t.verified for t in trajectories)
        return Record(
            id=self.record_id(slot),
            slot=slot,
            status="verified" if verified else "rejected",
            concept_ids=source.problem.concept_ids,
            rejected_at=None if verified else "solution",
            problem=source.problem,
            tests=source.suite,
            trajectories=trajectories,
            seed=self.settings.seed,
            kind="explain",
            source=source.source_code(),
        )
