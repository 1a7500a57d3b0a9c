"""The agent's internal tests: where each came from, and what each did.

Every test carries a trust tier (:data:`Tier`):

* ``user``: the user's tests (and an expert's answer): authoritative, always
  run, never dropped or demoted;
* ``example``: the problem's own examples (docstring examples, MBPP's shown
  assert): strong, but a prompt can be wrong (HumanEval/47's median), so an
  example is demoted on strong evidence only (see :mod:`.rounds`);
* ``generated``: the model's own asserts and properties: weak, dropped when
  they contradict an example or the candidates' agreement shows them wrong.

A dropped or demoted test is kept with its reason so the trajectory shows it.

Outcomes map back to tests by identity (:class:`TestsFile`): the runner names
a statement test ``line N: ...`` and a ``test_*`` function by its name, and
the tests file built here knows which snippet holds each line and defines
each function. An outcome that did not run (``skipped``, or the test that was
running at the time limit) is *unknown* (None), never evidence against a
test; an outcome no snippet owns, or a snippet with no outcome, is a
mismatch the caller records as an error step.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from coderefl.execution.jobs import PLAIN_VALUES_PRAGMA
from coderefl.records import ExecutionResult, TestOutcome

Tier = Literal["user", "example", "generated", "property"]
TIER_LABELS: dict[str, str] = {
    "user": "user test (authoritative)",
    "example": "example from the problem (usually right, but can be wrong)",
    "generated": "your own test (may be wrong)",
    "property": "your own property test (may be wrong)",
}
#: outcomes the runner reports that belong to no test: the whole run failed before the tests
GLOBAL_OUTCOMES = ("import solution", "tests file")
_LINE_NAME = re.compile(r"^line (\d+): ")


class TestSet:
    __test__ = False  # not a pytest class

    def __init__(
        self,
        authoritative: Sequence[str] = (),
        generated: Sequence[str] = (),
        properties: Sequence[str] = (),
        *,
        user: Sequence[str] = (),
        examples: Sequence[str] = (),
    ) -> None:
        #: the user's tests (``authoritative`` is their older name): never dropped or demoted
        self.user: list[str] = list(dict.fromkeys([*user, *authoritative]))
        self.examples: list[str] = [e for e in dict.fromkeys(examples) if e not in self.user]
        self.generated: list[str] = list(generated)
        self.properties: list[str] = list(properties)
        self.dropped: dict[str, str] = {}
        #: examples demoted on evidence: no longer required (reason kept)
        self.demoted: dict[str, str] = {}
        #: generated tests held back because they contradict an example (restored if it is demoted)
        self.held: dict[str, str] = {}
        #: examples disputed by the candidates that the reflection upheld (not asked about again)
        self.upheld: set[str] = set()

    @property
    def authoritative(self) -> list[str]:
        """The tests that are never dropped: the user's and the live examples."""
        return [t for t in dict.fromkeys([*self.user, *self.examples]) if t not in self.demoted]

    def all(self) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        for t in [*self.user, *self.examples, *self.generated, *self.properties]:
            if t not in seen and t not in self.dropped and t not in self.held and not self._demoted(t):
                seen.add(t)
                out.append(t)
        return out

    def _demoted(self, test: str) -> bool:
        return test in self.demoted and test not in self.user

    def tier(self, test: str) -> Tier:
        if test in self.user:
            return "user"
        if test in self.examples:
            return "example"
        if test in self.properties:
            return "property"
        return "generated"

    def tiers(self, tests: Sequence[str]) -> list[Tier]:
        return [self.tier(t) for t in tests]

    def is_authoritative(self, test: str) -> bool:
        return test in self.user or (test in self.examples and test not in self.demoted)

    def drop(self, test: str, reason: str) -> bool:
        """Drop a model-written test; the user's and the examples never are."""
        if self.tier(test) not in ("generated", "property") or test in self.dropped:
            return False
        self.dropped[test] = reason
        return True

    def hold(self, test: str, example: str) -> None:
        """Set aside a generated test that contradicts ``example``."""
        self.held[test] = example

    def demote(self, example: str, reason: str) -> list[str]:
        """Demote an example; returns the held-back tests it releases."""
        if self.tier(example) != "example" or example in self.demoted:
            return []
        self.demoted[example] = reason
        released = [t for t, ex in self.held.items() if ex == example]
        for t in released:
            del self.held[t]
            if t not in self.generated:
                self.generated.append(t)
        return released


