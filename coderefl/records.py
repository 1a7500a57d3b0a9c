"""Typed records that cross layers or are written to disk.

Data flows one way: problems -> strategy (which calls model and execution)
-> trajectory -> scorer -> run store -> report. Every arrow carries one of
these records, so each layer can be tested against plain data.

The hidden-test firewall lives in the types: a strategy receives a
:class:`Problem`, which has no field for hidden tests or the canonical
solution. Those live in :class:`HiddenTests`, held by a
:class:`BenchmarkTask` that only the scorer unpacks.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --------------------------------------------------------------------------
# Execution (sandbox layer)
# --------------------------------------------------------------------------

Verdict = Literal["passed", "failed", "timeout", "error"]
TestStatus = Literal["passed", "failed", "error", "timeout", "skipped"]


class Limits(BaseModel):
    """Resource limits for one execution. Defaults follow the brief."""

    model_config = ConfigDict(frozen=True)

    timeout_s: float = Field(10.0, gt=0, description="wall-clock limit; the run is killed at it")
    memory_mb: int = Field(512, ge=16, description="memory limit, no swap")
    pids: int = Field(64, ge=8, description="max processes and threads")
    cpus: float = Field(1.0, gt=0, description="CPU quota in cores")
    output_bytes: int = Field(64 * 1024, ge=1024, description="cap for stdout and for stderr each")
    tmpfs_mb: int = Field(64, ge=1, description="size of the writable work dir and /tmp")
    test_timeout_s: float | None = Field(
        None, gt=0, description="judge mode: each test's own limit; a test over it is a timeout and the next "
                                "test runs on a fresh copy of the imported program (timeout_s still caps the job)")


class TestOutcome(BaseModel):
    """One test's result: an assert, a ``test_*`` function or a hypothesis property."""

    __test__ = False  # not a pytest test class

    name: str
    status: TestStatus
    message: str = ""


class ExecutionResult(BaseModel):
    """The sandbox's verdict. ``status`` never comes from the program's exit
    code or from text it prints: the runner derives it from the per-test
    outcomes it collected itself."""

    status: Verdict
    tests: list[TestOutcome] = Field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    duration_s: float = 0.0
    exit_code: int | None = None
    #: how the tests ran: ``judge`` (tests and program in separate processes; the verdict
    #: cannot be forged) or ``in-process`` (one process; see docs/sandbox.md)
    isolation: Literal["judge", "in-process"] | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failing(self) -> list[TestOutcome]:
        return [t for t in self.tests if t.status != "passed"]


# --------------------------------------------------------------------------
# Problems (problem layer); hidden parts kept apart
# --------------------------------------------------------------------------


class Problem(BaseModel):
    """What the agent may see of a problem. No hidden tests, no solution."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    prompt: str
    entry_point: str
    visible_tests: list[str] = Field(
        default_factory=list,
        description="asserts shown to the agent (MBPP's first test, or a prompt's examples)",
    )
    language: Literal["python"] = "python"
    source: str = "custom"


class HiddenTests(BaseModel):
    """The scoring side of a problem. Only the scorer reads this.

    ``test_code`` is a tests file the sandbox runner understands (top-level
    asserts and/or ``test_*`` functions) that imports nothing but the
    solution module's names, already in scope.
    """

    model_config = ConfigDict(frozen=True)

    test_code: str
    canonical_solution: str | None = Field(
        None, description="a full, runnable module that passes test_code, when known"
    )


class BenchmarkTask(BaseModel):
    """A problem with its hidden part. Loaders produce these; the scheduler
    hands ``.problem`` to the strategy and ``.hidden`` to the scorer."""

    model_config = ConfigDict(frozen=True)

    problem: Problem
    hidden: HiddenTests


# --------------------------------------------------------------------------
# Model layer
# --------------------------------------------------------------------------

Role = Literal["system", "user", "assistant"]


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class Usage(BaseModel):
    """Token and cost accounting; addable, and split by phase."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_calls: int = 0
    #: answers that came back blank (empty or null text): never cached, counted in the run summary
    empty_answers: int = 0
    by_phase: dict[str, "PhaseUsage"] = Field(default_factory=dict)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, other: "Usage") -> "Usage":
        """Accumulate ``other`` into self (in place) and return self."""
        self.calls += other.calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        self.cached_calls += other.cached_calls
        self.empty_answers += other.empty_answers
        for phase, pu in other.by_phase.items():
            mine = self.by_phase.setdefault(phase, PhaseUsage())
            mine.calls += pu.calls
            mine.prompt_tokens += pu.prompt_tokens
            mine.completion_tokens += pu.completion_tokens
            mine.cost_usd += pu.cost_usd
        return self


class PhaseUsage(BaseModel):
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


Usage.model_rebuild()


