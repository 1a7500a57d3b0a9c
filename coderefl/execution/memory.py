"""A scripted, in-memory sandbox for the agent's unit tests. Never offered to users.

It runs nothing: each ``run`` asks a script for the verdict, so a test of a
strategy's decisions (which test to drop, when to stop, what feedback to give)
runs in milliseconds without Docker and says exactly which verdicts the agent
saw. It is not registered as a backend, so no ``--sandbox`` choice reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from coderefl.execution.base import Sandbox
from coderefl.records import ExecutionResult, Limits, TestOutcome


@dataclass(frozen=True)
class Call:
    """One run the agent asked for."""

    program: str
    tests: str | None
    limits: Limits


Script = Callable[[str, "str | None"], ExecutionResult]


class InMemorySandbox(Sandbox):
    """``script(program, tests) -> ExecutionResult`` decides every verdict;
    :attr:`calls` records what was asked, in order."""

    name = "in-memory"
    isolated = False

    def __init__(self, script: Script, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self.script = script
        self.calls: list[Call] = []

    async def run(
        self,
        program: str,
        tests: str | None = None,
        limits: Limits | None = None,
        files: Mapping[str, str | bytes] | None = None,
    ) -> ExecutionResult:
        self.calls.append(Call(program, tests, limits or self.limits))
        return self.script(program, tests)


def verdict(statuses: Sequence[tuple[str, str]] | Mapping[str, str], messages: Mapping[str, str] | None = None,
            isolation: str = "judge") -> ExecutionResult:
    """An ExecutionResult from per-test ``(name, status)`` pairs, its overall
    status derived as the runner derives it."""
    pairs = list(statuses.items()) if isinstance(statuses, Mapping) else list(statuses)
    tests = [TestOutcome(name=n, status=s, message=(messages or {}).get(n, "")) for n, s in pairs]  # type: ignore[arg-type]
    kinds = {t.status for t in tests}
    if "timeout" in kinds:
        status = "timeout"
    elif kinds <= {"passed"}:
        status = "passed"
    else:
        status = "failed"
    return ExecutionResult(status=status, tests=tests, isolation=isolation)  # type: ignore[arg-type]


def per_assert(tests: str | None, fails: Callable[[str], "str | None"]) -> ExecutionResult:
    """A verdict with one outcome per ``assert`` line of a tests file, named
    as the runner names them (``line N: …``): ``fails(line)`` returns the
    failure message, or None when the assert passes."""
    outcomes: list[tuple[str, str]] = []
    messages: dict[str, str] = {}
    for number, line in enumerate((tests or "").splitlines(), start=1):
        if line.startswith("assert "):
            name = f"line {number}: {line}"
            message = fails(line)
            outcomes.append((name, "passed" if message is None else "failed"))
            if message is not None:
                messages[name] = message
    return verdict(outcomes, messages)
