"""What an export counts as it writes rows, whichever engine writes them: the card's
counters, the split's, the dedup's reasons and the contaminated rows.

The local engine fills one `Totals` as its batches stream in run order; the Dask engine
(synth.export.on_dask) fills one a stretch of the run, on the cluster, and adds them up in
run order with `absorb`, which gives the counts one `Totals` filled over the whole run
would hold (the contaminated rows in run order, the split's problems each counted once).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from synth.export.card import RowStats, RunStats
from synth.export.split import Split


@dataclass
class Totals:
    split: Split
    rows: RowStats
    stats: RunStats = field(default_factory=RunStats)
    duplicates: Counter = field(default_factory=Counter)  # reason -> rows dropped
    contaminated: list[dict] = field(default_factory=list)  # the report's entries, in order
    found: int = 0  # rows made, before dedup and decontamination

    @classmethod
    def of(cls, options) -> Totals:
        """Empty totals for an export with these options (synth.export.ExportOptions)."""
        return cls(Split(options.validation_share, options.split_seed), RowStats(options.kind))

    def absorb(self, later: Totals) -> None:
        """Count in `later`, the totals of the stretch of the run after this one's."""
        self.split.absorb(later.split)
        self.rows.merge(later.rows)
        self.stats.merge(later.stats)
        self.duplicates.update(later.duplicates)
        self.contaminated += later.contaminated
        self.found += later.found
