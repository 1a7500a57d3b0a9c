"""``critic``: no generated tests; the interpreter is the critic (CRITIC,
Gou et al. 2024, with execution as the tool). Each candidate runs in the
sandbox with the prompt's visible examples and any user tests; what the run
shows (failing examples with actual values, tracebacks, timeouts) goes back
as the critique. With no examples, the run still catches import-time
errors. Works with completion-only models for the first attempt; revisions
need a chat model, so a completion model gets resampling instead."""

from __future__ import annotations

from coderefl.errors import BudgetExceeded
from coderefl.records import Problem, Trajectory
from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.feedback import format_feedback
from coderefl.strategies.simple import generate_once


@register_strategy("critic")
class Critic(Strategy):
    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        cfg = self.config
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        tests = list(dict.fromkeys([*(user_tests or []), *examples]))
        chat = getattr(self.model, "api", "chat") == "chat"
        iteration = 0
        try:
            code = await generate_once(ep, examples, iteration=1)
            for iteration in range(1, cfg.max_iters + 1):
                if code:
                    result = await ep.execute(code, tests, iteration=iteration)
                    if result.passed:
                        return ep.finish("passed", iterations=iteration, tests=tests)
                    report = format_feedback(result)
                else:
                    report = "The reply contained no runnable function."
                if iteration == cfg.max_iters:
                    break
                if chat and code:
                    reply = await ep.ask(
                        prompts.tool_feedback(problem, code, report, examples),
                        kind="generate",
                        phase="generate",
                        iteration=iteration + 1,
                    )
                    code = ep.extract(reply.texts[0] if reply.texts else "", iteration + 1).code
                else:
                    temperature = cfg.temperature + cfg.retry_temperature_step * iteration
                    code = await generate_once(ep, examples, iteration=iteration + 1, temperature=temperature)
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=iteration, tests=tests)  # type: ignore[arg-type]
        reason = "no_code" if ep.best is None and not ep.last_code else "max_iters"
        return ep.finish(reason, iterations=iteration, tests=tests)
