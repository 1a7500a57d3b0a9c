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
"""

from __future__ import annotations

import ast

from coderefl.code.extract import extract_code
from coderefl.errors import BudgetExceeded
from coderefl.learn.asking import advice_note, advice_tests, consult
from coderefl.records import Problem, Trajectory
from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.rounds import build_testset, run_round
from coderefl.strategies.testset import TestSet


@register_strategy("reflexion")
class Reflexion(Strategy):
    needs_chat = True

    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        cfg = self.config
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        ts = TestSet(user=user_tests or [], examples=examples)
        memory: list[str] = []
        tried: dict[str, int] = {}  # normalised program -> the iteration it failed in, on the live tests
        iteration = 0
        temp = generation_temperature(cfg)
        try:
            ts = await build_testset(ep, examples, user_tests or [])
            request = prompts.generate(problem, examples, tiers=cfg.trust_tiers)
            reply = await ep.ask(request, kind="generate", phase="generate", iteration=1, n=cfg.candidates,
                                 temperature=temp)
            codes = self._codes(ep, reply.texts, 1)
            feedback, code = "", ""
            live = ts.all()
            for iteration in range(1, cfg.max_iters + 1):
                if ts.all() != live:  # another test set: a program that failed before may pass now
                    tried, live = {}, ts.all()
                codes, repeated = await self._fresh(ep, codes, tried, request, iteration, temp)
                if repeated:
                    pass  # a repeat that resampling could not shake off: not run, same feedback as before
                elif not codes:
                    note = ep.trajectory.steps[-1].note or ""
                    feedback = "Your reply contained no runnable Python function. " + note
                    code = ep.last_code
                else:
                    outcome = await run_round(ep, codes, ts, iteration)
                    if outcome.passed:
                        return ep.finish("passed", iterations=iteration, tests=ts.all())
                    feedback = outcome.feedback
                    code = outcome.code
                    if ts.all() != live:  # tests dropped or restored: earlier failures may not hold
                        tried, live = {}, ts.all()
                    for c in codes:
                        tried.setdefault(program_key(c), iteration)
                if iteration == cfg.max_iters:
                    break
                # the reflection is only worth its call when it is kept for the next prompt
                if cfg.reflection and cfg.memory_size > 0 and code:
                    reflection = await ep.ask(
                        prompts.reflect(problem, code, feedback, examples, explain=cfg.explain, tiers=cfg.trust_tiers),
                        kind="reflect",
                        phase="reflect",
                        iteration=iteration,
                    )
                    text = (reflection.texts[0] if reflection.texts else "").strip()
                    ep.trajectory.steps[-1].reflection = text
                    if text:
                        memory = [*memory, text][-cfg.memory_size :]
                request = prompts.regenerate(problem, code, feedback, memory, examples, tiers=cfg.trust_tiers)
                reply = await ep.ask(request, kind="generate", phase="generate", iteration=iteration + 1,
                                     n=cfg.candidates, temperature=temp)
                codes = self._codes(ep, reply.texts, iteration + 1)
            if self.advisor is not None and code:
                iteration = await self._with_advice(ep, ts, code, feedback, memory, examples, iteration)
                if ep.best is not None and ep.best.all_passed:
                    return ep.finish("passed", iterations=iteration, tests=ts.all())
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=iteration, tests=ts.all())  # type: ignore[arg-type]
        reason = "no_code" if ep.best is None and not ep.last_code else "max_iters"
        return ep.finish(reason, iterations=iteration, tests=ts.all())

    async def _fresh(self, ep: Episode, codes: list[str], tried: dict[str, int], request, iteration: int,
                     temp: float) -> tuple[list[str], bool]:
        """The candidates that are not a program that already failed. When
        every candidate repeats one, the same request is resampled at a higher
        temperature (up to ``max_resamples`` times) instead of running the
        same program again; what still repeats is not run."""
        cfg = self.config
        for attempt in range(cfg.max_resamples + 1):
            fresh = [c for c in codes if program_key(c) not in tried]
            if fresh or not codes:
                return fresh, False
            earlier = tried[program_key(codes[0])]
            if attempt == cfg.max_resamples:
                ep.decide(f"the reply still repeats the program that failed in round {earlier}; not run again",
                          iteration=iteration, repeated=earlier)
                return [], True
            temp = min(2.0, max(temp, cfg.temperature) + cfg.resample_step)
            ep.decide(f"the reply repeats the program that failed in round {earlier}; resampling at temperature "
                      f"{temp:g} instead of running it again", iteration=iteration, repeated=earlier, temperature=temp)
            reply = await ep.ask(request, kind="generate", phase="generate", iteration=iteration, n=cfg.candidates,
                                 temperature=temp)
            codes = self._codes(ep, reply.texts, iteration)
        return [], True

    async def _with_advice(self, ep, ts, code, feedback, memory, examples, iteration) -> int:
        """Low confidence after the last round: ask the expert once (AGILE),
        make its answer an authoritative test, and try once more with it."""
        advice = await consult(ep, self.advisor, code, feedback, examples, iteration=iteration)
        if advice is None:
            return iteration
        ts.user.extend(t for t in advice_tests([advice]) if t not in ts.user)
        iteration += 1
        reply = await ep.ask(
            prompts.regenerate(ep.problem, code, f"{feedback}\n\n{advice_note([advice])}", memory, examples,
                               tiers=self.config.trust_tiers),
            kind="generate",
            phase="generate",
            iteration=iteration,
        )
        codes = self._codes(ep, reply.texts, iteration)
        if codes:
            await run_round(ep, codes, ts, iteration)
        return iteration

    @staticmethod
    def _codes(ep: Episode, texts: list[str], iteration: int) -> list[str]:
        """The runnable candidates among the choices, identical ones kept (they
        are votes for agreement; each distinct program runs once). The
        first's extraction note stays on the step; the others' code goes in
        its data."""
        codes: list[str] = []
        for k, text in enumerate(texts or [""]):
            if k == 0:
                code = ep.extract(text, iteration).code
            else:
                code = extract_code(text, ep.problem.entry_point, prompt=ep.problem.prompt).code
                ep.trajectory.steps[-1].data.setdefault("codes", []).append(code)
            if code:
                codes.append(code)
        return codes


def program_key(code: str) -> str:
    """A program's identity for repeat detection: its syntax tree (comments,
    blank lines and formatting do not make a new program)."""
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code.strip()
