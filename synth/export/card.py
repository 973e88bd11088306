"""The dataset card: README.md in the export, with the counts and PNG plots (matplotlib).

It says what is in the dataset and what was thrown away on the way: records and examples,
examples by kind (solve, translate, explain) and language, rejections by stage and reason, yield by taxonomy area and by correction round, what
dedup and decontamination dropped, the split, and where to look for the evidence. A card of
preference pairs counts pairs instead of examples, and the pairs by the rejected answer's
stage and reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from synth.export.dedup import solution_text
from synth.export.preferences import ExportKind, pair_reason
from synth.records import Record


@dataclass
class RunStats:
    """What the run's records say, for the card (all records, verified or not)."""

    records: int = 0
    verified_records: int = 0
    rejected: Counter = field(default_factory=Counter)
    area_total: Counter = field(default_factory=Counter)
    area_verified: Counter = field(default_factory=Counter)
    trajectories: int = 0
    verified_by_round: Counter = field(default_factory=Counter)  # round -> newly verified

    def add(self, record: Record, area: str) -> None:
        self.add_facts(self.facts(record, area))

    @staticmethod
    def facts(record: Record, area: str) -> RecordFacts:
        """What the card counts of one record, small enough to send between processes."""
        return RecordFacts(
            record.status == "verified",
            area,
            tuple(record.rejection_keys()),
            tuple(len(t.attempts) if t.verified else 0 for t in record.trajectories),
        )

    def add_facts(self, facts: RecordFacts) -> None:
        self.records += 1
        self.area_total[facts.area] += 1
        if facts.verified:
            self.verified_records += 1
            self.area_verified[facts.area] += 1
        self.rejected.update(facts.rejections)
        for attempts in facts.verified_after:
            self.trajectories += 1
            if attempts:
                self.verified_by_round[attempts] += 1

    def merge(self, other: RunStats) -> None:
        """Count in what `other` counted (of other records)."""
        self.records += other.records
        self.verified_records += other.verified_records
        self.trajectories += other.trajectories
        for mine, theirs in (
            (self.rejected, other.rejected),
            (self.area_total, other.area_total),
            (self.area_verified, other.area_verified),
            (self.verified_by_round, other.verified_by_round),
        ):
            mine.update(theirs)


class RecordFacts(NamedTuple):
    verified: bool
    area: str
    rejections: tuple[str, ...]  # Record.rejection_keys()
    verified_after: tuple[int, ...]  # a trajectory's attempts when verified, else 0


@dataclass
class RowStats:
    """What the exported rows say, for the card, counted as they stream (no rows kept): rows
    by kind and language, pairs by rejected reason, and each length's count (a length
    histogram from these is the histogram of the rows)."""

    kind: ExportKind = "sft"
    by_kind: Counter = field(default_factory=Counter)  # (kind, language) -> rows
    reasons: Counter = field(default_factory=Counter)  # pairs: "stage/reason" -> pairs
    lengths: dict[str, Counter] = field(default_factory=dict)  # column -> length -> rows

    def add(self, row: dict) -> None:
        self.by_kind[(row["kind"], row["language"])] += 1
        self._length("problem", len(row["problem"]))
        if self.kind == "dpo":
            self.reasons[pair_reason(row)] += 1
            for column in ("chosen", "rejected"):
                self._length(column, len(solution_text({column: row[column]})))
        else:
            self._length("assistant", len(solution_text(row)))

    def merge(self, other: RowStats) -> None:
        """Count in what `other` counted, of rows that came after these (the order keeps
        `pairs_by_reason`'s order among equal counts)."""
        self.by_kind.update(other.by_kind)
        self.reasons.update(other.reasons)
        for column, lengths in other.lengths.items():
            self.lengths.setdefault(column, Counter()).update(lengths)

    def _length(self, column: str, length: int) -> None:
        self.lengths.setdefault(column, Counter())[length] += 1

    def pairs_by_reason(self) -> dict[str, int]:
        """Preference pairs by their rejected answer's "stage/reason", most common first."""
        return dict(self.reasons.most_common())


def write_card(
    out: Path,
    title: str,
    stats: RunStats,
    summary: dict,
    rows: RowStats,
) -> None:
    """README.md and plots/*.png in `out`."""
    plots = out / "plots"
    plots.mkdir(exist_ok=True)
    _plot_yield_by_area(stats, plots / "yield_by_area.png")
    _plot_self_correction(stats, plots / "self_correction.png")
    _plot_lengths(rows, plots / "lengths.png")
    (out / "README.md").write_text(_markdown(title, stats, summary, rows), encoding="utf-8")


