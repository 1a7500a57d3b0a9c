"""``simple``: one generation, no feedback. The baseline every other
strategy must beat. The candidate is run once against the visible examples
(and user tests) only to report an internal verdict; nothing is fed back."""

from __future__ import annotations

from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode


async def generate_once(ep: Episode, *, iteration: int, temperature: float | None = None) -> str:
    """One candidate from the model, by chat or by completion; by default at
    the generation temperature (the sampling one when several samples are asked for)."""
    if temperature is None:
        temperature = generation_temperature(ep.config)
    if not ep.chat:
        return (await ep.complete_code(iteration=iteration, temperature=temperature)).code
    request = prompts.generate(ep.problem, ep.examples, tiers=ep.config.trust_tiers)
    return (await ep.generate(request, iteration=iteration, temperature=temperature)).code


@register_strategy("simple")
class Simple(Strategy):
    async def attempt(self, ep: Episode) -> None:
        ep.iteration = 1
        code = await generate_once(ep, iteration=1)
        if not code:
            ep.stop("no_code")
            return
        tests = ep.tests.all()
        await ep.execute(code, tests, iteration=1, note="internal verdict only; not fed back",
                         tiers=ep.tests.tiers(tests))
        ep.stop("single_shot")
