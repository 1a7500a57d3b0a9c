"""``self-refine``: the model critiques and revises its own code without
running it (Madaan et al. 2023). It stops when the critique finds nothing
(``LGTM``) or after ``max_iters`` rounds. The final candidate is run once
against the visible examples and user tests, for the internal verdict only."""

from __future__ import annotations

from coderefl.strategies import prompts
from coderefl.strategies.base import Strategy, register_strategy
from coderefl.strategies.episode import Episode
from coderefl.strategies.simple import generate_once


@register_strategy("self-refine")
class SelfRefine(Strategy):
    needs_chat = True

    async def attempt(self, ep: Episode) -> None:
        cfg = self.config
        ep.iteration = 1
        ep.stop("max_iters")
        code = await generate_once(ep, iteration=1)
        while ep.iteration < cfg.max_iters:
            if not code:
                ep.stop("no_code")
                break
            review = await ep.reflect(prompts.critique(ep.problem, code, ep.examples, tiers=cfg.trust_tiers),
                                      iteration=ep.iteration, kind="critique")
            if prompts.is_lgtm(review):
                ep.stop("passed")
                break
            ep.iteration += 1
            request = prompts.revise(ep.problem, code, review, ep.examples, tiers=cfg.trust_tiers)
            code = (await ep.generate(request, iteration=ep.iteration)).code or code
        if code:
            tests = ep.tests.all()
            await ep.execute(code, tests, iteration=ep.iteration, note="internal verdict only; not fed back",
                             tiers=ep.tests.tiers(tests))
