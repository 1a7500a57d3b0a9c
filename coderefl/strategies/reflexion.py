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

from coderefl.code.extract import extract_code
from coderefl.errors import BudgetExceeded
from coderefl.learn.asking import advice_note, advice_tests, consult
from coderefl.records import Problem, Trajectory
from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.feedback import format_feedback
from coderefl.strategies.rounds import build_testset, run_round
from coderefl.strategies.testset import TestSet


@register_strategy("reflexion")
class Reflexion(Strategy):
    needs_chat = True

    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        cfg = self.config
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        ts = TestSet(authoritative=[*(user_tests or []), *examples])
        memory: list[str] = []
        iteration = 0
        try:
            ts = await build_testset(ep, examples, user_tests or [])
            reply = await ep.ask(
                prompts.generate(problem, examples), kind="generate", phase="generate", iteration=1, n=cfg.candidates
            )
            codes = self._codes(ep, reply.texts, 1)
            for iteration in range(1, cfg.max_iters + 1):
                if not codes:
                    feedback = "Your reply contained no runnable Python function. " + (
                        ep.trajectory.steps[-1].note or ""
                    )
                    code = ep.last_code
                else:
                    outcome = await run_round(ep, codes, ts, iteration)
                    if outcome.passed:
                        return ep.finish("passed", iterations=iteration, tests=ts.all())
                    feedback = format_feedback(outcome.result)
                    code = outcome.code
                if iteration == cfg.max_iters:
                    break
                if cfg.reflection and code:
                    reflection = await ep.ask(
                        prompts.reflect(problem, code, feedback, examples),
                        kind="reflect",
                        phase="reflect",
                        iteration=iteration,
                    )
                    text = (reflection.texts[0] if reflection.texts else "").strip()
                    ep.trajectory.steps[-1].reflection = text
                    if text and cfg.memory_size > 0:
                        memory = [*memory, text][-cfg.memory_size :]
                reply = await ep.ask(
                    prompts.regenerate(problem, code, feedback, memory, examples),
                    kind="generate",
                    phase="generate",
                    iteration=iteration + 1,
                    n=cfg.candidates,
                )
                codes = self._codes(ep, reply.texts, iteration + 1)
            if self.advisor is not None and code:
                iteration = await self._with_advice(ep, ts, code, feedback, memory, examples, iteration)
                if ep.best is not None and ep.best.all_passed:
                    return ep.finish("passed", iterations=iteration, tests=ts.all())
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=iteration, tests=ts.all())  # type: ignore[arg-type]
        reason = "no_code" if ep.best is None and not ep.last_code else "max_iters"
        return ep.finish(reason, iterations=iteration, tests=ts.all())

    async def _with_advice(self, ep, ts, code, feedback, memory, examples, iteration) -> int:
        """Low confidence after the last round: ask the expert once (AGILE),
        make its answer an authoritative test, and try once more with it."""
        advice = await consult(ep, self.advisor, code, feedback, examples, iteration=iteration)
        if advice is None:
            return iteration
        ts.authoritative.extend(t for t in advice_tests([advice]) if t not in ts.authoritative)
        iteration += 1
        reply = await ep.ask(
            prompts.regenerate(ep.problem, code, f"{feedback}\n\n{advice_note([advice])}", memory, examples),
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
        """The runnable candidates among the choices (the first's extraction
        note stays on the step; the others' code goes in its data)."""
        codes: list[str] = []
        for k, text in enumerate(texts or [""]):
            if k == 0:
                code = ep.extract(text, iteration).code
            else:
                code = extract_code(text, ep.problem.entry_point, prompt=ep.problem.prompt).code
                ep.trajectory.steps[-1].data.setdefault("codes", []).append(code)
            if code and code not in codes:
                codes.append(code)
        return codes
