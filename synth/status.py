"""`synth status RUN_DIR`: where a local run stands, read from its directory alone.

The counts are the whole run's, from the run index (synth.counts, synth/run_index.py: no
record is parsed), so they are right whatever summary.json says. Whether the run is going comes from summary.json, which a
running `synth generate` rewrites after every batch: `running` is believed only while the
writer's process is still there (checked when it ran on this host; from another host the
view says it cannot check, and how long ago the last batch landed). The ETA is this
invocation's pace so far (slots it stored / seconds since it started) applied to the slots
left; there is none before its first batch, and none for a run that is not going.

Reading is safe beside a writer: shards and summary.json are each replaced whole (a temp
file renamed into place, or one object-store PUT), and temp files are never listed as
shards, so a reader sees a shard whole or not at all. Nothing here writes the run's records,
settings or summary; a shard without an index entry (a run older than the index, or a writer
killed between a shard and its entry) gets its entry written, as every reader of the index
does (best effort: a run directory that cannot be written is read all the same).
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from synth.counts import run_counts
from synth.errors import SynthError
from synth.store import RunStore, is_url
from synth.summary import STATES


def is_run_location(target: str) -> bool:
    """Whether `synth status TARGET` means a run directory (else a fleet job id): a URL, an
    existing path, or anything spelled as a path (a job id never holds a slash)."""
    return is_url(target) or "/" in target or os.sep in target or Path(target).exists()


@dataclass
class RunStatus:
    """A local run's view: whole-run counts, whether it is going, and its ETA."""

    location: str
    state: str  # running, finished, interrupted, unknown
    detail: str  # why the view says so
    planned: int | None
    counts: dict[str, Any]
    slots_per_s: float | None = None
    eta_s: float | None = None
    this_invocation: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_status(location: str, now: float | None = None) -> RunStatus:
    """The view of the run directory at `location` (a path or fsspec URL); SynthError
    naming the file when it is not a run directory or its run.json / summary.json is
    corrupt."""
    store = RunStore(location)
    where = location.rstrip("/")
    settings = store.read_settings()
    if settings is None:
        if not store.exists():
            missing = "nothing stored there" if is_url(location) else "no such directory"
            raise SynthError(location, f"not a run directory: {missing}")
        raise SynthError(
            f"{where}/run.json", "not found: not a run directory", "pass one `synth generate` made"
        )
    summary = _checked_summary(store.read_summary(), f"{where}/summary.json")
    counts = run_counts(store).as_dict(planned=settings.get("problems"))
    status = RunStatus(
        location=location,
        state="unknown",
        detail="",
        planned=counts["slots"],
        counts=counts,
        this_invocation=(summary or {}).get("this_invocation") or {},
    )
    _judge_state(status, summary, settings, time.time() if now is None else now)
    return status


def _checked_summary(summary: dict | None, where: str) -> dict | None:
    if summary is None:
        return None
    state = summary.get("state")
    mine = summary.get("this_invocation")
    if state is None and "finished" not in summary:
        raise SynthError(where, "holds no run state ('state' or 'finished')", "not synth's file?")
    if state is not None and state not in STATES:
        raise SynthError(where, f"unknown state {state!r}", f"one of {', '.join(STATES)}")
    numbers = ("started_at", "updated_at", "slots_done")
    if mine is not None and not (
        isinstance(mine, dict)
        and all(isinstance(mine.get(k, 0), (int, float)) for k in numbers)
        and isinstance(mine.get("pid", 0), (int, type(None)))
    ):
        raise SynthError(where, "this_invocation is not the object synth writes")
    return summary


def _judge_state(status: RunStatus, summary: dict | None, settings: dict, now: float) -> None:
    done, planned = status.counts["slots_done"], status.planned
    if summary is None:
        job = settings.get("job")
        status.detail = (
            f"fleet job {job}: `synth status {job}` shows its chunks"
            if job
            else "no summary.json: no batch started yet, or an older synth wrote this run"
        )
        return
    # summaries before the `state` field were written once, when the invocation ended
    state = summary.get("state") or ("finished" if summary.get("finished") else "interrupted")
    mine = status.this_invocation
    if state == "running":
        host, pid = mine.get("host"), mine.get("pid")
        if host == socket.gethostname() and isinstance(pid, int) and not psutil.pid_exists(pid):
            state = "interrupted"
            status.detail = f"its writer (pid {pid}) is gone without a word: killed?"
        elif host == socket.gethostname():
            status.detail = f"pid {pid}"
        else:
            ago = now - float(mine.get("updated_at", now))
            status.detail = (
                f"on {host or 'an unknown host'}, which this host cannot check; "
                f"summary.json last written {ago:.0f} s ago"
            )
    elif state == "finished" and planned is not None and done < planned:
        state = "interrupted"  # a resume with more slots stopped before its first batch
        status.detail = f"summary.json says finished, but {done} of {planned} slots are stored"
    elif state == "interrupted":
        stopped_by = mine.get("stopped_by")
        status.detail = f"by {stopped_by}" if stopped_by else "before every slot was stored"
    status.state = state
    if state == "running":
        _estimate(status, now)
    if state == "interrupted":
        status.detail += "; run the same `synth generate` command to resume"


def _estimate(status: RunStatus, now: float) -> None:
    mine = status.this_invocation
    done_now = mine.get("slots_done", 0)
    elapsed = now - float(mine.get("started_at", now))
    if done_now <= 0 or elapsed <= 0:
        return  # no batch of this invocation has landed: no pace to go by
    rate = done_now / elapsed
    status.slots_per_s = round(rate, 6)
    if status.planned is not None:
        left = max(status.planned - status.counts["slots_done"], 0)
        status.eta_s = round(left / rate, 1)


# --- the view, shared with a fleet job's status ---------------------------------------


def print_view(
    console: Console, bars: list[tuple[str, int, int | None]], headline: str, lines: list[str]
) -> None:
    """Progress bars (label, done, total), a headline, then one detail per line: how
    `synth status` shows a fleet job and a local run alike."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        for label, done, total in bars:
            progress.add_task(label, total=total, completed=done)
    console.print(headline)
    for line in lines:
        console.print(f"  {line}")


def print_run_status(status: RunStatus, console: Console) -> None:
    """The human view of `run_status`."""
    counts = status.counts
    eta = f"{status.eta_s:.0f} s" if status.eta_s is not None else "-"
    rate = f"{status.slots_per_s:.3f} slots/s" if status.slots_per_s is not None else "-"
    headline = f"run {status.location}: {status.state}"
    if status.detail:
        headline += f" ({status.detail})"
    lines = [f"rate {rate}; ETA {eta}"] if status.state == "running" else []
    lines += [
        f"problems accepted {counts['problems_accepted']}; samples {counts['samples']}, "
        f"verified {counts['verified']} (corrected {counts['corrected']})",
        f"tokens of stored samples: {counts['prompt_tokens']} prompt, "
        f"{counts['completion_tokens']} completion",
    ]
    lines += [f"rejected {key}: {n}" for key, n in counts["rejected"].items()]
    print_view(
        console,
        [
            ("slots", counts["slots_done"], status.planned),
            ("verified", counts["problems_with_verified_solution"], status.planned),
        ],
        headline,
        lines,
    )
