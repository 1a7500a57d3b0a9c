"""How close does ``coderefl eval`` get to the fastest possible run, and how much memory does it use?

One full ``coderefl eval`` (the real CLI, in a child process) of a strategy
on HumanEval against the scripted OpenAI-compatible server with a fixed
latency per call. The scripted model walks each problem down a realistic
Reflexion path built from its canonical solution (tests/run/helpers.py,
``humaneval_script``): it writes tests, and every other problem first gets
a wrong function, a reflection, then the fix.

Lower bounds on the wall time, from the run's own trajectory files (each
item's ``timing``: the duration of its model calls and the time its
sandbox runs held a slot, including the hidden scoring and the canonical
check):

* critical path: max over problems of (model time + sandbox time, the
  shorter of its two side-by-side measurements left out); a problem's
  steps are sequential, so no schedule beats its longest chain. Model time
  is each call's duration as this process saw it, from the moment it had a
  model slot: HTTP, parsing and event-loop turns included;
* sandbox throughput: total sandbox time / --sandbox-concurrency;
* model throughput: total model time / --concurrency (model calls in flight).

The bound is the largest of the three; the target is wall <= 1.2 x bound.

At a realistic latency (``--latency 2.0``) the figure that matters is the
whole process against the calls alone: the **latency bound** is
max(longest chain of model calls, total calls / --concurrency) x latency
(issue 14: target process wall <= 1.1 x it). Also shown for the longest
chains: how late they started and how long their calls queued.
Two more lower bounds make a "refined" one: pipeline fill + sandbox
throughput (no run can start before some problem's first model calls are
answered), and problem slots (each problem holds one of the 2 x
--max-problems item slots, solving or measuring, for at least its
critical path).
Also reported: the "nominal" critical path, the same chain with every call
taking exactly the server's latency (no client work at all: a floor no
real client reaches), peak model calls in flight, and the eval process's peak RSS
(VmHWM sampled from /proc, and getrusage of the waited-for child).

usage: python3 scripts/bench/eval_scheduler.py [--limit N] [--latency 0.5]
       [--concurrency 64] [--sandbox-concurrency 2xCPUs] [--max-problems 128] [--sandbox docker|local]
       [--strategy reflexion] [--executor local|ray] [--repeat N] [--json out.json] [--keep DIR]
       [--reference OTHER_CHECKOUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from http.server import ThreadingHTTPServer  # noqa: E402

from tests.openai_server import ScriptedServer  # noqa: E402

#: the stdlib server listens with a backlog of 5: 64 clients connecting at once overflow it,
#: the kernel drops their SYNs and they retry 1 s later (TcpExtListenOverflows), which made
#: every problem's first model call take ~2 s. A real endpoint listens with a deep backlog.
ThreadingHTTPServer.request_queue_size = 1024
from tests.run.helpers import humaneval_script  # noqa: E402


MODEL_STEPS = {"generate_tests", "generate", "reflect", "critique"}


def vm_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_eval(args: argparse.Namespace, url: str, work: Path, code: Path = ROOT) -> dict:
    out = work / "run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    env.update({
        "CODEREFL_CACHE_PATH": str(work / "cache.sqlite"),  # fresh: every call goes to the server
        "PYTHONPATH": str(code),  # the checkout whose coderefl runs (this one, or --reference)
    })
    cmd = [
        sys.executable, "-m", "coderefl.cli.main", "eval", "--benchmark", "humaneval", "--strategy", args.strategy,
        "--model", "scripted-model", "--base-url", url, "--api-key", "bench", "--out", str(out),
        "--concurrency", str(args.concurrency), "--sandbox-concurrency", str(args.sandbox_concurrency),
        "--max-problems", str(args.max_problems),
        "--sandbox", args.sandbox, "--progress-interval", "10", "--executor", args.executor,
    ]
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    peak = {"kb": 0}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative over children: take the difference
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            kb = vm_hwm_kb(proc.pid)
            if kb:
                peak["kb"] = max(peak["kb"], kb)
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    wall = time.monotonic() - t0
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"coderefl eval failed ({proc.returncode}):\n{stdout}\n{stderr}")
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)  # ru_maxrss: the largest waited-for child (each run is alike)
    return {"out": out, "process_wall_s": wall, "vmhwm_mb": peak["kb"] / 1024, "rusage_maxrss_mb": ru.ru_maxrss / 1024,
            "process_cpu_s": (ru.ru_utime + ru.ru_stime) - (before.ru_utime + before.ru_stime),
            "stderr_tail": stderr.strip().splitlines()[-1:]}


def analyse(out: Path, sandbox_concurrency: int, model_concurrency: int, item_slots: int, latency: float) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    timings, fills = [], []
    for f in sorted((out / "trajectories").glob("*.json")):
        doc = json.loads(f.read_text())
        if doc.get("timing"):
            timings.append(doc["timing"])
        # the model time a problem spends before its first sandbox run
        steps = (doc.get("trajectory") or {}).get("steps") or []
        first = next((i for i, st in enumerate(steps) if st["kind"] == "execute"), None)
        if first is not None:
            fills.append(sum(st["duration_s"] for st in steps[:first] if st["kind"] in MODEL_STEPS))
    model_total = sum(t["model_s"] for t in timings)
    sandbox_total = sum(t["sandbox_s"] for t in timings)
    critical = max(t["critical_path_s"] for t in timings)
    # the same chain with every call at the server's latency: no client work, no queueing at all
    nominal = max(t["model_calls"] * latency + t["sandbox_s"] - t.get("sandbox_overlap_s", 0.0) for t in timings)
    bounds = {
        "critical_path_s": critical,
        "sandbox_throughput_s": sandbox_total / sandbox_concurrency,
        "model_throughput_s": model_total / model_concurrency,
    }
    session = summary["session"]
    fill = min(fills) if fills else 0.0
    longest = max(t["model_calls"] for t in timings)
    total_calls = sum(t["model_calls"] for t in timings)
    first_start = min(t["started_at"] for t in timings)
    chains = sorted(timings, key=lambda t: -t["model_calls"])[:6]
    return {
        "latency_bound_s": max(longest, total_calls / model_concurrency) * latency,
        "longest_chain_calls": longest,
        "long_chains": [
            {"calls": t["model_calls"], "start_s": round(t["started_at"] - first_start, 2),
             "model_wait_s": t["model_wait_s"], "sandbox_wait_s": t["sandbox_wait_s"], "wall_s": t["wall_s"]}
            for t in chains
        ],
        "fill_s": fill,
        "nominal_critical_path_s": nominal,
        # no run can start before some problem's pre-sandbox model chain is done
        # each problem holds one of the item slots (solving or measuring) for at least its critical path
        "problem_slots_s": sum(t["critical_path_s"] for t in timings) / item_slots,
        "fill_plus_sandbox_throughput_s": max(
            fill + bounds["sandbox_throughput_s"], sum(t["critical_path_s"] for t in timings) / item_slots, *bounds.values()
        ),
        "problems": summary["records"],
        "pass@1": summary["pass@1"],
        "model_calls": session["model_calls"],
        "sandbox_runs": session["sandbox_runs"],
        "mean_iterations": summary["mean_iterations"],
        "scheduler_wall_s": session["scheduler_wall_s"],
        "run_wall_s": summary["wall_s"]["run"],
        "peak_model_calls_in_flight": session["peak_model_calls_in_flight"],
        "peak_sandbox_runs_in_flight": session["peak_sandbox_runs_in_flight"],
        "peak_problems_in_flight": session["peak_problems_in_flight"],
        "peak_problems_solving": session["peak_problems_solving"],
        "model_time_total_s": model_total,
        "sandbox_time_total_s": sandbox_total,
        "sandbox_wait_total_s": sum(t["sandbox_wait_s"] for t in timings),
        "mean_sandbox_run_s": sandbox_total / max(1, sum(t["sandbox_runs"] for t in timings)),
        "bounds": bounds,
        "bound_s": max(bounds.values()),
        "binding": max(bounds, key=bounds.get),  # type: ignore[arg-type]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=None, help="first N problems (default: all 164)")
    ap.add_argument("--latency", type=float, default=0.5, help="seconds the scripted model takes per call")
    ap.add_argument("--concurrency", type=int, default=64, help="model calls in flight")
    ap.add_argument("--sandbox-concurrency", type=int, default=None, help="default: eval's, twice the CPUs")
    ap.add_argument("--max-problems", type=int, default=None, help="problems solved at once (default: eval's, 2 x concurrency)")
    ap.add_argument("--sandbox", choices=["docker", "local"], default="docker")
    ap.add_argument("--strategy", default="reflexion")
    ap.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="ray: a private local Ray (one node); its start is outside the scheduler wall")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="copy the (last) run folder here")
    ap.add_argument("--repeat", type=int, default=1, help="run N times; print each and the median ratio")
    ap.add_argument("--reference", type=Path, default=None,
                    help="another coderefl checkout: each repeat runs it first, then this one (side by side)")
    args = ap.parse_args()
    from coderefl.cli.evaluate import default_sandbox_concurrency

    args.sandbox_concurrency = args.sandbox_concurrency or default_sandbox_concurrency()
    args.max_problems = args.max_problems or 2 * args.concurrency

    from coderefl.problems.registry import load_benchmark

    tasks = load_benchmark("humaneval", limit=args.limit)
    runs: list[dict] = []
    reference: list[dict] = []
    for i in range(args.repeat):
        for code, into in ([(args.reference, reference)] if args.reference else []) + [(ROOT, runs)]:
            a = one_run(args, tasks, code)
            label = f" ({'reference ' + str(code) if code != ROOT else 'this checkout'})" if args.reference else ""
            if args.repeat > 1 or args.reference:
                print(f"== run {i + 1} of {args.repeat}{label}")
            report(a, args)
            into.append(a)
    if reference:
        print("== side by side, process wall / latency bound (reference -> this checkout): " + "; ".join(
            f"{r['process_wall_s'] / r['latency_bound_s']:.2f} -> {t['process_wall_s'] / t['latency_bound_s']:.2f}"
            for r, t in zip(reference, runs)))
    if args.repeat > 1:
        ratios = sorted(r["scheduler_wall_s"] / r["bound_s"] for r in runs)
        process = sorted(r["process_wall_s"] / r["latency_bound_s"] for r in runs)
        refined = sorted(r["scheduler_wall_s"] / r["fill_plus_sandbox_throughput_s"] for r in runs)
        nominal = sorted(r["scheduler_wall_s"] / r["nominal_critical_path_s"] for r in runs)
        print(f"== {args.repeat} runs: scheduler wall / bound: median {statistics.median(ratios):.2f} "
              f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f}); / refined bound: median {statistics.median(refined):.2f}; "
              f"/ nominal critical path: median {statistics.median(nominal):.2f}; "
              f"peak RSS max {max(max(r['vmhwm_mb'], r['rusage_maxrss_mb']) for r in runs):.0f} MB")
        print(f"== process wall / latency bound: median {statistics.median(process):.2f} "
              f"(min {process[0]:.2f}, max {process[-1]:.2f}); each: {', '.join(f'{x:.2f}' for x in process)}")
    if args.json:
        doc = {"args": {k: str(v) for k, v in vars(args).items()}, "runs": runs, "reference_runs": reference}
        args.json.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def one_run(args: argparse.Namespace, tasks: list, code: Path) -> dict:
    with ScriptedServer(handler=humaneval_script(tasks), latency_s=args.latency) as server, \
            tempfile.TemporaryDirectory() as tmp:
        run = run_eval(args, server.base_url, Path(tmp), code)
        requests = len(server.requests)
        a = analyse(run["out"], args.sandbox_concurrency, args.concurrency, 2 * args.max_problems, args.latency)
        if args.keep and code == ROOT:
            shutil.rmtree(args.keep, ignore_errors=True)
            shutil.copytree(run["out"], args.keep)
    a.update({k: v for k, v in run.items() if k != "out"})
    a["server_requests"] = requests
    a["load_avg_1m"] = os.getloadavg()[0]
    a["code"] = str(code)
    return a


def report(a: dict, args: argparse.Namespace) -> None:
    bound = a["bound_s"]
    rows = [
        ("scheduler wall (pipeline only)", a["scheduler_wall_s"]),
        ("run wall (incl. pool start, summary)", a["run_wall_s"]),
        ("process wall (incl. interpreter, imports)", a["process_wall_s"]),
        ("critical-path bound", a["bounds"]["critical_path_s"]),
        (f"sandbox throughput bound (/{args.sandbox_concurrency})", a["bounds"]["sandbox_throughput_s"]),
        (f"model throughput bound (/{args.concurrency})", a["bounds"]["model_throughput_s"]),
        (f"problem slots: sum of critical paths / {2 * args.max_problems}", a["problem_slots_s"]),
        ("refined: max(all of the above, fill + sandbox)", a["fill_plus_sandbox_throughput_s"]),
    ]
    print(f"{a['problems']} problems, {args.strategy}, latency {args.latency}s, concurrency {args.concurrency}, "
          f"max problems {args.max_problems}, "
          f"sandbox {args.sandbox} x{args.sandbox_concurrency}, executor {args.executor}: pass@1 {a['pass@1']:.3f}, "
          f"{a['model_calls']} model calls, {a['sandbox_runs']} sandbox runs "
          f"(mean {a['mean_sandbox_run_s'] * 1000:.0f} ms), mean iterations {a['mean_iterations']:.2f}, "
          f"load average {a['load_avg_1m']:.1f}")
    print(f"{'figure':45s} {'seconds':>9s} {'x bound':>8s}")
    for name, v in rows:
        print(f"{name:45s} {v:9.2f} {v / bound:8.2f}")
    print(f"bound = {a['binding']} = {bound:.2f}s; target scheduler wall <= 1.2 x bound: "
          f"{'met' if a['scheduler_wall_s'] <= 1.2 * bound else 'MISSED'} ({a['scheduler_wall_s'] / bound:.2f}x)")
    refined = a["fill_plus_sandbox_throughput_s"]
    print(f"refined bound (also: the first sandbox run waits for {a['fill_s']:.2f}s of model calls; problem slots): "
          f"{refined:.2f}s; scheduler wall {a['scheduler_wall_s'] / refined:.2f}x it")
    nominal = a["nominal_critical_path_s"]
    print(f"nominal critical path (each call at the server's {args.latency}s, no client time): {nominal:.2f}s; "
          f"scheduler wall {a['scheduler_wall_s'] / nominal:.2f}x it")
    lb = a["latency_bound_s"]
    print(f"latency bound (max(longest chain {a['longest_chain_calls']} calls, {a['model_calls']} calls / "
          f"{args.concurrency}) x {args.latency}s): {lb:.2f}s; process wall {a['process_wall_s'] / lb:.2f}x it "
          f"(target <= 1.1: {'met' if a['process_wall_s'] <= 1.1 * lb else 'MISSED'}), "
          f"run wall {a['run_wall_s'] / lb:.2f}x, scheduler wall {a['scheduler_wall_s'] / lb:.2f}x")
    print("longest chains (calls: start offset / model wait / sandbox wait / wall, s): " + "; ".join(
        f"{c['calls']}: {c['start_s']:.1f} / {c['model_wait_s']:.1f} / {c['sandbox_wait_s']:.1f} / {c['wall_s']:.1f}"
        for c in a["long_chains"]))
    print(f"peak in flight: model calls {a['peak_model_calls_in_flight']}, problems {a['peak_problems_in_flight']} "
          f"({a['peak_problems_solving']} solving), sandbox runs {a['peak_sandbox_runs_in_flight']}")
    print(f"eval process CPU time {a['process_cpu_s']:.1f}s over {a['process_wall_s']:.1f}s wall "
          f"({a['process_cpu_s'] / a['process_wall_s']:.0%} of one core)")
    print(f"eval process peak RSS: VmHWM {a['vmhwm_mb']:.0f} MB, getrusage {a['rusage_maxrss_mb']:.0f} MB "
          f"(target <= 300 MB: {'met' if max(a['vmhwm_mb'], a['rusage_maxrss_mb']) <= 300 else 'MISSED'})")


if __name__ == "__main__":
    main()
