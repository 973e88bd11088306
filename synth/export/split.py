"""Train/validation split by problem: all examples of one problem land on one side.

A problem's side is a function of its id, the seed and the share (a SHA-256 position in
[0, 1) below the share: validation), so rows are routed as they stream, without seeing the
others. Two rules need the whole export, and `Split` settles them at the end: with a share
above 0 and at least two problems, validation gets at least one problem (the lowest
position) so it is never silently empty; and when every problem fell into validation, the
highest one goes back to train, to keep something to train on. `Split.finish` names that
one problem to move, whose rows the writer then moves (synth.export.formats).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from synth.key_table import ABSENT, KeyTable


def position(problem_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{problem_id}".encode()).hexdigest()
    return int(digest[:12], 16) / 16**12


@dataclass
class Split:
    """Routes rows by problem as they stream and counts rows and problems on each side."""

    validation_share: float
    seed: int = 0
    rows: dict[str, int] = field(default_factory=lambda: {"train": 0, "validation": 0})
    problems: dict[str, int] = field(default_factory=lambda: {"train": 0, "validation": 0})
    # the train problem of lowest position, the validation problem of highest
    _edge: dict[str, tuple[float, str]] = field(default_factory=dict)
    _seen: KeyTable = field(default_factory=KeyTable)  # problems counted, by 64-bit hash

    def sides(self, rows: list[dict]) -> list[str]:
        """ "train" or "validation" for each row, counted on its side."""
        where: dict[str, tuple[float, str]] = {}  # each problem of the batch: one hash
        for row in rows:
            problem_id = row["problem_id"]
            if problem_id not in where:
                at = position(problem_id, self.seed)
                where[problem_id] = (at, "validation" if at < self.validation_share else "train")
        digests = b"".join(
            hashlib.blake2b(problem_id.encode(), digest_size=8).digest() for problem_id in where
        )
        keys = np.frombuffer(digests, dtype=np.uint64)
        seen = self._seen.lookup(keys).tolist()
        for key, first, (problem_id, (at, side)) in zip(
            keys.tolist(), seen, where.items(), strict=True
        ):
            if first != ABSENT:
                continue
            self._seen.recent[key] = 0
            self.problems[side] += 1
            edge = self._edge.get(side)
            if edge is None or (at < edge[0] if side == "train" else at > edge[0]):
                self._edge[side] = (at, problem_id)
        self._seen.settle()
        sides = [where[row["problem_id"]][1] for row in rows]
        for side in sides:
            self.rows[side] += 1
        return sides

    def finish(self) -> tuple[str, str, str] | None:
        """(problem id, from side, to side) of the one problem the two rules move, or None."""
        total = self.problems["train"] + self.problems["validation"]
        if total < 2:
            return None
        if self.validation_share > 0 and self.problems["validation"] == 0:
            return self._edge["train"][1], "train", "validation"
        if self.problems["train"] == 0:
            return self._edge["validation"][1], "validation", "train"
        return None

    def moved(self, from_side: str, to_side: str, rows: int) -> None:
        """Count a move `finish` asked for, of `rows` rows."""
        self.rows[from_side] -= rows
        self.rows[to_side] += rows
        self.problems[from_side] -= 1
        self.problems[to_side] += 1