class Completion(BaseModel):
    """One model call's answer: one text per choice, and what it cost."""

    texts: list[str]
    usage: Usage = Field(default_factory=Usage)
    model: str = ""
    cached: bool = False
    latency_s: float = 0.0
    finish_reasons: list[str | None] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """The first choice's text ("" when the model returned none)."""
        return self.texts[0] if self.texts else ""


# --------------------------------------------------------------------------
# Agent layer
# --------------------------------------------------------------------------

StepKind = Literal[
    "generate_tests",
    "generate",
    "execute",
    "reflect",
    "critique",
    "decision",
    "advice",
]


def messages_hash(messages: list[ChatMessage]) -> str:
    payload = json.dumps([m.model_dump() for m in messages], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


#: what a step's ``data`` may hold: key -> meaning (tests/test_step_data.py keeps the code to these keys)
STEP_DATA: dict[str, str] = {
    "n": "choices asked for in one call",
    "temperature": "the call's sampling temperature",
    "texts": "the other choices' replies (the first is the step's response)",
    "codes": "the other choices' programs (the first is the step's code)",
    "api": "'completions' when a base model continued the prompt",
    "tiers": "each test's trust tier: user, example, generated, property",
    "error": "what went wrong in the bookkeeping (outcome_mismatch)",
    "unowned": "outcome names that belong to no test",
    "missing": "tests that got no outcome",
    "test": "the test a decision is about",
    "example": "the example a generated test contradicts",
    "test_kept": "a test kept although every candidate fails it",
    "tier": "the tier of the test a decision is about",
    "demoted": "True: the example was demoted; False: it was kept",
    "released": "held-back tests a demotion released",
    "groups": "candidates grouped by agreement",
    "repeated": "what a reply repeats (a program judged before)",
    "lessons": "lessons recalled from or stored in long-term memory",
    "question": "the input the agent asked the expert about",
    "advice_requested": "whether the expert was asked",
    "advice": "the expert's answer",
}


class Step(BaseModel):
    """One step of a trajectory. Fields a step does not use stay empty;
    ``data`` holds only the keys of :data:`STEP_DATA`."""

    index: int
    kind: StepKind
    iteration: int = 0
    messages: list[ChatMessage] | None = None
    messages_sha: str | None = None
    response: str | None = None
    code: str | None = None
    tests: list[str] = Field(default_factory=list)
    execution: ExecutionResult | None = None
    reflection: str | None = None
    note: str | None = None
    usage: Usage = Field(default_factory=Usage)
    duration_s: float = 0.0
    data: dict[str, Any] = Field(default_factory=dict)


AdviceKind = Literal["example", "hint"]


class Advice(BaseModel):
    """An expert's answer to the agent. ``text`` is what goes into the
    agent's next prompt: an assert (``kind="example"``) or one line of
    explanation (``"hint"``)."""

    task_id: str
    kind: AdviceKind
    text: str
    args: str | None = None
    cost_tokens: int = 0
    source: str = ""


StopReason = Literal[
    "passed", "max_iters", "budget_calls", "budget_tokens", "budget_time", "no_code", "single_shot", "error"
]


class Trajectory(BaseModel):
    task_id: str
    strategy: str
    steps: list[Step] = Field(default_factory=list)
    final_code: str = ""
    internal_passed: bool | None = None
    internal_tests: list[str] = Field(default_factory=list)
    stop_reason: StopReason = "max_iters"
    iterations: int = 0
    usage: Usage = Field(default_factory=Usage)
    duration_s: float = 0.0


# --------------------------------------------------------------------------
# Run layer
# --------------------------------------------------------------------------


class RunRecord(BaseModel):
    """One problem x sample of an evaluation run (a line of results.jsonl)."""

    task_id: str
    sample: int = 0
    strategy: str
    model: str
    final_code: str = ""
    completion: str = ""
    internal_passed: bool | None = None
    hidden_status: Verdict | None = None
    hidden_isolation: Literal["judge", "in-process"] | None = None
    hidden_passed: bool = False
    hidden_evals: int = 0
    canonical_vs_generated: bool | None = Field(
        None, description="did the canonical solution pass the agent's own tests (None: unknown)"
    )
    canonical_rejected_by: list[str] | None = Field(
        None,
        description="the trust tiers of the internal tests that reject the canonical solution: 'example' (the "
        "problem's own examples: the problem's fault), 'generated' (the agent's own tests), 'unknown' (the run "
        "failed before any test); [] when it passes them all, None when not checked",
    )
    iterations: int = 0
    stop_reason: str = ""
    advice_requests: int = Field(0, description="times the agent asked the expert (advisor) for help")
    usage: Usage = Field(default_factory=Usage)
    wall_s: float = 0.0
    error: str | None = None
