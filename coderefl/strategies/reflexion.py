"""``reflexion``: generate -> test -> reflect -> regenerate (Shinn et al. 2023).

1. Write internal unit tests from the prompt only (and, optionally,
   hypothesis properties); the visible examples and user tests join them.
2. Generate an implementation and run it against the internal tests in the
   sandbox (several candidates, weighed by test agreement, if asked).
3. On failure, write a verbal self-reflection from the feedback: failing
   asserts with the values the code returned, tracebacks, timeouts.
4. Regenerate conditioned on the previous implementation, the feedback and
   the last ``memory_size`` reflections (episodic memory).
5. Stop when the internal tests pass or after ``max_iters`` rounds.

Ablations: ``generated_tests=False`` leaves only the visible examples and
user tests; ``reflection=False`` feeds the raw feedback back without a
reflection step; ``memory_size`` bounds the reflections kept.

The loop itself is :func:`coderefl.strategies.loop.reflexion_loop` (the
fixer runs it too); this module says what a request, a program and a
verdict are for a benchmark problem.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from coderefl.records import ChatMessage
from coderefl.strategies import prompts
from coderefl.strategies.asking import advice_note, advice_tests, consult
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode, Extractor, Generation
from coderefl.strategies.loop import LoopState, Verdict, program_key, reflexion_loop
from coderefl.strategies.rounds import build_testset, run_round

__all__ = ["Reflexion", "ProblemRepair", "program_key"]


class ProblemRepair:
    """A benchmark problem for the Reflexion loop: programs judged by the
    episode's internal tests, in rounds of ``candidates`` weighed by agreement."""

    def __init__(self, ep: Episode) -> None:
        self.ep = ep
        self.known: dict[str, str] = {}
        self.extract: Extractor | None = None  # the episode's own extraction
        self.tiers = ep.config.trust_tiers

    def first_request(self) -> Sequence[ChatMessage]:
        return prompts.generate(self.ep.problem, self.ep.examples, tiers=self.tiers)

    def next_request(self, code: str, feedback: str, memory: Sequence[str]) -> Sequence[ChatMessage]:
        return prompts.regenerate(self.ep.problem, code, feedback, memory, self.ep.examples, tiers=self.tiers)

    def reflect_request(self, code: str, feedback: str) -> Sequence[ChatMessage]:
        return prompts.reflect(self.ep.problem, code, feedback, self.ep.examples, explain=self.ep.config.explain,
                               tiers=self.tiers)

    def key(self, code: str) -> str:
        return program_key(code)

    async def evaluate(self, ep: Episode, codes: list[str], iteration: int) -> Verdict:
        outcome = await run_round(ep, codes, ep.tests, iteration)
        return Verdict(passed=outcome.passed, code=outcome.code, feedback=outcome.feedback)

    def no_program(self, generation: Generation, ep: Episode) -> tuple[str, str]:
        return ep.last_code, "Your reply contained no runnable Python function. " + (generation.note or "")

    def still_repeats(self, label: str, feedback: str) -> str:
        return feedback  # the same program, the same feedback as before

    def judged_as(self, iteration: int) -> str:
        return f"the program that failed in round {iteration}"

    def version(self) -> Hashable:
        return tuple(self.ep.tests.all())


@register_strategy("reflexion")
class Reflexion(Strategy):
    needs_chat = True

    async def attempt(self, ep: Episode) -> None:
        ep.tests = await build_testset(ep)
        state = await reflexion_loop(ep, ProblemRepair(ep), n=self.config.candidates,
                                     temperature=generation_temperature(self.config))
        if ep.stop_reason is None and ep.advisor is not None and state.code:
            await self._with_advice(ep, state)
            if ep.best is not None and ep.best.all_passed:
                ep.stop("passed")

    async def _with_advice(self, ep: Episode, state: LoopState) -> None:
        """Low confidence after the last round: ask the expert once (AGILE),
        make its answer an authoritative test, and try once more with it."""
        advice = await consult(ep, ep.advisor, state.code, state.feedback, ep.examples, iteration=ep.iteration)
        if advice is None:
            return
        ep.tests.user.extend(t for t in advice_tests([advice]) if t not in ep.tests.user)
        ep.iteration += 1
        request = prompts.regenerate(ep.problem, state.code, f"{state.feedback}\n\n{advice_note([advice])}",
                                     state.memory, ep.examples, tiers=self.config.trust_tiers)
        reply = await ep.generate(request, iteration=ep.iteration)
        if reply.codes:
            await run_round(ep, reply.codes, ep.tests, ep.iteration)
