"""A record as a person reads it: problem, kept tests, the verified solution and how many
rounds it took, or why the record was rejected (`synth show`, the demo's last words)."""

from __future__ import annotations

from synth.records import MathProblem, Problem, Record


def render_record(record: Record) -> str:
    lines = [f"record {record.id} (slot {record.slot}): {record.status}", ""]
    problem = record.problem
    if isinstance(problem, Problem):
        lines += ["## Problem", problem.statement.strip(), "", "## Signature", problem.signature]
    elif isinstance(problem, MathProblem):
        lines += ["## Problem", problem.statement.strip(), "", f"answer: {problem.answer}"]
    if record.tests is not None:
        kept = record.tests.cases
        lines += ["", f"## Tests ({len(kept)} kept, {len(record.tests.dropped)} dropped)"]
        lines += [case.source for case in kept]
    if record.status == "rejected" and record.rejected_at is not None:
        lines += ["", f"rejected at {record.rejected_at}: {record.rejection}"]
        if record.rejection_detail:
            lines.append(record.rejection_detail[:500])
    verified = [t for t in record.trajectories if t.verified]
    if verified:
        trajectory = verified[0]
        last = trajectory.attempts[-1].sample
        rounds = len(trajectory.attempts)
        how = "first attempt" if rounds == 1 else f"corrected, {rounds} attempts"
        lines += [
            "",
            f"## Verified solution ({how}; {len(verified)} of {len(record.trajectories)} "
            "samples verified)",
        ]
        lines.append(last.code if last.code else last.text.strip())
    elif record.trajectories:
        lines += ["", "no sample verified: " + ", ".join(sorted(set(record.rejection_keys())))]
    return "\n".join(lines)