@dataclass
class TestsFile:
    """A tests file for the runner, and which snippet each outcome belongs to."""

    __test__ = False

    source: str
    tests: list[str]
    #: 1-based, inclusive line span of each snippet in ``source``
    spans: list[tuple[int, int]]
    #: test function name (``test_x`` or ``Class::test_x``) -> snippet index (last definition wins)
    functions: dict[str, int]

    def owner(self, name: str) -> int | None:
        """The snippet an outcome named ``name`` belongs to, or None."""
        m = _LINE_NAME.match(name)
        if m:
            line = int(m.group(1))
            for i, (first, last) in enumerate(self.spans):
                if first <= line <= last:
                    return i
            return None
        return self.functions.get(name)

    def map(self, result: ExecutionResult) -> OutcomeMap:
        """Group ``result``'s outcomes by the snippet they belong to."""
        per: list[list[TestOutcome]] = [[] for _ in self.tests]
        global_: list[TestOutcome] = []
        unowned: list[str] = []
        for o in result.tests:
            i = self.owner(o.name)
            if i is not None:
                per[i].append(o)
            elif o.name in GLOBAL_OUTCOMES:
                global_.append(o)
            else:
                unowned.append(o.name)
        missing = [self.tests[i] for i, outs in enumerate(per) if not outs]
        if result.status == "passed" and not result.tests:
            missing = []
        return OutcomeMap(tests=list(self.tests), outcomes=per, global_outcomes=global_, unowned=unowned,
                          missing=missing, status=result.status, result=result)


@dataclass
class OutcomeMap:
    """``result``'s outcomes, per test snippet."""

    tests: list[str]
    outcomes: list[list[TestOutcome]]
    global_outcomes: list[TestOutcome]
    unowned: list[str]
    missing: list[str]
    status: str
    result: ExecutionResult | None = None

    @property
    def mismatch(self) -> str | None:
        """What did not line up, when the run itself got to the tests."""
        if self.global_outcomes and self.status in ("error", "timeout"):
            return None  # the program never got to the tests: every test is unknown, by design
        parts = []
        if self.unowned:
            parts.append(f"{len(self.unowned)} outcome(s) belong to no test: {', '.join(self.unowned[:3])}")
        if self.missing:
            parts.append(f"{len(self.missing)} test(s) got no outcome: {', '.join(self.missing[:3])}")
        return "; ".join(parts) or None

    def verdict(self, i: int) -> bool | None:
        """Test ``i`` passed (True), ran and failed (False), or is unknown (None:
        not run, still running at the time limit, or no outcome)."""
        if self.status == "passed" and not any(self.outcomes):
            return True
        outs = self.outcomes[i]
        if not outs:
            return None
        if any(o.status in ("failed", "error") for o in outs):
            return False
        if all(o.status == "passed" for o in outs):
            return True
        return None

    def verdicts(self) -> list[bool | None]:
        return [self.verdict(i) for i in range(len(self.tests))]

    def message(self, i: int) -> str:
        """What test ``i`` reported (the actual value, for a failed assert)."""
        return "\n".join(o.message for o in self.outcomes[i] if o.status != "passed" and o.message)


def build_tests_file(tests: Sequence[str], *, judge: bool = True, pragmas: Sequence[str] = ()) -> TestsFile:
    """Join asserts and property blocks into one tests file for the runner,
    recording where each snippet lies (judge mode: with the plain-values
    line). Any other line the file must begin with goes in ``pragmas``, never
    prepended afterwards: that would shift every line the mapping knows."""
    lines: list[str] = ([PLAIN_VALUES_PRAGMA] if judge else []) + list(pragmas)
    spans: list[tuple[int, int]] = []
    functions: dict[str, int] = {}
    for i, test in enumerate(tests):
        if lines:
            lines.append("")
        body = test.strip("\n").splitlines() or [""]
        first = len(lines) + 1
        lines.extend(body)
        spans.append((first, len(lines)))
        for name in _test_functions(test):
            functions.pop(name, None)
            functions[name] = i
    source = "\n".join(lines) + ("\n" if lines else "")
    return TestsFile(source=source, tests=list(tests), spans=spans, functions=functions)


def join_tests(tests: Sequence[str]) -> str:
    """Join asserts and property blocks into one tests file (no pragma)."""
    return build_tests_file(tests, judge=False).source if tests else ""


def _test_functions(snippet: str) -> list[str]:
    """The ``test_*`` functions and ``Test*::test_*`` methods a snippet defines,
    as the runner names them."""
    try:
        tree = ast.parse(snippet)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name.startswith("test"):
                    names.append(f"{node.name}::{item.name}")
    return names
