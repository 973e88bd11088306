"""The near-duplicate index: finds texts that copy, exactly or nearly, a text indexed
before. The pipelines reject a problem too close to one already accepted in the run; export
drops copied problems and solutions (synth.export.dedup).

A text's *signature* is computed once and serves both the query and the insert:
- an exact key: the first 8 bytes of BLAKE2b over the normalised text (its tokens, lower
  case, joined by single spaces); two texts with one normalised text are exact copies. A
  different text takes the key of an indexed one with a chance of about n / 2**64 (n texts
  indexed), the only way an exact match can be wrong.
- a MinHash of the set of its token shingles (`shingle` consecutive tokens), `num_perm`
  32-bit values from rensa's compiled R-MinHash (`rensa.RMinHash`, seed 1), all texts of a
  batch in one call. Measured on export rows (bench/minhash_speed.py, bench/README.md
  "Export at scale"): about 14x faster than datasketch's `MinHash.update` once a shingle
  (what synth did before), 2x faster than datasketch's `MinHash.bulk` and 1.7x than a numpy
  MinHash over xxhash-ed shingles, the next best; building the shingles in Python is now
  most of the cost. Its Jaccard estimate is as unbiased as datasketch's and no noisier, and
  its LSH decisions agree with datasketch's as well as datasketch's agree with themselves
  under another seed (tests/test_near_duplicates.py).

Near copies are found with MinHash LSH: the signature is cut into `b` bands of `r` values,
with datasketch's choice of (b, r) for the threshold, so a pair with Jaccard similarity `s`
shares a band with probability 1 - (1 - s**r)**b, as in `datasketch.MinHashLSH`. Like it,
a shared band is a match (candidates are not verified against the threshold). The bands are
kept in numpy tables (synth.key_table): 12 bytes per band of a distinct text, so millions
of texts fit in a few hundred MB (measured: 100,000 texts at threshold 0.8 take 41 MB of
RSS with their keys, where datasketch's `MinHashLSH`, Python dicts of tuples, takes 382 MB).
A band's key folds its `r` values into 64 bits (multiply-add with odd multipliers, then a
murmur3 finaliser): two different bands share a key by chance about once in 2**60.

The signatures differ from those of the datasketch index synth used before (another hash),
so on pairs near the threshold, where MinHash LSH is a coin toss, individual decisions
differ; clear copies and clearly different texts are decided alike.

A match names the key of the *earliest* indexed text among the candidates. Adding a key
twice is harmless (the first text indexed under a band keeps it).

Signatures travel as arrays (`Signatures`): `index.sign(texts)` computes them, and
`index.add_signed(keys, signatures)` seeds an index from them without the texts (a resumed
run does this from the signatures its run index stores: synth/run_index.py). A signature carries its `scheme` (the MinHash
algorithm and version, `num_perm`, shingle size, tokens); an index refuses signatures of
another scheme, since their values would not be comparable. The threshold is no part of
the scheme: one set of signatures serves indexes of any threshold.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from datasketch import MinHashLSH
from rensa import RMinHash

from synth.errors import SynthError
from synth.key_table import ABSENT, KeyTable

_WORD = re.compile(r"\w+")
_CODE_TOKEN = re.compile(r"\w+|[^\w\s]")
_SEED = 1


@dataclass(frozen=True)
class Signatures:
    """The signatures of n texts: `exact` (n,) uint64 and `minhash` (n, num_perm) uint32."""

    scheme: str
    exact: np.ndarray
    minhash: np.ndarray

    def __len__(self) -> int:
        return len(self.exact)

    def __getitem__(self, rows: int | slice | Sequence[int]) -> Signatures:
        """Row `i` as a Signatures of one, a slice of rows, or the rows of a list of numbers."""
        if isinstance(rows, int):
            rows = slice(rows, rows + 1 if rows != -1 else None)
        return Signatures(self.scheme, self.exact[rows], self.minhash[rows])

    @classmethod
    def concat(cls, parts: Sequence[Signatures]) -> Signatures:
        """One Signatures of the rows of `parts` (all of one scheme), in order."""
        schemes = {part.scheme for part in parts}
        if len(schemes) != 1:
            raise ValueError(f"signatures of different schemes: {sorted(schemes)}")
        return cls(
            schemes.pop(),
            np.concatenate([p.exact for p in parts]),
            np.concatenate([p.minhash for p in parts]),
        )


class NearDuplicateIndex:
    """Texts indexed so far; finds exact copies (normalised text) and near copies (Jaccard
    similarity of token shingles above `threshold`, MinHash LSH).

    `tokens="words"` reads prose (punctuation ignored); `tokens="code"` keeps operators and
    punctuation as tokens, so `a + b` and `a - b` differ. Every method that takes a text
    also takes its signature from `sign` (one row): `match(text)` then `add(key, text)` of
    the same text signs it once.
    """

    def __init__(
        self, threshold: float = 0.7, num_perm: int = 128, shingle: int = 3, tokens: str = "words"
    ) -> None:
        if tokens not in ("words", "code"):
            raise ValueError(f"tokens must be 'words' or 'code', not {tokens!r}")
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self.scheme = (
            f"rensa.RMinHash v{RMinHash.ALGORITHM_VERSION} seed {_SEED}, {num_perm} perm, "
            f"{shingle}-shingles of {tokens}, blake2b-64 exact"
        )
        self._pattern = _CODE_TOKEN if tokens == "code" else _WORD
        self.bands, self.rows = _bands_and_rows(threshold, num_perm)
        # one odd 64-bit multiplier a band value (a band's key differs from every other's)
        draw = np.random.default_rng(_SEED).integers(1, 2**63, size=(self.bands, self.rows))
        self._multipliers = draw.astype(np.uint64) * np.uint64(2) + np.uint64(1)
        self._exact = KeyTable()
        self._banded = KeyTable()
        self._keys: list[str] = []
        self._last: tuple[str, Signatures] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    # --- signatures ------------------------------------------------------------------

    def sign(self, texts: Sequence[str]) -> Signatures:
        """The signatures of `texts`, in one compiled call (faster by the batch than one by one)."""
        token_lists = [self._pattern.findall(text.lower()) for text in texts]
        exact = np.fromiter(
            (_exact_key(" ".join(tokens)) for tokens in token_lists),
            dtype=np.uint64,
            count=len(token_lists),
        )
        shingles = [_shingles(tokens, self.shingle) for tokens in token_lists]
        digests = RMinHash.digests_from_token_sets(shingles, self.num_perm, _SEED)
        minhash = np.array(digests, dtype=np.uint32).reshape(len(texts), self.num_perm)
        return Signatures(self.scheme, exact, minhash)

    def _check_scheme(self, signatures: Signatures) -> None:
        if signatures.scheme != self.scheme:
            raise SynthError(
                "signatures",
                f"made as {signatures.scheme!r}, this index reads {self.scheme!r}",
                "sign the texts again with this index",
            )

    def _signed(self, text: str | Signatures) -> Signatures:
        if isinstance(text, Signatures):
            self._check_scheme(text)
            if len(text) != 1:
                raise ValueError(f"one signature expected, got {len(text)}")
            return text
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        signed = self.sign([text])
        self._last = (text, signed)
        return signed

    def band_keys(self, minhash: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: each band's values folded into one 64-bit key (multiply-add
        with the band's own odd multipliers, then a murmur3-style finaliser). A text can
        match only a text that shares its exact key or one of these keys (what an export
        on a cluster groups texts by: synth.export.on_dask)."""
        used = minhash[:, : self.bands * self.rows].astype(np.uint64)
        values = used.reshape(len(minhash), self.bands, self.rows)
        keys = (values * self._multipliers).sum(axis=2, dtype=np.uint64)
        keys ^= keys >> np.uint64(33)
        keys *= np.uint64(0xFF51AFD7ED558CCD)
        keys ^= keys >> np.uint64(33)
        return keys

    # --- queries and inserts ---------------------------------------------------------

    def match(self, text: str | Signatures) -> tuple[str, str] | None:
        """("exact" or "near", the key of the indexed text) this text copies, or None."""
        signed = self._signed(text)
        first = self._exact.lookup(signed.exact)[0]
        if first != ABSENT:
            return "exact", self._keys[first]
        found = self._banded.lookup(self.band_keys(signed.minhash)[0])
        found = found[found != ABSENT]
        return ("near", self._keys[int(found.min())]) if len(found) else None

    def near_copy_of(self, text: str | Signatures) -> str | None:
        """The key of an indexed text this text copies, exactly or nearly, or None."""
        found = self.match(text)
        return found[1] if found else None

    def add(self, key: str, text: str | Signatures) -> None:
        """Index `text` (or its signature) under `key`."""
        signed = self._signed(text)
        entry = len(self._keys)
        self._keys.append(key)
        self._exact.insert(signed.exact, entry)
        self._banded.insert(self.band_keys(signed.minhash)[0], entry)

    def add_signed(self, keys: Sequence[str], signatures: Signatures) -> None:
        """Index many texts by their signatures (`sign`, or the run index's), in order."""
        self._check_scheme(signatures)
        if len(keys) != len(signatures):
            raise ValueError(f"{len(keys)} keys for {len(signatures)} signatures")
        first = len(self._keys)
        self._keys.extend(keys)
        for keys_of, table in (
            (signatures.exact[:, None], self._exact),
            (self.band_keys(signatures.minhash), self._banded),
        ):
            merged = table.lookup_merged(keys_of).tolist()
            for i, row in enumerate(keys_of.tolist()):
                for key, found in zip(row, merged[i], strict=True):
                    if found == ABSENT:
                        table.recent.setdefault(key, first + i)
                table.settle()

    def match_or_add(
        self, keys: Sequence[str], signatures: Signatures
    ) -> list[tuple[str, str] | None]:
        """For each text in order: what `match` says, given the texts indexed before it
        (those of this batch too); one that copies nothing is added under its key. The same
        as `match` then `add` text by text, in a few numpy calls for the whole batch."""
        self._check_scheme(signatures)
        if len(keys) != len(signatures):
            raise ValueError(f"{len(keys)} keys for {len(signatures)} signatures")
        exact = signatures.exact.tolist()
        bands = self.band_keys(signatures.minhash)
        merged_exact = self._exact.lookup_merged(signatures.exact).tolist()
        merged_bands = self._banded.lookup_merged(bands).tolist()
        recent_exact, recent_bands = self._exact.recent, self._banded.recent
        found: list[tuple[str, str] | None] = []
        for i, band_keys in enumerate(bands.tolist()):
            first = merged_exact[i]
            if first == ABSENT:
                first = recent_exact.get(exact[i], ABSENT)
            if first != ABSENT:
                found.append(("exact", self._keys[first]))
                continue
            near = [entry for entry in merged_bands[i] if entry != ABSENT]
            near += [recent_bands[k] for k in band_keys if k in recent_bands]
            if near:
                found.append(("near", self._keys[min(near)]))
                continue
            entry = len(self._keys)
            self._keys.append(keys[i])
            recent_exact[exact[i]] = entry
            for key in band_keys:
                recent_bands.setdefault(key, entry)  # a band key shared in this text: once
            found.append(None)
        self._exact.settle()
        self._banded.settle()
        return found


@functools.lru_cache(maxsize=1)
def problem_signer() -> NearDuplicateIndex:
    """An index of the pipelines' scheme (word 3-shingles, 128 permutations), to sign
    problem statements with: the run index stores these signatures, and a resumed run's
    near-duplicate index (any threshold) is seeded from them."""
    return NearDuplicateIndex()


@functools.lru_cache
def _bands_and_rows(threshold: float, num_perm: int) -> tuple[int, int]:
    """datasketch's (b, r) for the threshold (a numerical optimisation: computed once)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r


def _shingles(tokens: list[str], k: int) -> list[str]:
    """The distinct runs of `k` tokens, joined by spaces (all the tokens when fewer)."""
    if len(tokens) < k:
        return [" ".join(tokens)]
    return list(set(map(" ".join, zip(*(tokens[i:] for i in range(k)), strict=False))))


def _exact_key(normalised: str) -> int:
    digest = hashlib.blake2b(normalised.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")
