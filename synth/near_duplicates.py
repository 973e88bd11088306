"""The near-duplicate index: finds texts that copy, exactly or nearly, a text indexed
before (MinHash over token shingles, datasketch's LSH index). The pipelines reject a problem
too close to one already accepted in the run; export drops copied problems and solutions."""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+")
_CODE_TOKEN = re.compile(r"\w+|[^\w\s]")


class NearDuplicateIndex:
    """Texts indexed so far; finds exact copies (normalised text) and near copies (Jaccard
    similarity of token shingles above `threshold`, MinHash LSH).

    `tokens="words"` reads prose (punctuation ignored); `tokens="code"` keeps operators and
    punctuation as tokens, so `a + b` and `a - b` differ.
    """

    def __init__(
        self, threshold: float = 0.7, num_perm: int = 128, shingle: int = 3, tokens: str = "words"
    ) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self._pattern = _CODE_TOKEN if tokens == "code" else _WORD
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._exact: dict[str, str] = {}

    def _tokens(self, text: str) -> list[str]:
        return self._pattern.findall(text.lower())

    def _minhash(self, tokens: list[str]) -> MinHash:
        shingles = {
            " ".join(tokens[i : i + self.shingle])
            for i in range(max(1, len(tokens) - self.shingle + 1))
        }
        minhash = MinHash(num_perm=self.num_perm, seed=1)
        for item in shingles:
            minhash.update(item.encode())
        return minhash

    def match(self, text: str) -> tuple[str, str] | None:
        """("exact" or "near", the key of the indexed text) this text copies, or None."""
        tokens = self._tokens(text)
        normalised = " ".join(tokens)
        if normalised in self._exact:
            return "exact", self._exact[normalised]
        matches = self._lsh.query(self._minhash(tokens))
        return ("near", sorted(matches)[0]) if matches else None

    def near_copy_of(self, text: str) -> str | None:
        """The key of an indexed text this text copies, exactly or nearly, or None."""
        found = self.match(text)
        return found[1] if found else None

    def add(self, key: str, text: str) -> None:
        tokens = self._tokens(text)
        self._exact.setdefault(" ".join(tokens), key)
        if key not in self._lsh:
            self._lsh.insert(key, self._minhash(tokens))
