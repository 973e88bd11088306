"""Yields of the pipeline on a real model, stage by stage, for code and math.

Runs `synth generate`'s pipeline in process (one vLLM engine for both domains) with fixed
seeds, then reads every stored record and reports, per domain:

- problems: completions that gave a usable problem, and why the others did not;
- tests (code): completions that gave a usable suite (before the stub and agreement
  guards), cases kept and dropped by reason, suites whose completion was cut;
- samples: first-attempt pass rate, corrected share of verified samples (wrong first,
  right after feedback), final verified yield per slot and per sample;
- tokens per verified sample, and the rejection table (stage/reason).

    python bench/yields.py --model qwen2.5-coder-0.5b-instruct --problems 64 --out runs/yields

The run directories stay in --out: run again and the pipeline resumes, then reports.
`--report-only` reads OUT/DOMAIN as it is (any run directory of that domain, for example a
`synth rounds` round's run made with the same settings) and generates nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from synth.records import Record

DOMAINS = {"code": "taxonomies/code/python.yaml", "math": "taxonomies/math/skills.yaml"}


def stage_counts(records: list[Record]) -> dict:
    """The per-stage yields of one run's records (pure: records in, numbers out)."""
    slots = len(records)
    problem_rejections = Counter(r.rejection for r in records if r.rejected_at == "problem")
    with_problem = [r for r in records if r.rejected_at != "problem"]
    tests_unusable = {"tests_unparseable", "tests_truncated", "engine_error"}
    reached_tests = [r for r in with_problem if r.rejected_at in ("tests", "solution", None)]
    tests_usable = [
        r for r in reached_tests if not (r.rejected_at == "tests" and r.rejection in tests_unusable)
    ]
    suites = [r.tests for r in records if r.tests is not None]
    trajectories = [t for r in records for t in r.trajectories]
    first_pass = sum(1 for t in trajectories if t.attempts and t.attempts[0].verdict.passed)
    verified = [t for t in trajectories if t.verified]
    corrected = [t for t in verified if t.corrected]
    tokens = sum(
        a.sample.completion_tokens for t in trajectories for a in t.attempts
    )  # samples only: problem and test completions are not in the records' samples
    return {
        "slots": slots,
        "problem_usable": len(with_problem),
        "problem_usable_share": _share(len(with_problem), slots),
        "problem_rejections": dict(problem_rejections.most_common()),
        "tests_completions": len(reached_tests),
        "tests_usable": len(tests_usable),
        "tests_usable_share": _share(len(tests_usable), len(reached_tests)),
        "tests_cut_but_kept": sum(1 for s in suites if getattr(s, "truncated", False)),
        "test_cases_kept": sum(len(s.cases) for s in suites),
        "test_cases_dropped": dict(Counter(d.reason for s in suites for d in s.dropped)),
        "samples": len(trajectories),
        "first_attempt_pass_share": _share(first_pass, len(trajectories)),
        "verified_samples": len(verified),
        "corrected_samples": len(corrected),
        "corrected_share_of_verified": _share(len(corrected), len(verified)),
        "records_verified": sum(1 for r in records if r.status == "verified"),
        "verified_yield_per_slot": _share(sum(1 for r in records if r.status == "verified"), slots),
        "sample_tokens_per_verified_sample": round(tokens / len(verified)) if verified else None,
        "rejections": dict(Counter(k for r in records for k in r.rejection_keys()).most_common()),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def report_only(args: argparse.Namespace) -> dict:
    """The stage counts of run directories already on disk, with their summaries' tokens."""
    from synth.store import RunStore

    report = {"model": args.model, "date": time.strftime("%Y-%m-%d"), "domains": {}}
    for domain in args.domains:
        out = Path(args.out) / domain
        counts = stage_counts(list(RunStore(out).records()))
        summary = json.loads((out / "summary.json").read_text())
        invocation = summary["this_invocation"]  # a run made in one go: the whole run's calls
        counts["completion_tokens_all_steps"] = invocation["completion_tokens"]
        counts["engine_seconds"] = invocation["engine_seconds"]
        counts["tokens_per_second"] = invocation["completion_tokens_per_second"]
        report["domains"][domain] = counts
        print(json.dumps({domain: counts}), flush=True)
    return report


def run(args: argparse.Namespace) -> dict:
    from rich.console import Console

    from synth.engines.registry import EngineSettings, open_engine
    from synth.engines.replay import RecordingEngine
    from synth.pipelines.settings import RunSettings
    from synth.run import GenerateOptions, RunPlace, run_generate
    from synth.store import RunStore

    report = {"model": args.model, "date": time.strftime("%Y-%m-%d"), "domains": {}}
    console = Console(stderr=True)
    engine_settings = EngineSettings(model=args.model)
    engine = open_engine(engine_settings, args.seed)  # one engine start for both domains
    try:
        for domain in args.domains:
            out = Path(args.out) / domain
            config = RunSettings(
                problems=args.problems,
                samples=args.samples,
                max_attempts=args.max_attempts,
                seed=args.seed,
            )
            started = time.perf_counter()
            stats = run_generate(
                GenerateOptions(
                    place=RunPlace(out=out, engine=engine_settings),
                    run=config,
                    taxonomy=Path(DOMAINS[domain]),
                ),
                console,
                # every completion kept beside the run: the real-model fixtures come from here
                engine=RecordingEngine(engine, Path(args.out) / f"{domain}-completions.jsonl"),
            )
            counts = stage_counts(list(RunStore(out).records()))
            counts["generate_s"] = round(time.perf_counter() - started)
            counts["completion_tokens_all_steps"] = stats.completion_tokens
            counts["tokens_per_second"] = round(stats.tokens_per_second(), 1)
            report["domains"][domain] = counts
            print(json.dumps({domain: counts}), flush=True)
    finally:
        engine.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--domains", nargs="+", default=["code", "math"], choices=list(DOMAINS))
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--max-attempts", "--max-rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/yields")
    parser.add_argument(
        "--report-only", action="store_true", help="read OUT/DOMAIN, generate nothing"
    )
    args = parser.parse_args()
    report = report_only(args) if args.report_only else run(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "yields.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
