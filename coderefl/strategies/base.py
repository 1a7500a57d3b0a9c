"""The strategy layer's interface: problem + model + sandbox -> trajectory.

A strategy is one module with a :class:`Strategy` subclass decorated by
:func:`register_strategy` that implements :meth:`Strategy.attempt`. The
framework creates the :class:`~coderefl.strategies.episode.Episode` (the
problem, never hidden tests; the model; the sandbox; the budgets; memory and
advisor), hands it to ``attempt``, ends it on a budget hit and closes the
trajectory. Step recording and best-candidate bookkeeping live in the
episode; settings in :mod:`coderefl.strategies.config`.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable

from coderefl.errors import BadInput, BudgetExceeded
from coderefl.execution.base import Sandbox
from coderefl.model.base import ChatModel
from coderefl.records import Problem, Trajectory
from coderefl.strategies.config import AgentConfig, generation_temperature, sampling_warning  # noqa: F401
from coderefl.strategies.episode import Episode
from coderefl.strategies.services import Expert, LessonStore, StepObserver


class Strategy(abc.ABC):
    """Solve one problem; never raises for model or program failures (those
    end the trajectory with a stop reason), only for misconfiguration."""

    name: str = "abstract"
    #: True when the strategy needs instructions (a chat model), not just code completion
    needs_chat: bool = False

    def __init__(self, model: ChatModel, sandbox: Sandbox, config: AgentConfig | None = None) -> None:
        self.model = model
        self.sandbox = sandbox
        self.config = config or AgentConfig()
        #: called with each step as it is recorded (progress displays); not part of the result
        self.observer: StepObserver | None = None
        #: long-term memory (e.g. coderefl.learn.LessonMemory): lessons recalled into prompts, learned at the end
        self.memory: LessonStore | None = None
        #: an expert to ask when confidence is low (e.g. coderefl.learn.OracleAdvisor); None: never ask
        self.advisor: Expert | None = None
        if self.needs_chat and getattr(model, "api", "chat") != "chat":
            raise BadInput(
                f"strategy {self.name!r} needs instructions, so a chat model; with --api completions "
                f"use one of: {', '.join(completion_strategies())}"
            )

    def episode(self, problem: Problem, *, sample: int = 0, user_tests: list[str] | None = None) -> Episode:
        """A new episode of this strategy on ``problem``."""
        return Episode(problem, model=self.model, sandbox=self.sandbox, config=self.config, strategy=self.name,
                       sample=sample, user_tests=user_tests or [], observer=self.observer, memory=self.memory,
                       advisor=self.advisor)

    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        """Return the trajectory. ``user_tests`` are authoritative tests the
        user supplied (run always, never dropped); ``sample`` is the sample
        index of a pass@k run (it keys the response cache). Runs
        :meth:`attempt` in a fresh episode; a budget hit ends it with the best
        candidate so far. With a memory, all of it is the memory's
        :meth:`~coderefl.strategies.services.LessonStore.turn` (recall in order)."""
        async with self.memory.turn(problem) if self.memory is not None else contextlib.nullcontext():
            ep = self.episode(problem, sample=sample, user_tests=user_tests)
            try:
                await self.attempt(ep)
            except BudgetExceeded as hit:
                ep.stop(hit.which)
            return ep.finish()

    async def attempt(self, ep: Episode) -> None:
        """The strategy itself: drive ``ep`` (its model calls, sandbox runs
        and decisions), setting its tests (``ep.tests``) and, unless the
        default fits, its stop reason (:meth:`Episode.stop`)."""
        raise NotImplementedError(f"strategy {self.name!r} implements neither attempt() nor solve()")


_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    def deco(cls: type[Strategy]) -> type[Strategy]:
        cls.name = name
        _STRATEGIES[name] = cls
        return cls

    return deco


#: Python entry points an installed package adds strategies through (``name = "pkg.module:Class"``)
ENTRY_POINT_GROUP = "coderefl.strategies"


def _load_all() -> None:
    """The modules of ``coderefl.strategies`` (each registers its strategy) and
    the strategies installed packages declare under ``coderefl.strategies``."""
    from coderefl.plugins import import_package_modules, load_entry_points

    import_package_modules("coderefl.strategies")

    def register(name: str, obj: object) -> None:
        if isinstance(obj, type) and issubclass(obj, Strategy):
            register_strategy(name)(obj)

    load_entry_points(ENTRY_POINT_GROUP, lambda n: n in _STRATEGIES, register, "strategy")


def strategies() -> dict[str, type[Strategy]]:
    """Every strategy by name."""
    _load_all()
    return dict(sorted(_STRATEGIES.items()))


def strategy_names() -> list[str]:
    _load_all()
    return sorted(_STRATEGIES)


def completion_strategies() -> list[str]:
    _load_all()
    return sorted(n for n, c in _STRATEGIES.items() if not c.needs_chat)


def create_strategy(name: str, model: ChatModel, sandbox: Sandbox, config: AgentConfig | None = None) -> Strategy:
    _load_all()
    try:
        cls = _STRATEGIES[name]
    except KeyError:
        raise BadInput(f"unknown strategy {name!r}; choose from {', '.join(sorted(_STRATEGIES))}") from None
    return cls(model, sandbox, config)
