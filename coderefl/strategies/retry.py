"""``retry``: resample at rising temperature until the internal tests pass
or the budget ends. No feedback reaches the model. Kapoor et al. (2024)
showed this cheap baseline is hard to beat, so every report carries it.

It uses the same internal tests as ``reflexion`` (generated asserts when
enabled, the visible examples, user tests), so the two differ only in
whether failures are fed back."""

from __future__ import annotations

from coderefl.errors import BudgetExceeded
from coderefl.records import Problem, Trajectory
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.reflexion import program_key
from coderefl.strategies.rounds import build_testset, run_round
from coderefl.strategies.simple import generate_once
from coderefl.strategies.testset import TestSet


@register_strategy("retry")
class Retry(Strategy):
    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        ts = TestSet(user=user_tests or [], examples=examples)
        iteration = 0
        tried: dict[str, int] = {}
        base = generation_temperature(self.config)
        try:
            ts = await build_testset(ep, examples, user_tests or [])
            for iteration in range(1, self.config.max_iters + 1):
                temperature = base + self.config.retry_temperature_step * (iteration - 1)
                code = await generate_once(ep, examples, iteration=iteration, temperature=temperature)
                if not code:
                    continue
                earlier = tried.get(program_key(code))
                if earlier is not None:  # the same program failed before: sample again, do not rerun it
                    ep.decide(f"the sample repeats the program that failed in round {earlier}; not run again",
                              iteration=iteration, repeated=earlier)
                    continue
                outcome = await run_round(ep, [code], ts, iteration)
                if outcome.passed:
                    return ep.finish("passed", iterations=iteration, tests=ts.all())
                tried[program_key(code)] = iteration
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=iteration, tests=ts.all())  # type: ignore[arg-type]
        reason = "no_code" if ep.best is None and not ep.last_code else "max_iters"
        return ep.finish(reason, iterations=iteration, tests=ts.all())
