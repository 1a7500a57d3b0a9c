"""The strategy layer's interface: problem + model + sandbox -> trajectory.

A strategy is one module with a :class:`Strategy` subclass decorated by
:func:`register_strategy`. It sees a :class:`~coderefl.records.Problem`
(never hidden tests), talks to the model through
:class:`~coderefl.model.base.ChatModel` and runs code through
:class:`~coderefl.execution.base.Sandbox`. Budgets, step recording and
best-candidate bookkeeping live in :mod:`coderefl.strategies.episode`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from coderefl.errors import BadInput
from coderefl.execution.base import Sandbox
from coderefl.model.base import ChatModel
from coderefl.records import Limits, Problem, Step, Trajectory


class AgentConfig(BaseModel):
    """Every knob of the agent, including the ablation switches."""

    max_iters: int = Field(5, ge=1, description="generate/test rounds at most")
    num_tests: int = Field(6, ge=0, description="internal unit tests to keep")
    generated_tests: bool = Field(True, description="ablation: let the model write its own tests")
    reflection: bool = Field(True, description="ablation: verbal reflection (off: raw feedback only)")
    memory_size: int = Field(1, ge=0, description="reflections kept in episodic memory (Reflexion keeps 1)")
    property_tests: bool = Field(False, description="also ask for hypothesis properties")
    candidates: int = Field(1, ge=1, description="candidates per round, weighed by test agreement when > 1")
    temperature: float = Field(0.0, ge=0)
    samples: int = Field(1, ge=1, description="samples per problem of the run (pass@k); > 1 samples at sample_temperature")
    sample_temperature: float = Field(
        0.8, ge=0, description="generation temperature when several samples or candidates are asked for")
    resample_step: float = Field(0.4, ge=0, description="temperature rise when a regenerated program repeats a failed one")
    max_resamples: int = Field(2, ge=0, description="resamples of a reply that repeats an earlier failed program")
    trust_tiers: bool = Field(True, description="tell the model which tests are the user's, the problem's, its own; "
                                                "demote an example only on strong evidence")
    explain: bool = Field(False, description="reflection explains the code line by line on the failing input "
                                             "before naming the fault (Self-Debugging)")
    retry_temperature_step: float = Field(0.2, ge=0, description="retry: temperature rise per attempt")
    max_calls: int | None = Field(None, ge=1, description="budget: model calls per problem")
    max_tokens: int | None = Field(None, ge=1, description="budget: tokens per problem")
    max_wall_s: float | None = Field(None, gt=0, description="budget: wall time per problem")
    keep_messages: Literal["full", "hash"] = "full"
    lessons: int = Field(3, ge=0, description="lessons recalled from long-term memory, when one is given")
    limits: Limits = Field(default_factory=Limits)
    feedback: Literal["plain", "trace"] = Field(
        "plain", description="what a failed test tells the model: its values (plain), or also what the failing call "
                             "did line by line (trace, LDB-style; judge mode)")
    isolation: Literal["judge", "in-process"] = Field(
        "judge", description="how the agent's tests run: judge (plain data, a verdict the program cannot forge) "
                             "or in-process (for user tests that need the program's objects)")


def generation_temperature(config: AgentConfig) -> float:
    """The temperature of a generation call: with several samples or
    candidates, the sampling temperature (identical samples make pass@k equal
    pass@1 and leave nothing for agreement to weigh), else the configured one."""
    if config.samples > 1 or config.candidates > 1:
        return max(config.temperature, config.sample_temperature)
    return config.temperature


def sampling_warning(config: AgentConfig) -> str | None:
    """A one-line warning when several samples or candidates would all be drawn at temperature 0."""
    if (config.samples > 1 or config.candidates > 1) and generation_temperature(config) == 0:
        what = f"--samples {config.samples}" if config.samples > 1 else f"--candidates {config.candidates}"
        return (f"{what} at temperature 0 draws identical programs (pass@k equals pass@1, agreement weighs "
                "nothing); set --sample-temperature above 0")
    return None


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
        self.observer: Callable[[Step], None] | None = None
        #: long-term memory (coderefl.learn.LessonMemory): lessons recalled into prompts, learned at the end
        self.memory: Any = None
        #: an expert to ask when confidence is low (coderefl.learn.Advisor); None: never ask
        self.advisor: Any = None
        if self.needs_chat and getattr(model, "api", "chat") != "chat":
            raise BadInput(
                f"strategy {self.name!r} needs instructions, so a chat model; with --api completions "
                f"use one of: {', '.join(completion_strategies())}"
            )

    @abc.abstractmethod
    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        """Return the trajectory. ``user_tests`` are authoritative tests the
        user supplied (run always, never dropped); ``sample`` is the sample
        index of a pass@k run (it keys the response cache)."""


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
