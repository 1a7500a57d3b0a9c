"""``simple``: one generation, no feedback. The baseline every other
strategy must beat. The candidate is run once against the visible examples
(and user tests) only to report an internal verdict; nothing is fed back."""

from __future__ import annotations

from coderefl.errors import BudgetExceeded
from coderefl.records import Problem, Trajectory
from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples


async def generate_once(ep: Episode, examples: list[str], *, iteration: int, temperature: float | None = None) -> str:
    """One candidate from the model, by chat or by completion."""
    if getattr(ep.model, "api", "chat") == "completions":
        return (await ep.complete_code(iteration=iteration, temperature=temperature)).code
    reply = await ep.ask(
        prompts.generate(ep.problem, examples), kind="generate", phase="generate", iteration=iteration, temperature=temperature
    )
    return ep.extract(reply.texts[0] if reply.texts else "", iteration).code


@register_strategy("simple")
class Simple(Strategy):
    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        tests = list(dict.fromkeys([*(user_tests or []), *examples]))
        try:
            code = await generate_once(ep, examples, iteration=1)
            if not code:
                return ep.finish("no_code", iterations=1, tests=tests)
            await ep.execute(code, tests, iteration=1, note="internal verdict only; not fed back")
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=1, tests=tests)  # type: ignore[arg-type]
        return ep.finish("single_shot", iterations=1, tests=tests)
