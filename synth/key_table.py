"""A set of 64-bit keys, each remembering the id it was first inserted with, in numpy arrays.

Built for millions of keys in bounded memory: merged keys live in two sorted arrays (uint64
keys, int32 ids: 12 bytes a key; a merge briefly needs twice that), recent ones in a small
dict (`recent`) that is merged into the arrays every `merge_every` keys. A lookup is one
binary search over the arrays and one dict probe a key; an insert that finds its key
present changes nothing (the first id is kept). Ids are 0 ... 2**31 - 1.

Batches go faster in two steps: `lookup_merged` for all their keys at once (numpy), then
plain dict work on `recent` key by key, then `settle` (numpy calls cost microseconds
each, dict probes a tenth of one).
"""

from __future__ import annotations

import numpy as np

ABSENT = -1


class KeyTable:
    def __init__(self, merge_every: int = 1 << 17) -> None:
        self.merge_every = merge_every
        self._keys = np.empty(0, dtype=np.uint64)
        self._ids = np.empty(0, dtype=np.int32)
        self.recent: dict[int, int] = {}  # keys not merged yet -> first id

    def __len__(self) -> int:
        return len(self._keys) + len(self.recent)

    @property
    def nbytes(self) -> int:
        """The bytes held by the merged arrays (the recent dict is at most `merge_every`)."""
        return self._keys.nbytes + self._ids.nbytes

    def lookup_merged(self, keys: np.ndarray) -> np.ndarray:
        """The first id of each key (uint64 array of any shape) among the merged keys only,
        ABSENT elsewhere (look in `recent` for those)."""
        ids = np.full(keys.shape, ABSENT, dtype=np.int64)
        if len(self._keys):
            at = np.searchsorted(self._keys, keys)
            at[at == len(self._keys)] = 0
            hit = self._keys[at] == keys
            ids[hit] = self._ids[at[hit]]
        return ids

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The first id of each key (uint64 array), ABSENT where it was never inserted."""
        ids = self.lookup_merged(keys)
        if self.recent:
            found = [self.recent.get(k, ABSENT) for k in keys.tolist()]
            ids = np.where(ids == ABSENT, np.array(found, dtype=np.int64), ids)
        return ids

    def insert(self, keys: np.ndarray, id: int) -> None:
        """Remember `id` for each of `keys` not inserted before."""
        if not 0 <= id < 2**31:
            raise ValueError(f"id {id} is outside 0 ... 2**31 - 1")
        absent = keys[self.lookup(keys) == ABSENT]
        for key in absent.tolist():
            self.recent.setdefault(key, id)
        self.settle()

    def settle(self) -> None:
        """Merge when `recent` holds `merge_every` keys (call after adding to it by hand;
        ids put there must also be below 2**31)."""
        if len(self.recent) >= self.merge_every:
            self.merge()

    def merge(self) -> None:
        """Move the recent keys into the sorted arrays (one pass, no full sort)."""
        if not self.recent:
            return
        keys = np.fromiter(self.recent.keys(), dtype=np.uint64, count=len(self.recent))
        ids = np.fromiter(self.recent.values(), dtype=np.int32, count=len(self.recent))
        order = np.argsort(keys, kind="stable")
        keys, ids = keys[order], ids[order]
        at = np.searchsorted(self._keys, keys)
        self._keys = np.insert(self._keys, at, keys)
        self._ids = np.insert(self._ids, at, ids)
        self.recent.clear()
