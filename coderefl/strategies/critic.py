"""``critic``: no generated tests; the interpreter is the critic (CRITIC,
Gou et al. 2024, with execution as the tool). Each candidate runs in the
sandbox with the prompt's visible examples and any user tests; what the run
shows (failing examples with actual values, tracebacks, timeouts) goes back
as the critique. With no examples, the run still catches import-time
errors. Works with completion-only models for the first attempt; revisions
need a chat model, so a completion model gets resampling instead."""

from __future__ import annotations

from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, generation_temperature, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.feedback import format_feedback, format_test_feedback
from coderefl.strategies.simple import generate_once


@register_strategy("critic")
class Critic(Strategy):
    async def attempt(self, ep: Episode) -> None:
        cfg = self.config
        tests = ep.tests.all()
        tiers = ep.tests.tiers(tests)
        code = await generate_once(ep, iteration=1)
        for iteration in ep.rounds(cfg.max_iters):
            if code:
                omap = await ep.execute_mapped(code, tests, iteration=iteration, tiers=tiers)
                if omap.result is not None and omap.result.passed:
                    ep.stop("passed")
                    return
                report = format_test_feedback(omap, tiers if cfg.trust_tiers else None) if tests else (
                    format_feedback(omap.result) if omap.result is not None else "")
            else:
                report = "The reply contained no runnable function."
            if iteration == cfg.max_iters:
                break
            if ep.chat and code:
                request = prompts.tool_feedback(ep.problem, code, report, ep.examples, tiers=cfg.trust_tiers)
                code = (await ep.generate(request, iteration=iteration + 1)).code
            else:
                temperature = generation_temperature(cfg) + cfg.retry_temperature_step * iteration
                code = await generate_once(ep, iteration=iteration + 1, temperature=temperature)
