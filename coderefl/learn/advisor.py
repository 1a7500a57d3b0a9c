"""Asking an expert (AGILE): advisors that answer "what should f(args) return?".

Two advisors share one small interface, :meth:`Advisor.advise`:

* :class:`OracleAdvisor` (for ``coderefl eval``) runs the benchmark's
  canonical solution on the input the agent proposes, in the sandbox, and
  answers with one computed example assert. It holds the hidden side of
  the tasks, so it is the only place here that may touch it, and it is
  built to never expose it: the answer is *computed* from the proposed
  input, never copied from the hidden tests; an input that the hidden
  tests themselves use (and the problem does not show) is withheld; and
  as a last guard no answer may contain a hidden assert
  (:func:`coderefl.problems.firewall.hidden_fragments`). An exception from
  the canonical solution is reported by its type only (its message or
  traceback could quote the solution).
* :class:`HumanAdvisor` (for ``coderefl solve``) asks the person at the
  terminal: the question on stderr, one line of answer from stdin. Without
  a TTY it answers nothing, so batch use never blocks.

Requests are capped per problem (``max_requests`` per task x sample) and
each answered or attempted request costs ``cost_tokens`` token-equivalents,
which the caller adds to the trajectory's budget as it sees fit.
"""

from __future__ import annotations

import abc
import ast
import asyncio
import secrets
import sys
from collections import Counter
from collections.abc import Iterable
from typing import Any, TextIO

from coderefl.execution.base import Sandbox
from coderefl.problems.firewall import hidden_fragments
from coderefl.records import Advice, AdviceKind, BenchmarkTask, Limits, Problem  # noqa: F401 (re-exported)
from coderefl.strategies.examples import visible_examples


def call_text(entry_point: str, args: tuple[Any, ...]) -> str:
    """``f(1, [2])`` for args ``(1, [2])``: the call as Python source."""
    return f"{entry_point}({', '.join(repr(a) for a in args)})"


class Advisor(abc.ABC):
    """Answers questions about one problem at a time; counts and caps them."""

    name = "advisor"
    #: True when the advisor also answers a question without an input (one line of explanation)
    answers_free_questions = False

    def __init__(self, *, max_requests: int = 2, cost_tokens: int = 0) -> None:
        if max_requests < 0 or cost_tokens < 0:
            raise ValueError("max_requests and cost_tokens must be >= 0")
        self.max_requests = max_requests
        self.cost_tokens = cost_tokens
        self.requests: Counter[tuple[str, int]] = Counter()

    def remaining(self, problem: Problem, sample: int = 0) -> int:
        """Requests still allowed for this problem (task x sample)."""
        return max(0, self.max_requests - self.requests[(problem.task_id, sample)])

    def available(self, problem: Problem) -> bool:
        """Can this advisor answer at all for ``problem``? (Cheap; no request counted.)"""
        return True

    async def advise(self, problem: Problem, args: tuple[Any, ...] | None, *, sample: int = 0) -> Advice | None:
        """Answer one question: ``args`` is the input the agent is unsure
        about (None: ask for a line of explanation instead). Returns None
        when the cap is reached, the advisor cannot answer, or the answer
        is withheld. Every request that got past the cap is counted."""
        if not self.available(problem) or self.remaining(problem, sample) <= 0:
            return None
        self.requests[(problem.task_id, sample)] += 1
        return await self._answer(problem, args)

    @abc.abstractmethod
    async def _answer(self, problem: Problem, args: tuple[Any, ...] | None) -> Advice | None: ...


# ---------------------------------------------------------------------------
# The oracle: canonical solution in the sandbox
# ---------------------------------------------------------------------------

_ORACLE_TEST = '''\
def test_oracle():
    import ast as _ast
    _args = {args}
    _value = {entry}(*_args)
    _text = repr(_value)
    try:
        _literal = _ast.literal_eval(_text) == _value
    except Exception:
        _literal = False
    print({marker!r} + ("L" if _literal else "R") + _text + {marker!r})
'''


