"""``simple``: one generation, no feedback. The baseline every other
strategy must beat. The candidate is run once against the visible examples
(and user tests) only to report an internal verdict; nothing is fed back."""

from __future__ import annotations

from coderefl.errors import BudgetExceeded
from coderefl.records import Problem, Trajectory
from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.testset import TestSet


async def generate_once(ep: Episode, examples: list[str], *, iteration: int, temperature: float | None = None) -> str:
    """One candidate from the model, by chat or by completion; by default at
    the generation temperature (the sampling one when several samples are asked for)."""
    if temperature is None:
        temperature = generation_temperature(ep.config)
    if getattr(ep.model, "api", "chat") == "completions":
        return (await ep.complete_code(iteration=iteration, temperature=temperature)).code
    reply = await ep.ask(
        prompts.generate(ep.problem, examples, tiers=ep.config.trust_tiers), kind="generate", phase="generate", iteration=iteration, temperature=temperature
    )
    return ep.extract(reply.texts[0] if reply.texts else "", iteration).code


@register_strategy("simple")
class Simple(Strategy):
    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        ts = TestSet(user=user_tests or [], examples=examples)
        tests = ts.all()
        try:
            code = await generate_once(ep, examples, iteration=1)
            if not code:
                return ep.finish("no_code", iterations=1, tests=tests)
            await ep.execute(code, tests, iteration=1, note="internal verdict only; not fed back",
                             tiers=ts.tiers(tests))
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=1, tests=tests)  # type: ignore[arg-type]
        return ep.finish("single_shot", iterations=1, tests=tests)
