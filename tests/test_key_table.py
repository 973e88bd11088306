"""KeyTable: 64-bit keys with their first id, across merges into the sorted arrays."""

from __future__ import annotations

import numpy as np
import pytest

from synth.key_table import ABSENT, KeyTable


def keys(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


def test_a_key_keeps_the_first_id_before_and_after_a_merge():
    table = KeyTable(merge_every=4)
    table.insert(keys(10, 2**64 - 1), 0)
    table.insert(keys(10, 7), 1)
    assert table.lookup(keys(10, 2**64 - 1, 7, 3)).tolist() == [0, 0, 1, ABSENT]
    table.insert(keys(5, 3), 2)  # the fourth distinct key: merged into the arrays
    assert table.nbytes == 5 * 12 and len(table) == 5
    table.insert(keys(3, 4), 3)
    assert table.lookup(keys(3, 4, 5, 10, 7, 2**64 - 1, 0)).tolist() == [2, 3, 2, 0, 1, 0, ABSENT]


def test_many_keys_in_random_order_match_a_dict():
    rng = np.random.default_rng(0)
    table = KeyTable(merge_every=1000)
    reference: dict[int, int] = {}
    drawn = rng.integers(0, 2**64, size=(5000, 3), dtype=np.uint64)
    drawn[::7, 0] = drawn[::7, 1]  # some repeats within a row and across rows
    drawn[100:200] = drawn[0:100]
    for i, row in enumerate(drawn):
        table.insert(row, i)
        for key in row.tolist():
            reference.setdefault(key, i)
    table.merge()
    probe = np.concatenate([drawn.ravel(), rng.integers(0, 2**64, 1000, dtype=np.uint64)])
    expected = [reference.get(k, ABSENT) for k in probe.tolist()]
    assert table.lookup(probe).tolist() == expected
    assert table.nbytes == 12 * len(reference)


def test_ids_outside_int32_are_refused():
    with pytest.raises(ValueError, match="outside"):
        KeyTable().insert(keys(1), 2**31)
