"""What does one model call cost the coordinator, per HTTP transport?

N chat calls, C at a time, through coderefl's client (the official openai
async client) against the scripted OpenAI-compatible server, which runs in
its own process with a fixed latency, so only the client's work is in this
process's CPU time. Side by side, in the same run:

* ``aiohttp``: the SDK with its aiohttp transport (``openai[aiohttp]``, our default);
* ``httpx``: the SDK's default transport (``CODEREFL_HTTP_TRANSPORT=httpx``);
* ``sdk-create``: the SDK used the plain way, ``chat.completions.create``
  over its default transport (what coderefl did before: the reference);
* ``raw-httpx``: the same requests posted with httpx directly, no SDK, no
  cache, no parsing into objects: the floor a Python client can reach.

Reported: CPU ms per call in this process, wall time against the ideal
(N / C x latency), and the latency percentiles a call sees.

usage: python3 scripts/bench/model_client.py [--calls 520] [--concurrency 64]
       [--latency 0.5] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SERVER = """
import sys
sys.path.insert(0, {root!r})
from tests.openai_server import ScriptedServer
with ScriptedServer(latency_s={latency}) as srv:
    print(srv.base_url, flush=True)
    sys.stdin.read()
"""

PROMPT = "Write a function that returns the n-th prime.\n" + "def f(x):\n    '''docstring'''\n" * 40


async def run_mode(mode: str, url: str, calls: int, concurrency: int) -> dict:
    from coderefl.config import ModelConfig
    from coderefl.model.client import OpenAIModel
    from coderefl.model.transport import ENV
    from coderefl.records import ChatMessage

    os.environ[ENV] = "httpx" if mode == "httpx" else "aiohttp"
    model = OpenAIModel(ModelConfig(model="scripted-model", base_url=url, api_key="bench", cache=False,
                                    concurrency=concurrency))
    raw = sdk = None
    if mode == "sdk-create":
        import openai

        sdk = openai.AsyncOpenAI(base_url=url, api_key="bench")
    elif mode == "raw-httpx":
        import httpx2

        raw = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency))
    else:
        await model.start()
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        content = f"{PROMPT}# call {i}"
        async with gate:
            t = time.monotonic()
            if sdk is not None:
                await sdk.chat.completions.create(
                    model="scripted-model", messages=[{"role": "user", "content": content}], max_tokens=256)
            elif raw is not None:
                r = await raw.post(f"{url}/chat/completions", json={
                    "model": "scripted-model", "messages": [{"role": "user", "content": content}], "max_tokens": 256})
                r.raise_for_status()
                r.json()
            else:
                await model.chat([ChatMessage(role="user", content=content)], phase="generate", max_tokens=256)
            latencies.append(time.monotonic() - t)

    c0, t0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(one(i) for i in range(calls)))
    wall, cpu = time.monotonic() - t0, time.process_time() - c0
    if raw is not None:
        await raw.aclose()
    if sdk is not None:
        await sdk.close()
    await model.close()
    q = statistics.quantiles(latencies, n=10)
    return {"mode": mode, "cpu_ms_per_call": 1000 * cpu / calls, "wall_s": wall,
            "p50_s": statistics.median(latencies), "p90_s": q[-1]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=520)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.5)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT), latency=args.latency)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        rows: dict[str, list[dict]] = {}
        for _ in range(args.repeat):
            for mode in ("aiohttp", "httpx", "sdk-create", "raw-httpx"):
                rows.setdefault(mode, []).append(asyncio.run(run_mode(mode, url, args.calls, args.concurrency)))
    finally:
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=10)
    ideal = args.calls / args.concurrency * args.latency
    print(f"{args.calls} calls, {args.concurrency} at a time, server latency {args.latency}s: ideal wall {ideal:.2f}s; "
          f"medians of {args.repeat} runs")
    print(f"{'transport':12s} {'CPU ms/call':>11s} {'x raw':>6s} {'wall s':>7s} {'x ideal':>8s} {'p50 s':>6s} {'p90 s':>6s}")
    med = {m: {k: statistics.median(r[k] for r in rs) for k in rs[0] if k != "mode"} for m, rs in rows.items()}
    for mode, r in med.items():
        print(f"{mode:12s} {r['cpu_ms_per_call']:11.2f} {r['cpu_ms_per_call'] / med['raw-httpx']['cpu_ms_per_call']:6.2f} "
              f"{r['wall_s']:7.2f} {r['wall_s'] / ideal:8.2f} {r['p50_s']:6.3f} {r['p90_s']:6.3f}")


if __name__ == "__main__":
    main()
