"""The scheduler drives any kind of batch: a toy kind with no domain at all, a scripted
engine and a real run directory. What is checked: every slot gets its record, stored slots
are skipped and shown to the kind first, checks run off the engine's thread while the
engine serves other batches, a shipped check goes to `remote_checks`, and the stats count
tokens and records."""

from __future__ import annotations

import threading

from synth.engines.base import ChatRequest, user
from synth.engines.scripted import ScriptedEngine
from synth.pipelines.scheduler import BatchSteps, Check, CheckTask, Generate, Scheduler
from synth.records import Record, record_id
from synth.store import RunStore

SEED = 3


class Echo:
    """A kind that asks the engine once per slot, then checks the answer in a worker."""

    def __init__(self, ship: bool = False) -> None:
        self.remembered: list[int] = []
        self.check_threads: set[str] = set()
        self.ship = ship

    def remember(self, record: Record) -> None:
        self.remembered.append(record.slot)

    def batch(self, slots: list[int]) -> BatchSteps:
        answers = yield Generate(
            [ChatRequest(messages=(user(f"slot {s}"),), seed=s, tag="echo") for s in slots]
        )
        texts = {s: completions[0].text for s, completions in zip(slots, answers, strict=True)}

        def check() -> dict[int, bool]:
            self.check_threads.add(threading.current_thread().name)
            return {s: text == f"answer {s}" for s, text in texts.items()}

        task = CheckTask("echo", {"texts": texts}) if self.ship else None
        passed = yield Check(check, task)
        return [
            Record(
                id=record_id(SEED, s),
                slot=s,
                status="verified" if passed[s] else "rejected",
                concept_ids=(),
                seed=SEED,
            )
            for s in slots
        ]


def answer(request: ChatRequest, index: int) -> str:
    slot = int(request.messages[0].content.split()[1])
    return f"answer {slot}" if slot % 3 else "wrong"


def scheduler(store: RunStore, engine, **kw) -> Scheduler:
    return Scheduler(engine, store, seed=SEED, batch_size=2, batches_in_flight=3, **kw)


def test_every_slot_gets_a_record_and_checks_run_off_the_engine_thread(tmp_path):
    store, engine, kind = RunStore(tmp_path / "run"), ScriptedEngine(answer), Echo()
    stats = scheduler(store, engine).run(kind, range(7))
    records = {r.slot: r for r in store.records()}
    assert sorted(records) == list(range(7))
    assert [s for s, r in records.items() if r.status == "verified"] == [1, 2, 4, 5]
    assert stats.slots_done == 7 and stats.records_verified == 4
    assert stats.completion_tokens == 7 * 2 - 3  # "answer N" is two words, "wrong" one
    assert kind.check_threads and threading.current_thread().name not in kind.check_threads
    assert len(engine.requests) == 7 and kind.remembered == []


def test_a_resume_shows_stored_records_first_and_skips_their_slots(tmp_path):
    store = RunStore(tmp_path / "run")
    scheduler(store, ScriptedEngine(answer)).run(Echo(), range(4))
    engine, kind = ScriptedEngine(answer), Echo()
    stats = scheduler(store, engine).run(kind, range(6))
    assert sorted(kind.remembered) == [0, 1, 2, 3]
    assert [r.messages[0].content for r in engine.requests] == ["slot 4", "slot 5"]
    assert stats.slots_skipped == 4 and stats.slots_done == 6
    assert sorted(r.slot for r in store.records()) == list(range(6))


def test_a_check_with_a_task_form_goes_to_remote_checks(tmp_path):
    shipped: list[CheckTask] = []

    def remote(task: CheckTask) -> dict[int, bool]:
        shipped.append(task)
        return {s: True for s in task.payload["texts"]}

    store, kind = RunStore(tmp_path / "run"), Echo(ship=True)
    stats = scheduler(store, ScriptedEngine(answer), remote_checks=remote).run(kind, range(5))
    assert sorted(s for task in shipped for s in task.payload["texts"]) == list(range(5))
    assert kind.check_threads == set()  # nothing ran here
    assert stats.records_verified == 5  # the remote verdicts, not the local check's
