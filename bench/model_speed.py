"""Generation speed of a real model in vLLM: engine start-up and tokens/s, per dtype.

The workload is fixed: 16 different code-problem prompts, one completion each, up to
256 tokens, temperature 0.8 with fixed seeds, in one batch (as the pipeline sends them).
Each dtype gets its own engine in its own process, one after the other, so they never
share the cores.

    python bench/model_speed.py --model qwen2.5-coder-0.5b-instruct --dtype float32 bfloat16
    python bench/model_speed.py --dtype bfloat16 --env VLLM_CPU_NUM_OF_RESERVED_CPU=0

`--env` sets variables in the engine's process (vLLM reads its CPU settings at start-up).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time


def measure(model: str, dtype: str, prompts: int, max_tokens: int, env: dict, queue) -> None:
    import os

    os.environ.update(env)
    from synth.engines.base import ChatRequest, user
    from synth.engines.vllm_local import VLLMConfig, VLLMEngine
    from synth.models.registry import ensure_model, known_model, resolve_model

    # one converted checkpoint (float32, lossless from the GGUF) loaded in each dtype
    path = str(ensure_model(model, dtype="float32")) if known_model(model) else resolve_model(model)
    started = time.perf_counter()
    engine = VLLMEngine(VLLMConfig(model=path, dtype=dtype, max_model_len=2048))
    start_s = time.perf_counter() - started
    topics = [
        "reverse the words of a sentence",
        "merge overlapping intervals",
        "count the islands in a grid",
        "the longest common prefix of strings",
        "validate balanced brackets",
        "the k most frequent words",
        "rotate a matrix by 90 degrees",
        "run-length encode a string",
        "the median of two sorted lists",
        "parse a duration like 1h30m",
        "topologically sort a dependency map",
        "the edit distance of two words",
        "group anagrams together",
        "the next permutation of a list",
        "evaluate a postfix expression",
        "find the missing number in a range",
    ]
    requests = [
        ChatRequest(
            messages=(user(f"Write a Python function to {topics[i % len(topics)]}."),),
            max_tokens=max_tokens,
            temperature=0.8,
            seed=i,
        )
        for i in range(prompts)
    ]
    started = time.perf_counter()
    results = engine.chat(requests)
    elapsed = time.perf_counter() - started
    tokens = sum(c.completion_tokens for r in results for c in r)
    engine.close()
    queue.put(
        {
            "model": model,
            "dtype": dtype,
            "env": env,
            "start_s": round(start_s, 1),
            "generate_s": round(elapsed, 1),
            "tokens": tokens,
            "tokens_per_s": round(tokens / elapsed, 1),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--env", nargs="*", default=[], help="KEY=VALUE for the engine")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    env = dict(item.split("=", 1) for item in args.env)
    for dtype in args.dtype:
        queue = context.Queue()
        process = context.Process(
            target=measure,
            args=(args.model, dtype, args.prompts, args.max_tokens, env, queue),
        )
        process.start()
        result = queue.get()
        process.join()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
