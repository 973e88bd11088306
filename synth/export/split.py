"""Train/validation split by problem: all examples of one problem land on one side."""

from __future__ import annotations

import hashlib


def _position(problem_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


def split_by_problem(
    rows: list[dict], validation_share: float, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """Problems whose hashed position falls below `validation_share` go to validation.

    Deterministic for a seed; with a share above 0 and at least two problems, validation
    gets at least one problem (the lowest position) so it is never silently empty.
    """
    positions = {row["problem_id"]: _position(row["problem_id"], seed) for row in rows}
    chosen = {p for p, where in positions.items() if where < validation_share}
    if validation_share > 0 and not chosen and len(positions) >= 2:
        chosen = {min(positions, key=positions.__getitem__)}
    if len(chosen) == len(positions) and len(positions) >= 2:  # keep something to train on
        chosen.discard(max(chosen, key=positions.__getitem__))
    train = [row for row in rows if row["problem_id"] not in chosen]
    validation = [row for row in rows if row["problem_id"] in chosen]
    return train, validation
