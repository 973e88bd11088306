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
    _seen: set[str] = field(default_factory=set)  # the problems counted
    _last: tuple[str, str] = ("", "")  # the last row's problem and side

    def side(self, problem_id: str) -> str:
        """ "train" or "validation" for a row of this problem, counted on its side."""
        if problem_id != self._last[0]:  # a problem's rows come together: one hash each
            at = position(problem_id, self.seed)
            side = self._side(at)
            self._last = (problem_id, side)
            if problem_id not in self._seen:
                self._seen.add(problem_id)
                self.problems[side] += 1
                self._push_edge(side, at, problem_id)
        side = self._last[1]
        self.rows[side] += 1
        return side

    def _side(self, at: float) -> str:
        return "validation" if at < self.validation_share else "train"

    def _push_edge(self, side: str, at: float, problem_id: str) -> None:
        """A problem new on `side` becomes its edge if it lies further out (on a tie, the
        problem seen first stays)."""
        edge = self._edge.get(side)
        if edge is None or (at < edge[0] if side == "train" else at > edge[0]):
            self._edge[side] = (at, problem_id)

    def keep_only(self, problems: set[str]) -> None:
        """Forget the problems seen that are not in `problems` (they stay counted): `absorb`
        needs a Split to know only the problems that another Split saw too."""
        self._seen &= problems

    def absorb(self, later: Split) -> None:
        """Count in the rows `later` routed, rows that came after this Split's in the run, as
        if this Split had routed them: the same counts and edges. A problem both saw is
        counted once, so each must know every problem the other saw (see `keep_only`)."""
        for side in ("train", "validation"):
            self.rows[side] += later.rows[side]
            self.problems[side] += later.problems[side]
        for problem_id in later._seen:
            if problem_id in self._seen:
                self.problems[self._side(position(problem_id, self.seed))] -= 1
            self._seen.add(problem_id)
        for side, (at, problem_id) in later._edge.items():
            self._push_edge(side, at, problem_id)

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
