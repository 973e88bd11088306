"""Problem generation shared by the code and math pipelines.

The request that asks for a problem from sampled skills (each domain has its own
template), the check that a completion is usable at all, deterministic problem ids, and the
near-duplicate index that rejects a problem too close to one already accepted in the run
(MinHash over word shingles, datasketch's LSH index).
"""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

from synth.engines.base import ChatRequest, Completion, user
from synth.prompts import render
from synth.records import Rejection, SkillCombo, stable_id


def skill_problem_request(
    template: str, combo: SkillCombo, *, seed: int, temperature: float = 1.0
) -> ChatRequest:
    """Ask for one problem exercising the combo's concepts, with the domain's template."""
    return ChatRequest(
        messages=(user(render(template, concepts=combo.concepts)),),
        n=1,
        temperature=temperature,
        max_tokens=1024,
        seed=seed,
        tag="problem",
    )


def unusable(completion: Completion) -> Rejection | None:
    """Why a problem completion cannot be read at all (engine error, cut off), or None."""
    if completion.finish_reason == "error":
        return Rejection(reason="engine_error", detail=completion.error)
    if completion.finish_reason == "length":
        return Rejection(reason="truncated", detail="the problem was cut off at max_tokens")
    return None


class NearDuplicateIndex:
    """Problems accepted so far in a run; finds near copies by Jaccard similarity of shingles."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 128, shingle: int = 3) -> None:
        self.threshold = threshold
        self.num_perm = num_perm
        self.shingle = shingle
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._exact: dict[str, str] = {}

    def _minhash(self, text: str) -> MinHash:
        words = re.findall(r"\w+", text.lower())
        shingles = {
            " ".join(words[i : i + self.shingle])
            for i in range(max(1, len(words) - self.shingle + 1))
        }
        minhash = MinHash(num_perm=self.num_perm, seed=1)
        for item in shingles:
            minhash.update(item.encode())
        return minhash

    def near_copy_of(self, text: str) -> str | None:
        """The key of an indexed problem this text nearly copies, or None."""
        normalised = " ".join(re.findall(r"\w+", text.lower()))
        if normalised in self._exact:
            return self._exact[normalised]
        matches = self._lsh.query(self._minhash(text))
        return sorted(matches)[0] if matches else None

    def add(self, key: str, text: str) -> None:
        normalised = " ".join(re.findall(r"\w+", text.lower()))
        self._exact.setdefault(normalised, key)
        if key not in self._lsh:
            self._lsh.insert(key, self._minhash(text))


def problem_id(seed: int, slot: int) -> str:
    return stable_id("problem", seed, slot)
