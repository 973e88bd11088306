"""An eval's output directory: what was asked, what each problem scored, the summary.

```
OUT/
  config.json     the settings that decide the scores; a resumed eval must match them
  results.jsonl   one line per judged problem, appended and flushed as each is judged
  summary.json    pass@k and the run's facts, rewritten at the end of every pass
```

Resuming reads results.jsonl back: its task_ids are not asked again. A last line without
its newline is what a killed run leaves mid-write; it is dropped (the file is cut back to
the last whole line) and that problem is judged again. Any other unreadable line is the
user's to look at, and is refused by file:line.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationError

from synth.errors import SynthError
from synth.records import Frozen

CONFIG, RESULTS, SUMMARY = "config.json", "results.jsonl", "summary.json"


class SampleResult(Frozen):
    """One sample's verdict; `stage` is where it stopped ("ok" when it passed)."""

    passed: bool
    stage: str
    reason: str = Field(description="passed, timeout, tests_failed, no_code, wrong_answer, ...")
    detail: str = ""
    finish_reason: str = "stop"
    completion_tokens: int = 0
    code: str | None = Field(None, description="code tasks: the program that was run")
    answer: str | None = Field(None, description="math tasks: the final boxed answer")


class ProblemResult(Frozen):
    """One problem's line of results.jsonl: n samples, c of them passed."""

    task_id: str
    n: int
    passed: int
    samples: tuple[SampleResult, ...]


def check_config(out_dir: Path, config: dict) -> None:
    """Refuse to resume an eval of other settings; say which ones differ."""
    path = out_dir / CONFIG
    if not path.exists():
        return
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SynthError(str(path), f"cannot be read: {exc}", "use a new --out directory") from None
    different = {k: (stored.get(k), v) for k, v in config.items() if stored.get(k) != v}
    if different:
        listed = ", ".join(
            f"{k}: stored {a!r}, given {b!r}" for k, (a, b) in sorted(different.items())
        )
        raise SynthError(
            f"--out {out_dir}",
            f"holds an eval with other settings ({listed})",
            "use a new --out directory, or the stored settings to resume",
        )


def write_config(out_dir: Path, config: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def read_results(out_dir: Path) -> dict[str, ProblemResult]:
    """The problems judged so far, by task_id; a half-written last line is cut off the file."""
    path = out_dir / RESULTS
    if not path.exists():
        return {}
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) < len(data):  # a killed run's last write: judge that problem again
        with path.open("r+b") as handle:
            handle.truncate(len(whole))
    results: dict[str, ProblemResult] = {}
    for number, line in enumerate(whole.decode("utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            result = ProblemResult.model_validate_json(line)
        except ValidationError as exc:
            raise SynthError(
                f"{path}:{number}",
                f"not a result line: {exc.errors()[0]['msg']}",
                "delete the line to judge that problem again",
            ) from None
        results[result.task_id] = result
    return results


def append_result(handle, result: ProblemResult) -> None:
    """One problem's line, on disk before the next problem is judged."""
    handle.write(result.model_dump_json(exclude_none=True) + "\n")
    handle.flush()


def write_summary(out_dir: Path, summary: dict) -> None:
    (out_dir / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
