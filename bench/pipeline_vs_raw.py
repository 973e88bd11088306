"""Does verification keep up with generation? pipeline tokens/s vs a raw vLLM loop.

Both sides use one vLLM engine on the same model and the very same chat requests:

- pipeline: `CodePipeline.run` end to end (problems, tests, stub checks, solutions, ruff,
  sandbox runs, corrections, shard writes), three batches in flight so checks of some
  overlap the generation of another;
- raw: the requests the pipeline sent, replayed batch by batch through `vllm.LLM.chat`
  with nothing else in between.

The tiny local model writes nonsense, which would stop every problem at the first check and
leave the pipeline nothing to overlap. So vLLM generates every token as usual, and the
*text* handed to the pipeline is swapped for a canned problem, tests and solutions (half of
the first-round solutions buggy, so corrections run): the engine work is real and identical
on both sides, the verification work is real, only the words are scripted.

    .venv/bin/python bench/pipeline_vs_raw.py --problems 48 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Sequence

from synth.engines.base import ChatRequest, Completion
from synth.engines.vllm_local import VLLMConfig, VLLMEngine
from synth.models.tiny import ensure_tiny_model
from synth.pipelines.code import CodePipeline
from synth.pipelines.scheduler import run_here
from synth.pipelines.settings import RunSettings
from synth.sandbox import get_sandbox
from synth.sandbox.base import Limits
from synth.store import RunStore
from synth.taxonomy import default_taxonomy_path, load_taxonomy

WORDS = "array string graph tree count merge window prefix digit bit interval stack queue heap path".split()


def canned_text(request: ChatRequest, index: int) -> str:
    prompt = request.messages[0].content
    name = re.search(r"def (\w+)\(", prompt)
    if request.tag == "problem":
        rng = random.Random(prompt)
        words = " ".join(rng.choice(WORDS) for _ in range(40))
        entry = f"solve_{rng.randrange(10**9)}"
        return (
            f"## Problem\nReturn x clamped into [lo, hi]. Context: {words}.\n\n"
            f"## Signature\n```python\ndef {entry}(x: int, lo: int, hi: int) -> int:\n```\n"
        )
    entry = name.group(1) if name else "solve"
    if request.tag == "tests":
        return (
            "```python\n"
            + "\n".join(
                f"assert {entry}({x}, 0, 10) == {min(max(x, 0), 10)}" for x in (-5, 0, 3, 10, 15)
            )
            + "\n```"
        )
    if request.tag == "solution" and index % 2 == 1:
        return f"```python\ndef {entry}(x, lo, hi):\n    return max(lo, x)\n```"
    return f"```python\ndef {entry}(x, lo, hi):\n    # clamp\n    return min(max(lo, x), hi)\n```"


class CannedText:
    """The real engine generates; the pipeline receives canned text with the real token counts."""

    def __init__(self, inner: VLLMEngine) -> None:
        self.inner = inner
        self.name = inner.name
        self.batches: list[list[ChatRequest]] = []

    def chat(self, requests: Sequence[ChatRequest]) -> list[list[Completion]]:
        self.batches.append(list(requests))
        results = self.inner.chat(requests)
        return [
            [
                c.model_copy(update={"text": canned_text(r, i), "finish_reason": "stop"})
                for i, c in enumerate(completions)
            ]
            for r, completions in zip(requests, results, strict=True)
        ]

    def close(self) -> None:
        pass


def run_pipeline(engine: CannedText, problems: int, samples: int, seed: int) -> tuple[float, int]:
    taxonomy = load_taxonomy(default_taxonomy_path())
    config = RunSettings(
        problems=problems,
        samples=samples,
        max_attempts=2,
        seed=seed,
        batch_size=16,
        max_tokens=256,
        min_tests=3,
        limits=Limits(timeout_s=10),
    )
    engine.inner.llm.reset_prefix_cache()  # both sides start with a cold prefix cache
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        stats = run_here(
            CodePipeline(taxonomy, config), engine, get_sandbox("bubblewrap"), RunStore(tmp)
        )
        elapsed = time.perf_counter() - started
    assert stats.trajectories_corrected > 0, "the benchmark must exercise corrections"
    return elapsed, stats.completion_tokens, stats.engine_seconds


def run_raw(engine: VLLMEngine, batches: list[list[ChatRequest]]) -> tuple[float, int]:
    engine.llm.reset_prefix_cache()
    started = time.perf_counter()
    tokens = 0
    for batch in batches:
        outputs = engine.llm.chat(
            [[m.model_dump() for m in r.messages] for r in batch],
            sampling_params=[engine.sampling_params(r) for r in batch],
            use_tqdm=False,
        )
        tokens += sum(len(o.token_ids) for out in outputs for o in out.outputs)
    return time.perf_counter() - started, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=48)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    engine = VLLMEngine(VLLMConfig(model=str(ensure_tiny_model()), seed=0))
    canned = CannedText(engine)
    run_pipeline(canned, 4, 2, seed=999)  # warm-up: compile paths, sandbox, ruff
    rows = []
    for repeat in range(args.repeats):
        canned.batches.clear()
        pipe_s, pipe_tokens, engine_s = run_pipeline(
            canned, args.problems, args.samples, seed=repeat
        )
        raw_s, raw_tokens = run_raw(engine, canned.batches)
        rows.append(
            {
                "repeat": repeat,
                "pipeline_s": round(pipe_s, 2),
                "pipeline_tokens": pipe_tokens,
                "pipeline_tok_s": round(pipe_tokens / pipe_s, 1),
                "pipeline_engine_busy": round(engine_s / pipe_s, 3),
                "raw_s": round(raw_s, 2),
                "raw_tokens": raw_tokens,
                "raw_tok_s": round(raw_tokens / raw_s, 1),
                "engine_calls": len(canned.batches),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    ratios = [r["pipeline_tok_s"] / r["raw_tok_s"] for r in rows]
    print(
        json.dumps(
            {
                "median_pipeline_tok_s": statistics.median(r["pipeline_tok_s"] for r in rows),
                "median_raw_tok_s": statistics.median(r["raw_tok_s"] for r in rows),
                "median_ratio": round(statistics.median(ratios), 3),
                "ratios": [round(x, 3) for x in ratios],
            }
        )
    )
    engine.close()


if __name__ == "__main__":
    main()
