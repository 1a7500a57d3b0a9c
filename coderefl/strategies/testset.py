"""The agent's internal tests, by where they came from.

Authoritative tests (the user's, the problem's visible examples) always run
and are never dropped. Generated tests and properties come from the model
and may be wrong; a dropped test is kept with its reason so the trajectory
shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class TestSet:
    __test__ = False  # not a pytest class

    authoritative: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        for t in [*self.authoritative, *self.generated, *self.properties]:
            if t not in seen and t not in self.dropped:
                seen.add(t)
                out.append(t)
        return out

    def is_authoritative(self, test: str) -> bool:
        return test in self.authoritative

    def drop(self, test: str, reason: str) -> bool:
        """Drop a model-written test; authoritative ones are never dropped."""
        if self.is_authoritative(test) or test in self.dropped:
            return False
        self.dropped[test] = reason
        return True


def join_tests(tests: Sequence[str]) -> str:
    """Join asserts and property blocks into one tests file for the runner."""
    return "\n\n".join(t.strip("\n") for t in tests) + ("\n" if tests else "")