def _literal_args(node: ast.Call) -> tuple[Any, ...] | None:
    if node.keywords:
        return None
    try:
        return tuple(ast.literal_eval(a) for a in node.args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _call_inputs(source: str) -> list[tuple[Any, ...]]:
    """The literal positional arguments of every plain-name call in ``source``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = _literal_args(node)
            if args is not None:
                out.append(args)
    return out


def _same_input(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Equal inputs (loosely: ``1 == 1.0 == True`` counts as the same, so
    the oracle errs on the side of withholding)."""
    try:
        return bool(a == b)
    except Exception:
        return False


class OracleAdvisor(Advisor):
    """Answers from the canonical solution, run in ``sandbox``.

    ``tasks`` are the benchmark tasks of the run (the eval session has
    them); the strategy only ever passes a :class:`Problem`, and the advisor
    looks the hidden side up by ``task_id``. Problems without a canonical
    solution get no advice (``available`` is False).
    """

    name = "oracle"

    def __init__(
        self,
        sandbox: Sandbox,
        tasks: Iterable[BenchmarkTask],
        *,
        max_requests: int = 2,
        cost_tokens: int = 200,
        limits: Limits | None = None,
        max_answer_chars: int = 400,
    ) -> None:
        super().__init__(max_requests=max_requests, cost_tokens=cost_tokens)
        self.sandbox = sandbox
        self.limits = limits or Limits(timeout_s=5.0)
        self.max_answer_chars = max_answer_chars
        self._tasks = {t.problem.task_id: t for t in tasks}
        self.withheld = 0

    def available(self, problem: Problem) -> bool:
        task = self._tasks.get(problem.task_id)
        return task is not None and bool(task.hidden.canonical_solution)

    def _hidden_input(self, task: BenchmarkTask, args: tuple[Any, ...]) -> bool:
        """Is ``args`` an input of a hidden test that the problem does not show?"""

        shown = _call_inputs("\n".join(visible_examples(task.problem)))  # visible tests and doctest examples
        if any(_same_input(args, s) for s in shown):
            return False
        return any(_same_input(args, h) for h in _call_inputs(task.hidden.test_code))

    async def _answer(self, problem: Problem, args: tuple[Any, ...] | None) -> Advice | None:
        task = self._tasks[problem.task_id]
        if args is None:  # the oracle answers questions about inputs only
            return None
        if not isinstance(args, tuple):
            args = (args,)
        try:
            args_src = repr(args)
            if ast.literal_eval(args_src) != args:
                return None
        except Exception:
            return None
        if self._hidden_input(task, args):
            self.withheld += 1
            return None
        marker = "@@oracle-" + secrets.token_hex(8) + "@@"
        tests = _ORACLE_TEST.format(args=args_src, entry=problem.entry_point, marker=marker)
        result = await self.sandbox.run(task.hidden.canonical_solution or "", tests, self.limits)
        call = call_text(problem.entry_point, args)
        advice = self._from_result(problem, call, marker, result)
        if advice is None:
            return None
        if any(frag in advice.text for frag in hidden_fragments(task)):  # last guard; see module docstring
            self.withheld += 1
            return None
        return advice

    def _from_result(self, problem: Problem, call: str, marker: str, result: Any) -> Advice | None:
        common = {"task_id": problem.task_id, "args": call, "cost_tokens": self.cost_tokens, "source": self.name}
        if result.status == "passed":
            start = result.stdout.find(marker)
            end = result.stdout.find(marker, start + len(marker)) if start >= 0 else -1
            if start < 0 or end < 0:
                return None
            body = result.stdout[start + len(marker) : end]
            literal, value = body[:1] == "L", body[1:]
            if len(value) > self.max_answer_chars:
                return None
            if literal:
                return Advice(kind="example", text=f"assert {call} == {value}", **common)
            return Advice(kind="hint", text=f"{call} should return an object whose repr is {value}", **common)
        if result.status == "timeout":
            return None
        outcome = result.tests[0] if result.tests else None
        if outcome is not None and outcome.status == "error":
            exc_type = outcome.message.split(":", 1)[0].split(" ", 1)[0].strip()
            if exc_type.isidentifier():
                return Advice(kind="hint", text=f"{call} should raise {exc_type}", **common)
        return None


# ---------------------------------------------------------------------------
# The human at the terminal
# ---------------------------------------------------------------------------


class HumanAdvisor(Advisor):
    """Asks on the terminal: question to ``err`` (stderr), one line from
    ``inp`` (stdin). A Python literal answer becomes an example assert,
    any other text a one-line hint, an empty line or EOF no advice. Both
    streams must be TTYs (``interactive`` overrides, for tests)."""

    name = "human"
    answers_free_questions = True

    def __init__(
        self,
        *,
        inp: TextIO | None = None,
        err: TextIO | None = None,
        interactive: bool | None = None,
        max_requests: int = 3,
        cost_tokens: int = 0,
    ) -> None:
        super().__init__(max_requests=max_requests, cost_tokens=cost_tokens)
        self.inp = inp if inp is not None else sys.stdin
        self.err = err if err is not None else sys.stderr
        self._interactive = interactive

    @property
    def interactive(self) -> bool:
        if self._interactive is not None:
            return self._interactive
        try:
            return bool(self.inp.isatty() and self.err.isatty())
        except (AttributeError, ValueError):
            return False

    def available(self, problem: Problem) -> bool:
        return self.interactive

    def question(self, problem: Problem, args: tuple[Any, ...] | None) -> str:
        if args is None:
            return (
                f"\n[coderefl] The agent is unsure how to implement `{problem.entry_point}`.\n"
                "One line of advice (Enter to skip): "
            )
        return (
            f"\n[coderefl] The agent is unsure what {call_text(problem.entry_point, args)} should return.\n"
            "Expected value as a Python literal, or one line of explanation (Enter to skip): "
        )

    async def _answer(self, problem: Problem, args: tuple[Any, ...] | None) -> Advice | None:
        self.err.write(self.question(problem, args))
        self.err.flush()
        line = await asyncio.to_thread(self.inp.readline)
        text = " ".join(line.split())
        if not text:
            return None
        common = {"task_id": problem.task_id, "cost_tokens": self.cost_tokens, "source": self.name}
        if args is not None:
            call = call_text(problem.entry_point, args)
            try:
                ast.literal_eval(text)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return Advice(kind="hint", text=f"About {call}: {text}", args=call, **common)
            return Advice(kind="example", text=f"assert {call} == {text}", args=call, **common)
        return Advice(kind="hint", text=text, **common)
