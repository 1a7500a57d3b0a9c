"""``retry``: resample at rising temperature until the internal tests pass
or the budget ends. No feedback reaches the model. Kapoor et al. (2024)
showed this cheap baseline is hard to beat, so every report carries it.

It uses the same internal tests as ``reflexion`` (generated asserts when
enabled, the visible examples, user tests), so the two differ only in
whether failures are fed back."""

from __future__ import annotations

from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.loop import program_key
from coderefl.strategies.rounds import build_testset, run_round
from coderefl.strategies.simple import generate_once


@register_strategy("retry")
class Retry(Strategy):
    async def attempt(self, ep: Episode) -> None:
        tried: dict[str, int] = {}
        base = generation_temperature(self.config)
        ep.tests = await build_testset(ep)
        for iteration in ep.rounds(self.config.max_iters):
            temperature = base + self.config.retry_temperature_step * (iteration - 1)
            code = await generate_once(ep, iteration=iteration, temperature=temperature)
            if not code:
                continue
            earlier = tried.get(program_key(code))
            if earlier is not None:  # the same program failed before: sample again, do not rerun it
                ep.decide(f"the sample repeats the program that failed in round {earlier}; not run again",
                          iteration=iteration, repeated=earlier)
                continue
            outcome = await run_round(ep, [code], ep.tests, iteration)
            if outcome.passed:
                ep.stop("passed")
                return
            tried[program_key(code)] = iteration
