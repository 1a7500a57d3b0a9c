"""Shared steps of the test-driven strategies: building the internal test
set, and running one round of candidates against it.

Reflexion and retry both use these, so the baseline and the agent see the
same tests and the same test-dropping rules, and differ only in how they
produce the next candidate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coderefl.code.extract import extract_asserts, extract_code
from coderefl.records import ExecutionResult, Problem
from coderefl.strategies import prompts
from coderefl.strategies.agreement import contradicts_examples, dual_agreement
from coderefl.strategies.episode import Candidate, Episode
from coderefl.strategies.feedback import format_test_feedback
from coderefl.strategies.testset import OutcomeMap, TestSet


async def build_testset(ep: Episode) -> TestSet:
    """The user's tests, the problem's examples and, when enabled, the
    model's own asserts and hypothesis properties, each with its trust tier.
    A generated assert that contradicts an example is held back (not run),
    and the decision recorded: the example wins unless the evidence later
    demotes it, which releases the held-back test."""
    problem, cfg, examples = ep.problem, ep.config, ep.examples
    ts = TestSet(user=list(ep.tests.user), examples=list(examples))

    def own_asserts(text: str) -> list[str]:
        found = extract_asserts(text, limit=cfg.num_tests * 2)
        return [a for a in found if problem.entry_point in a][: cfg.num_tests]

    if cfg.generated_tests and cfg.num_tests > 0 and ep.chat:
        request = prompts.write_tests(problem, cfg.num_tests, examples, tiers=cfg.trust_tiers)
        asserts = await ep.write_tests(request, phase="tests", parse=own_asserts)
        for a in asserts:
            example = contradicts_examples(a, ts.authoritative)
            if example is not None and example in ts.user:
                ts.drop(a, f"contradicts the user test `{example}`")
                ep.decide(f"dropped generated test `{a}`: it contradicts the user test `{example}`", test=a)
            elif example is not None:
                ts.hold(a, example)
                ep.decide(f"dropped generated test `{a}`: it contradicts the example `{example}` (held back: "
                          "restored if the example is demoted)", test=a, example=example)
            elif a not in ts.authoritative:
                ts.generated.append(a)
        if not asserts:
            ep.decide("the model wrote no usable test; going on with the visible examples only")
    if cfg.property_tests and ep.chat:
        blocks = await ep.write_tests(prompts.write_properties(problem, examples), phase="properties",
                                      parse=lambda text: [b for b in [property_block(text, problem)] if b])
        if blocks:
            ts.properties.extend(blocks)
        else:
            ep.decide("the model wrote no usable property test")
    return ts


def property_block(text: str, problem: Problem) -> str:
    """The property tests of a response, without any definition of the entry
    point (the candidate's own must be the one under test)."""
    extraction = extract_code(text, None)
    code = extraction.code
    if not code or extraction.syntax_error or "@given" not in code or "def test" not in code:
        return ""
    if f"def {problem.entry_point}(" in code:
        return ""
    return code


@dataclass
class RoundOutcome:
    code: str
    result: ExecutionResult
    passed: bool
    #: the chosen candidate's outcomes, mapped to the live tests
    outcomes: OutcomeMap | None = None
    feedback: str = ""


async def run_round(ep: Episode, codes: Sequence[str], ts: TestSet, iteration: int) -> RoundOutcome:
    """Run each distinct candidate once against the live tests; with several
    candidates, choose one by dual agreement (identical programs are votes),
    drop generated tests the agreement shows wrong and demote an example
    only on strong evidence. Each decision is a step."""
    tests = ts.all()
    tiers = ts.tiers(tests)
    distinct = list(dict.fromkeys(codes))
    runs = {code: await ep.execute_mapped(code, tests, iteration=iteration, tiers=tiers) for code in distinct}
    maps = [runs[c] for c in codes]
    chosen = 0
    if len(codes) > 1 and tests:
        matrix = [m.verdicts() for m in maps]
        messages = [[m.message(j) for j in range(len(tests))] for m in maps]
        examples = [t == "example" for t in tiers] if ep.config.trust_tiers else None
        agreement = dual_agreement(matrix, [ts.is_authoritative(t) for t in tests], messages,
                                   programs=list(codes), examples=examples)
        chosen = agreement.chosen
        ep.decide(
            f"chose candidate {chosen + 1} of {len(codes)} by test agreement "
            f"({len(distinct)} distinct program(s); identical ones count as votes)",
            iteration=iteration,
            groups=agreement.groups,
        )
        for j in agreement.suspicious:
            if len(ts.all()) <= 1:
                ep.decide(f"kept generated test `{tests[j]}` although every candidate fails it: it is the last "
                          "test left", iteration=iteration, test_kept=tests[j])
                break
            if ts.drop(tests[j], "every candidate fails it while agreeing on another answer that fits the examples"):
                ep.decide(
                    f"dropped generated test `{tests[j]}`: every candidate fails it, and the candidates that "
                    "satisfy every example agree on another answer",
                    iteration=iteration,
                    test=tests[j],
                )
        demoted_any = False
        for j, answer in agreement.disputed.items():
            if tests[j] in ts.upheld or not await _reflection_agrees(ep, tests[j], answer, iteration):
                ts.upheld.add(tests[j])
                continue
            released = ts.demote(tests[j], f"distinct candidates that pass every other test agree: {answer}")
            if tests[j] in ts.demoted:
                demoted_any = True
                ep.decide(
                    f"demoted the example `{tests[j]}`: distinct candidates that pass every other test agree "
                    f"on another value ({answer}), and the reflection says the example contradicts the description"
                    + (f"; restored {len(released)} held-back test(s)" if released else ""),
                    iteration=iteration,
                    test=tests[j],
                    tier="example",
                    demoted=True,
                    released=released,
                )
        if demoted_any:  # the example no longer binds: choose again on the tests that are left
            keep = [j for j, t in enumerate(tests) if t in ts.all()]
            again = dual_agreement([[row[j] for j in keep] for row in matrix],
                                   [ts.is_authoritative(tests[j]) for j in keep], programs=list(codes))
            if again.chosen != chosen:
                chosen = again.chosen
                ep.decide(f"chose candidate {chosen + 1} of {len(codes)} again, without the demoted example",
                          iteration=iteration, groups=again.groups)
    live = ts.all()
    omap = maps[chosen]
    if any(t not in tests for t in live):  # a demoted example released held-back tests: judge on them too
        omap = await ep.execute_mapped(codes[chosen], live, iteration=iteration, tiers=ts.tiers(live),
                                       note="rerun on the tests the demoted example released")
    elif live != tests:  # tests were dropped, demoted or restored: judge the chosen one on what is left
        verdicts = dict(zip(tests, omap.verdicts()))
        if all(t in verdicts for t in live):
            results = {t: verdicts[t] for t in live}
            n_pass = sum(1 for v in results.values() if v is True)
            strong = frozenset(t for t in live if ts.tier(t) in ("user", "example"))
            ep.consider(Candidate(code=codes[chosen], passed=n_pass, total=len(live), iteration=iteration,
                                  results=results, strong=strong))
            omap = _restricted(omap, live)
    result = omap.result if omap.result is not None else maps[chosen].result
    assert result is not None
    # a pass needs every live test to have run and passed: a timeout or a test not run is no pass
    passed = all(v is True for v in omap.verdicts()) if live else result.passed
    tiers_live = ts.tiers(omap.tests) if ep.config.trust_tiers else None
    return RoundOutcome(code=codes[chosen], result=result, passed=passed, outcomes=omap,
                        feedback=format_test_feedback(omap, tiers_live))


async def _reflection_agrees(ep: Episode, example: str, answer: str, iteration: int) -> bool:
    """Strong evidence against an example needs two voices: the candidates'
    agreement (already found) and a reflection that says the example
    contradicts the description. Without reflections there is no second
    voice, and the example stays. The decision is recorded either way."""
    if not ep.config.reflection:
        ep.decide(f"kept the example `{example}` although distinct candidates agree on another value ({answer}): "
                  "reflections are off, so nothing confirms that it contradicts the description",
                  iteration=iteration, test=example, tier="example", demoted=False)
        return False
    text = await ep.reflect(prompts.judge_example(ep.problem, example, answer), iteration=iteration)
    if prompts.says_example_wrong(text):
        return True
    ep.decide(f"kept the example `{example}`: distinct candidates agree on another value ({answer}), but the "
              "reflection does not say it contradicts the description", iteration=iteration, test=example,
              tier="example", demoted=False)
    return False


def _restricted(omap: OutcomeMap, live: Sequence[str]) -> OutcomeMap:
    """The outcomes of ``live`` tests only; a timeout or error is still a
    failure, a run whose kept tests all passed is a pass."""
    index = {t: i for i, t in enumerate(omap.tests)}
    keep = [index[t] for t in live]
    outcomes = [omap.outcomes[i] for i in keep]
    result = omap.result
    if result is not None:
        kept = [o for outs in outcomes for o in outs]
        status = result.status
        if status == "failed" and kept and all(o.status == "passed" for o in kept):
            status = "passed"
        result = result.model_copy(update={"tests": kept, "status": status})
    return OutcomeMap(tests=list(live), outcomes=outcomes, global_outcomes=omap.global_outcomes, unowned=[],
                      missing=[], status=result.status if result is not None else omap.status, result=result)
