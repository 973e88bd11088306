"""Which MinHash for the near-duplicate index? Microseconds a text, on a run's export rows.

The texts are what export dedup signs: the problem statements and the assistant turns of
the first rows of RUN_DIR, in 5-shingles of words. Candidates, each computing 128 values
for every text from its set of shingles (building the shingles is counted in all):

- datasketch_update: `MinHash.update` once a shingle (synth before issue 18);
- datasketch_update_batch: `MinHash.update_batch` once a text;
- datasketch_bulk: `MinHash.bulk` once for all texts;
- numpy: each token hashed (xxh64), shingle hashes combined with numpy, 128 affine
  permutations and the minimum over a whole batch of texts (`np.minimum.reduceat`);
- rensa: `rensa.RMinHash.digests_from_token_sets` once for all texts (compiled);
- index_sign: `NearDuplicateIndex.sign`, what synth runs (rensa, plus the exact key).

    .venv/bin/python bench/minhash_speed.py RUN_DIR --rows 2000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from itertools import islice

import numpy as np
import rensa
import xxhash
from datasketch import MinHash

from synth.export.dedup import solution_text
from synth.export.dialogs import examples
from synth.near_duplicates import NearDuplicateIndex
from synth.store import RunStore

_WORD = re.compile(r"\w+")
K, PERM = 5, 128


def shingles(text: str) -> set[str]:
    tokens = _WORD.findall(text.lower())
    return {" ".join(tokens[i : i + K]) for i in range(max(1, len(tokens) - K + 1))}


def datasketch_update(texts):
    for text in texts:
        minhash = MinHash(num_perm=PERM, seed=1)
        for item in shingles(text):
            minhash.update(item.encode())


def datasketch_update_batch(texts):
    for text in texts:
        MinHash(num_perm=PERM, seed=1).update_batch([s.encode() for s in shingles(text)])


def datasketch_bulk(texts):
    MinHash.bulk([[s.encode() for s in shingles(t)] for t in texts], num_perm=PERM, seed=1)


_rng = np.random.default_rng(1)
_A = _rng.integers(1, 2**63, PERM, dtype=np.uint64) | np.uint64(1)
_B = _rng.integers(0, 2**63, PERM, dtype=np.uint64)
_MIX = _rng.integers(1, 2**63, K, dtype=np.uint64) | np.uint64(1)


def _shingle_hashes(text: str) -> np.ndarray:
    tokens = _WORD.findall(text.lower()) or [""]
    hashes = np.fromiter((xxhash.xxh64_intdigest(t.encode()) for t in tokens), np.uint64)
    n = max(1, len(tokens) - K + 1)
    combined = np.zeros(n, dtype=np.uint64)
    for j in range(min(K, len(tokens))):
        combined = (combined ^ hashes[j : j + n]) * _MIX[j]
    return np.unique(combined)


def numpy_minhash(texts, chunk: int = 16384):
    hashes = [_shingle_hashes(t) for t in texts]
    offsets = np.concatenate([[0], np.cumsum([len(h) for h in hashes])])
    flat = np.concatenate(hashes)
    i = 0
    while i < len(texts):
        j = max(i + 1, int(np.searchsorted(offsets, offsets[i] + chunk, side="right")) - 1)
        values = ((flat[offsets[i] : offsets[j], None] * _A + _B) >> np.uint64(32)).astype(
            np.uint32
        )
        np.minimum.reduceat(values, offsets[i:j] - offsets[i], axis=0)
        i = j


def rensa_digests(texts):
    rensa.RMinHash.digests_from_token_sets([list(shingles(t)) for t in texts], PERM, 1)


def index_sign(texts):
    NearDuplicateIndex(threshold=0.8, shingle=K).sign(texts)


CANDIDATES = [
    datasketch_update,
    datasketch_update_batch,
    datasketch_bulk,
    numpy_minhash,
    rensa_digests,
    index_sign,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = list(
        islice((row for r in RunStore(args.run_dir).records() for row in examples(r)), args.rows)
    )
    texts = [row["problem"] for row in rows] + [solution_text(row) for row in rows]
    words = statistics.mean(len(_WORD.findall(t)) for t in texts)
    print(json.dumps({"texts": len(texts), "mean_words": round(words, 1)}))
    medians = {}
    for candidate in CANDIDATES:
        seconds = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            candidate(texts)
            seconds.append(time.perf_counter() - started)
        medians[candidate.__name__] = statistics.median(seconds) / len(texts) * 1e6
    base = medians["datasketch_update"]
    for name, micros in medians.items():
        print(
            json.dumps(
                {
                    "candidate": name,
                    "us_per_text": round(micros, 1),
                    "speedup": round(base / micros, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