INTRO = {
    "sft": "Verified synthetic training data made by synth: every example passed every check "
    "(code: parse, ruff and sandboxed unit tests; math: the answer equals the ground truth "
    "under sympy). Chat `messages` plus metadata columns; the evidence of each example is "
    "in the run directory under its `record_id` and `verdict_ids`.",
    "dpo": "Preference pairs made by synth, in TRL's conversational preference format: "
    "`prompt` (the user turn), `chosen` (a first answer that passed every check: code: parse, "
    "ruff and sandboxed unit tests; math: the answer equals the ground truth under sympy) and "
    "`rejected` (a first answer to the same prompt that failed one, at `rejected_stage` for "
    "`rejected_reason`), plus metadata columns; the evidence of both answers is in the run "
    "directory under the `record_id` and the `verdict_ids` (chosen, rejected).",
}


def _markdown(title: str, stats: RunStats, summary: dict, rows: RowStats) -> str:
    kind = rows.kind
    unit = "pairs" if kind == "dpo" else "examples"
    lines = [
        f"# {title}",
        "",
        INTRO[kind],
        "",
        "## Counts",
        "",
        "| what | count |",
        "|---|---|",
    ]
    lines += [f"| {key.replace('_', ' ')} | {value} |" for key, value in summary.items()]
    if kind == "dpo":
        lines += ["", "## Pairs by rejected reason", "", "| stage/reason | pairs |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in rows.pairs_by_reason().items()]
    lines += [
        "",
        f"## {unit.capitalize()} by kind and language",
        "",
        "Kinds: solve (a problem solved and tested), translate (a verified solution and its tests "
        "carried into another language), explain (an explanation the code was rebuilt from).",
        "",
        f"| kind | language | {unit} |",
        "|---|---|---|",
    ]
    by_kind = rows.by_kind
    lines += [f"| {k} | {language} | {n} |" for (k, language), n in sorted(by_kind.items())]
    if not by_kind:
        lines.append("| (none) | | 0 |")
    lines += ["", "## Rejections", "", "| stage/reason | count |", "|---|---|"]
    lines += [f"| {reason} | {count} |" for reason, count in sorted(stats.rejected.items())]
    if not stats.rejected:
        lines.append("| (none) | 0 |")
    lines += [
        "",
        "## Yield by taxonomy area",
        "",
        "![yield by area](plots/yield_by_area.png)",
        "",
        "| area | records | verified | yield |",
        "|---|---|---|---|",
    ]
    for area, total in sorted(stats.area_total.items()):
        verified = stats.area_verified[area]
        lines.append(f"| {area} | {total} | {verified} | {verified / total:.0%} |")
    lines += [
        "",
        "## Yield by correction round",
        "",
        "![self-correction](plots/self_correction.png)",
        "",
        "| attempts | trajectories verified | cumulative yield |",
        "|---|---|---|",
    ]
    cumulative = 0
    for attempts in sorted(stats.verified_by_round):
        cumulative += stats.verified_by_round[attempts]
        share = cumulative / stats.trajectories if stats.trajectories else 0
        lines.append(f"| {attempts} | {stats.verified_by_round[attempts]} | {share:.0%} |")
    lines += ["", "## Lengths", "", "![lengths](plots/lengths.png)", ""]
    return "\n".join(lines)


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_yield_by_area(stats: RunStats, path: Path) -> None:
    plt = pyplot()
    areas = sorted(stats.area_total)
    shares = [stats.area_verified[a] / stats.area_total[a] for a in areas]
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(areas) + 1.5))
    axes.barh(areas, shares)
    axes.set_xlim(0, 1)
    axes.set_xlabel("verified records / records")
    axes.set_title("Verified yield by taxonomy area")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_self_correction(stats: RunStats, path: Path) -> None:
    plt = pyplot()
    first = stats.verified_by_round.get(1, 0)
    corrected = sum(v for k, v in stats.verified_by_round.items() if k > 1)
    never = stats.trajectories - first - corrected
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.bar(["right at once", "right after feedback", "never right"], [first, corrected, never])
    axes.set_ylabel("trajectories")
    axes.set_title("Self-correction gain")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _hist(axes, lengths: Counter | None, **style) -> None:
    """The histogram of the rows' lengths, from each length's count."""
    values, counts = zip(*sorted(lengths.items()), strict=True) if lengths else ((0,), (1,))
    axes.hist(values, bins=20, weights=counts, **style)


def _plot_lengths(rows: RowStats, path: Path) -> None:
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    _hist(left, rows.lengths.get("problem"))
    left.set_title("problem statement (characters)")
    if rows.kind == "dpo":
        for column in ("chosen", "rejected"):
            _hist(right, rows.lengths.get(column), alpha=0.6, label=column)
        right.legend()
    else:
        _hist(right, rows.lengths.get("assistant"))
    right.set_title("assistant turns (characters)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
