"""summary.json: the whole run's counts, and what the invocation writing it did.

`synth generate` writes it when its first batch starts, after every batch it stores, and when
it ends, each time whole (the store replaces it atomically, so a reader never sees half).
Its shape:

    slots, slots_done, problems_accepted, samples, verified, corrected,
    problems_with_verified_solution, rejected {stage/reason: n},
    prompt_tokens, completion_tokens       the WHOLE run: every stored record (synth.counts)
    state                                  running, finished or interrupted
    finished                               state == "finished" (every planned slot stored)
    settings                               run.json as this invocation wrote it
    this_invocation                        the writer's own part:
        slots_done, slots_skipped_already_stored, samples, prompt_tokens,
        completion_tokens (every engine call: problems, tests, judge too),
        engine_seconds, elapsed_seconds, completion_tokens_per_second,
        started_at, updated_at (Unix time), pid, host, stopped_by (what interrupted it)

The whole-run counts are the same however many invocations the run took; `this_invocation`
is all that differs. A writer killed outright (SIGKILL, power loss) leaves `state: running`
behind: `synth status` checks whether its process is still there.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

if TYPE_CHECKING:  # `synth status` reads summaries without importing the pipeline
    from synth.counts import RunCounts
    from synth.pipelines.scheduler import Stats

STATES = ("running", "finished", "interrupted")


def invocation_section(
    stats: Stats, started_at: float, stopped_by: str | None = None
) -> dict[str, Any]:
    """What this invocation did, and who and when it is (for `synth status`'s liveness)."""
    return {
        "slots_done": stats.slots_done - stats.slots_skipped,
        "slots_skipped_already_stored": stats.slots_skipped,
        "samples": stats.samples,
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "engine_seconds": round(stats.engine_seconds, 3),
        "elapsed_seconds": round(stats.elapsed, 3),
        "completion_tokens_per_second": round(stats.tokens_per_second(), 1),
        "started_at": round(started_at, 3),
        "updated_at": round(time.time(), 3),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "stopped_by": stopped_by,
    }


def build_summary(
    counts: RunCounts,
    stats: Stats,
    *,
    state: str,
    settings: dict[str, Any],
    started_at: float,
    stopped_by: str | None = None,
) -> dict[str, Any]:
    """summary.json: `counts` (the whole run) at the top, this invocation in its section."""
    assert state in STATES, state
    return {
        **counts.as_dict(planned=settings.get("problems")),
        "state": state,
        "finished": state == "finished",
        "settings": settings,
        "this_invocation": invocation_section(stats, started_at, stopped_by),
    }


WHOLE_RUN_ROWS = (
    ("slots done", "slots_done"),
    ("problems accepted", "problems_accepted"),
    ("samples", "samples"),
    ("verified", "verified"),
    ("corrected", "corrected"),
    ("problems with verified solution", "problems_with_verified_solution"),
    ("completion tokens (stored samples)", "completion_tokens"),
)
INVOCATION_ROWS = (
    ("slots done now", "slots_done"),
    ("slots skipped (already stored)", "slots_skipped_already_stored"),
    ("completion tokens (all calls)", "completion_tokens"),
    ("completion tokens / s", "completion_tokens_per_second"),
    ("elapsed s", "elapsed_seconds"),
)


def summary_table(summary: dict[str, Any], out: str | Path, title: str = "synth generate") -> Table:
    """The closing table of a run (`synth generate`, `translate`, `explain`): the whole
    run, then this invocation."""
    table = Table(title=f"{title}: {out} ({summary['state']})", show_header=True)
    table.add_column("whole run")
    table.add_column("count", justify="right")
    for label, key in WHOLE_RUN_ROWS:
        value = summary[key]
        if key == "slots_done" and summary["slots"] is not None:
            value = f"{value} of {summary['slots']}"
        table.add_row(label, str(value))
    for reason, count in summary["rejected"].items():
        table.add_row(f"rejected: {reason}", str(count))
    table.add_section()
    table.add_row("[bold]this invocation[/bold]", "")
    mine = summary["this_invocation"]
    for label, key in INVOCATION_ROWS:
        table.add_row(label, str(mine[key]))
    table.caption = f"summary saved to {str(out).rstrip('/')}/summary.json"
    return table
