"""The scheduler drives any kind of batch: a toy kind with no domain at all, a scripted
engine and a real run directory. What is checked: every slot gets its record, stored slots
are skipped and shown to the kind first, checks run off the engine's thread while the
engine serves other batches, every check goes through `run_check` (here or shipped), the
engine's name is stamped on the records, and the stats count tokens, samples and records."""

from __future__ import annotations

import threading
from typing import ClassVar, Literal

from synth.checks import Check
from synth.engines.base import ChatRequest, user
from synth.engines.scripted import ScriptedEngine
from synth.pipelines.scheduler import BatchSteps, Generate, Scheduler
from synth.pipelines.settings import PacingSettings
from synth.records import Problem, Record, record_id
from synth.store import RunStore, StoredProblems

SEED = 3
PACING = PacingSettings(batch_size=2, batches_in_flight=3)


class EchoCheck(Check):
    """Whether each slot's answer is the expected one."""

    kind: Literal["echo"] = "echo"
    texts: dict[int, str]
    Result: ClassVar = dict[int, bool]

    def run(self, tools) -> dict[int, bool]:
        tools.add(threading.current_thread().name)
        return {s: text == f"answer {s}" for s, text in self.texts.items()}


class Echo:
    """A kind that asks the engine once per slot, then checks the answer."""

    settings = PACING

    def __init__(self, slots: int = 7) -> None:
        self.count = slots
        self.remembered: list[int] = []

    def slots(self) -> range:
        return range(self.count)

    def record_id(self, slot: int) -> str:
        return record_id(SEED, slot)

    def remember(self, problems: StoredProblems) -> None:
        self.remembered.extend(int(i) for i in problems.ids)

    def batch(self, slots: list[int]) -> BatchSteps:
        answers = yield Generate(
            [ChatRequest(messages=(user(f"slot {s}"),), seed=s, tag="echo") for s in slots]
        )
        texts = {s: completions[0].text for s, completions in zip(slots, answers, strict=True)}
        passed = yield EchoCheck(texts=texts)
        return [
            Record(
                id=record_id(SEED, s),
                slot=s,
                status="verified" if passed[s] else "rejected",
                concept_ids=(),
                seed=SEED,
                problem=Problem(
                    id=str(s),
                    slot=s,
                    concept_ids=(),
                    statement=f"slot {s}",
                    signature="def f():",
                    entry_point="f",
                ),  # fmt: skip
            )
            for s in slots
        ]


def answer(request: ChatRequest, index: int) -> str:
    slot = int(request.messages[0].content.split()[1])
    return f"answer {slot}" if slot % 3 else "wrong"


def run(store: RunStore, engine, kind, run_check=None, slots=None):
    threads: set[str] = set()
    run_check = run_check or (lambda check: check.run(threads))
    stats = Scheduler(engine, store, run_check, PACING).run(kind, slots)
    return stats, threads


def test_every_slot_gets_a_record_and_checks_run_off_the_engine_thread(tmp_path):
    store, engine, kind = (
        RunStore(tmp_path / "run"),
        ScriptedEngine(answer, name="echo-model"),
        Echo(),
    )
    stats, threads = run(store, engine, kind)
    records = {r.slot: r for r in store.records()}
    assert sorted(records) == list(range(7))
    assert [s for s, r in records.items() if r.status == "verified"] == [1, 2, 4, 5]
    assert {r.model for r in records.values()} == {"echo-model"}  # stamped by the scheduler
    assert stats.slots_done == 7 and stats.records_verified == 4
    assert stats.completion_tokens == 7 * 2 - 3  # "answer N" is two words, "wrong" one
    assert threads and threading.current_thread().name not in threads
    assert len(engine.requests) == 7 and kind.remembered == []


def test_a_resume_shows_stored_records_first_and_skips_their_slots(tmp_path):
    store = RunStore(tmp_path / "run")
    run(store, ScriptedEngine(answer), Echo(4))
    engine, kind = ScriptedEngine(answer), Echo(6)
    stats, _ = run(store, engine, kind)
    assert sorted(kind.remembered) == [0, 1, 2, 3]
    assert [r.messages[0].content for r in engine.requests] == ["slot 4", "slot 5"]
    assert stats.slots_skipped == 4 and stats.slots_done == 6
    assert sorted(r.slot for r in store.records()) == list(range(6))


def test_every_check_goes_through_run_check_and_its_result_is_the_batch_s(tmp_path):
    shipped: list[Check] = []

    def remote(check: Check) -> dict[int, bool]:
        shipped.append(check)
        return {s: True for s in check.texts}  # a verify worker that passes everything

    store = RunStore(tmp_path / "run")
    stats, threads = run(store, ScriptedEngine(answer), Echo(), run_check=remote, slots=range(5))
    assert sorted(s for check in shipped for s in check.texts) == list(range(5))
    assert threads == set()  # nothing ran here
    assert stats.records_verified == 5  # the remote verdicts, not the local check's
