"""The Reflexion loop, once: generate -> evaluate -> reflect -> regenerate.

Both the ``reflexion`` strategy (programs judged by the internal tests in
the sandbox) and ``coderefl fix`` (one function judged by the repository's
pytest run) are this loop; they differ only in their :class:`Repairable`:
what a request looks like, how a reply becomes a program, how a program is
judged and what the feedback says.

One round:

1. Drop candidates that repeat a program already judged (by
   :meth:`Repairable.key`, so formatting does not make a new program).
   When every candidate repeats one, the same request is resampled at a
   higher temperature (``AgentConfig.resample_step``, up to
   ``max_resamples`` times) instead of paying for the same run again; what
   still repeats is not run, and the feedback says so.
2. Judge the fresh candidates (:meth:`Repairable.evaluate`); a pass ends
   the episode with ``passed``.
3. Reflect on the failure (when reflections are kept: ``reflection`` on
   and ``memory_size > 0``), keep the last ``memory_size`` reflections,
   and ask again with the feedback and the reflections.
"""

from __future__ import annotations

import ast
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coderefl.records import ChatMessage
from coderefl.strategies.episode import Episode, Extractor, Generation

#: the hottest a resample goes
MAX_TEMPERATURE = 2.0


@dataclass
class Verdict:
    """What judging one round's candidates found."""

    passed: bool
    #: the candidate the feedback is about (the chosen one of several)
    code: str
    #: what the model is told about the failure
    feedback: str = ""


@dataclass
class LoopState:
    """Where the loop stopped: the last program judged, its feedback, the reflections kept."""

    code: str = ""
    feedback: str = ""
    memory: list[str] = field(default_factory=list)


class Repairable(Protocol):
    """What the loop improves, and how."""

    #: programs already known to fail, by :meth:`key`, with the words that name them ("the original")
    known: dict[str, str]

    def first_request(self) -> Sequence[ChatMessage]: ...

    def next_request(self, code: str, feedback: str, memory: Sequence[str]) -> Sequence[ChatMessage]: ...

    def reflect_request(self, code: str, feedback: str) -> Sequence[ChatMessage]: ...

    #: how a reply becomes a program (None: the episode's default extraction)
    extract: Extractor | None

    def key(self, code: str) -> str:
        """A program's identity for repeat detection."""
        ...

    async def evaluate(self, ep: Episode, codes: list[str], iteration: int) -> Verdict: ...

    def no_program(self, generation: Generation, ep: Episode) -> tuple[str, str]:
        """(the code to reflect on, the feedback) when a reply holds no program."""
        ...

    def still_repeats(self, label: str, feedback: str) -> str:
        """The feedback when a reply still repeats ``label`` after resampling."""
        ...

    def judged_as(self, iteration: int) -> str:
        """How a program judged in round ``iteration`` is named when a later reply repeats it."""
        ...

    def version(self) -> Hashable:
        """What the verdicts depend on (the live tests): programs judged before a change may pass after it."""
        ...


async def reflexion_loop(ep: Episode, task: Repairable, *, n: int = 1, temperature: float | None = None,
                         state: LoopState | None = None) -> LoopState:
    """Run the rounds of ``ep.config.max_iters``; on a pass the episode is
    stopped with ``passed``. ``state`` is where to start from (the code and
    feedback a repeat falls back on); returns where the loop ended."""
    cfg = ep.config
    state = state or LoopState()
    tried = dict(task.known)
    live = task.version()
    request = task.first_request()
    reply = await ep.generate(request, iteration=1, n=n, temperature=temperature, extract=task.extract)
    for iteration in ep.rounds(cfg.max_iters):
        if task.version() != live:  # another test set: a program that failed before may pass now
            tried, live = dict(task.known), task.version()
        reply, codes, label = await _fresh(ep, task, reply, request, tried, iteration, n, temperature)
        if label is not None:  # a repeat that resampling could not shake off: not run
            state.feedback = task.still_repeats(label, state.feedback)
        elif not codes:
            state.code, state.feedback = task.no_program(reply, ep)
        else:
            verdict = await task.evaluate(ep, codes, iteration)
            if verdict.passed:
                ep.stop("passed")
                return state
            state.code, state.feedback = verdict.code, verdict.feedback
            if task.version() != live:  # tests dropped or restored: earlier failures may not hold
                tried, live = dict(task.known), task.version()
            for code in codes:
                tried.setdefault(task.key(code), task.judged_as(iteration))
        if iteration == cfg.max_iters:
            break
        # the reflection is only worth its call when it is kept for the next prompt
        if cfg.reflection and cfg.memory_size > 0 and state.code:
            text = await ep.reflect(task.reflect_request(state.code, state.feedback), iteration=iteration)
            if text:
                state.memory = [*state.memory, text][-cfg.memory_size :]
        request = task.next_request(state.code, state.feedback, state.memory)
        reply = await ep.generate(request, iteration=iteration + 1, n=n, temperature=temperature, extract=task.extract)
    return state


async def _fresh(ep: Episode, task: Repairable, reply: Generation, request: Sequence[ChatMessage],
                 tried: dict[str, str], iteration: int, n: int, temperature: float | None,
                 ) -> tuple[Generation, list[str], str | None]:
    """The last reply and its candidates that are not a program already
    judged, resampling ``request`` hotter while every one repeats; the label
    is that of the program the reply still repeats after the last resample."""
    cfg = ep.config
    temp = cfg.temperature if temperature is None else temperature
    codes = reply.codes
    for attempt in range(cfg.max_resamples + 1):
        fresh = [c for c in codes if task.key(c) not in tried]
        if fresh or not codes:
            return reply, fresh, None
        label = tried[task.key(codes[0])]
        if attempt == cfg.max_resamples:
            ep.decide(f"the reply still repeats {label}; not run again", iteration=iteration, repeated=label)
            return reply, [], label
        temp = min(MAX_TEMPERATURE, max(temp, cfg.temperature) + cfg.resample_step)
        ep.decide(f"the reply repeats {label}; resampling at temperature {temp:g}", iteration=iteration,
                  repeated=label, temperature=temp)
        reply = await ep.generate(request, iteration=iteration, n=n, temperature=temp, extract=task.extract)
        codes = reply.codes
    return reply, [], None


def program_key(code: str) -> str:
    """A program's identity for repeat detection: its syntax tree (comments,
    blank lines and formatting do not make a new program)."""
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code.strip()
