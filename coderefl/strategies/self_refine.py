"""``self-refine``: the model critiques and revises its own code without
running it (Madaan et al. 2023). It stops when the critique finds nothing
(``LGTM``) or after ``max_iters`` rounds. The final candidate is run once
against the visible examples and user tests, for the internal verdict only."""

from __future__ import annotations

from coderefl.errors import BudgetExceeded
from coderefl.records import Problem, StopReason, Trajectory
from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.simple import generate_once
from coderefl.strategies.testset import TestSet


@register_strategy("self-refine")
class SelfRefine(Strategy):
    needs_chat = True

    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        ts = TestSet(user=user_tests or [], examples=examples)
        tests = ts.all()
        iteration = 1
        reason: StopReason = "max_iters"
        code = ""
        try:
            code = await generate_once(ep, examples, iteration=1)
            while iteration < self.config.max_iters:
                if not code:
                    reason = "no_code"
                    break
                review = await ep.ask(
                    prompts.critique(problem, code, examples, tiers=self.config.trust_tiers), kind="critique", phase="critique", iteration=iteration
                )
                text = review.texts[0] if review.texts else ""
                if prompts.is_lgtm(text):
                    reason = "passed"
                    break
                iteration += 1
                reply = await ep.ask(
                    prompts.revise(problem, code, text, examples, tiers=self.config.trust_tiers), kind="generate", phase="generate", iteration=iteration
                )
                code = ep.extract(reply.texts[0] if reply.texts else "", iteration).code or code
            if code:
                await ep.execute(code, tests, iteration=iteration, note="internal verdict only; not fed back",
                                 tiers=ts.tiers(tests))
        except BudgetExceeded as hit:
            reason = hit.which  # type: ignore[assignment]
        return ep.finish(reason, iterations=iteration, tests=tests)
