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
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.examples import visible_examples
from coderefl.strategies.feedback import format_feedback, format_test_feedback
from coderefl.strategies.simple import generate_once
from coderefl.strategies.testset import TestSet


@register_strategy("critic")
class Critic(Strategy):
    async def solve(self, problem: Problem, user_tests: list[str] | None = None, sample: int = 0) -> Trajectory:
        cfg = self.config
        ep = Episode(self, problem, sample)
        examples = visible_examples(problem)
        ts = TestSet(user=user_tests or [], examples=examples)
        tests = ts.all()
        tiers = ts.tiers(tests)
        chat = getattr(self.model, "api", "chat") == "chat"
        iteration = 0
        try:
            code = await generate_once(ep, examples, iteration=1)
            for iteration in range(1, cfg.max_iters + 1):
                if code:
                    omap = await ep.execute_mapped(code, tests, iteration=iteration, tiers=tiers)
                    if omap.result is not None and omap.result.passed:
                        return ep.finish("passed", iterations=iteration, tests=tests)
                    report = format_test_feedback(omap, tiers if cfg.trust_tiers else None) if tests else (
                        format_feedback(omap.result) if omap.result is not None else "")
                else:
                    report = "The reply contained no runnable function."
                if iteration == cfg.max_iters:
                    break
                if chat and code:
                    reply = await ep.ask(
                        prompts.tool_feedback(problem, code, report, examples, tiers=cfg.trust_tiers),
                        kind="generate",
                        phase="generate",
                        iteration=iteration + 1,
                    )
                    code = ep.extract(reply.texts[0] if reply.texts else "", iteration + 1).code
                else:
                    temperature = generation_temperature(cfg) + cfg.retry_temperature_step * iteration
                    code = await generate_once(ep, examples, iteration=iteration + 1, temperature=temperature)
        except BudgetExceeded as hit:
            return ep.finish(hit.which, iterations=iteration, tests=tests)  # type: ignore[arg-type]
        reason = "no_code" if ep.best is None and not ep.last_code else "max_iters"
        return ep.finish(reason, iterations=iteration, tests=tests)
