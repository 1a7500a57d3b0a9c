"""What an episode may use beyond the model and the sandbox, as interfaces.

The strategies declare what they need; :mod:`coderefl.learn` provides it
(:class:`~coderefl.learn.LessonMemory` is a :class:`LessonStore`,
:class:`~coderefl.learn.OracleAdvisor` and
:class:`~coderefl.learn.HumanAdvisor` are :class:`Expert`\\ s). So learn
depends on strategies and never the other way round, and a test can hand an
episode any object with these methods.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

from coderefl.records import Advice, Problem, Step, Trajectory

#: called with each step once it is complete (progress displays); not part of the result
StepObserver = Callable[[Step], None]


@runtime_checkable
class LessonStore(Protocol):
    """Long-term memory: lessons recalled into generation prompts, learned from a finished trajectory."""

    def lessons_for(self, problem: Problem, k: int = 3) -> list[str]:
        """At most ``k`` lessons for ``problem`` (never from its own earlier attempts)."""
        ...

    def learn(self, problem: Problem, trajectory: Trajectory, *, source: str = "") -> list[str]:
        """Store what ``trajectory`` taught; returns the lessons stored."""
        ...

    def turn(self, problem: Problem) -> AbstractAsyncContextManager[None]:
        """Held around one attempt at ``problem``, recall to learning: a memory
        that recalls in a fixed order waits here for the problems before it
        (``contextlib.nullcontext()`` for one that does not)."""
        ...


@runtime_checkable
class Expert(Protocol):
    """Answers "what should f(args) return?" for a capped number of questions per problem."""

    #: True when it also answers a question with no input (one line of explanation)
    answers_free_questions: bool
    #: token-equivalents one answer costs the episode's budget
    cost_tokens: int

    def available(self, problem: Problem) -> bool: ...

    def remaining(self, problem: Problem, sample: int = 0) -> int: ...

    async def advise(self, problem: Problem, args: tuple[Any, ...] | None, *, sample: int = 0) -> Advice | None: ...
