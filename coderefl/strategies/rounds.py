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
from coderefl.strategies.agreement import contradicts_examples, dual_agreement, outcome_vector
from coderefl.strategies.episode import Candidate, Episode
from coderefl.strategies.testset import TestSet


async def build_testset(ep: Episode, examples: Sequence[str], user_tests: Sequence[str]) -> TestSet:
    """Authoritative tests plus, when enabled, the model's own asserts and
    hypothesis properties. Generated asserts that contradict a visible
    example are dropped here, and the decision is recorded."""
    problem, cfg = ep.problem, ep.config
    ts = TestSet(authoritative=list(dict.fromkeys([*user_tests, *examples])))
    can_instruct = getattr(ep.model, "api", "chat") == "chat"
    if cfg.generated_tests and cfg.num_tests > 0 and can_instruct:
        reply = await ep.ask(
            prompts.write_tests(problem, cfg.num_tests, examples), kind="generate_tests", phase="tests"
        )
        asserts = [
            a
            for a in extract_asserts(reply.texts[0] if reply.texts else "", limit=cfg.num_tests * 2)
            if problem.entry_point in a
        ][: cfg.num_tests]
        ep.trajectory.steps[-1].tests = asserts
        for a in asserts:
            example = contradicts_examples(a, ts.authoritative)
            if example is not None:
                ts.drop(a, f"contradicts the example `{example}`")
                ep.decide(f"dropped generated test `{a}`: it contradicts the example `{example}`", test=a)
            elif a not in ts.authoritative:
                ts.generated.append(a)
        if not asserts:
            ep.decide("the model wrote no usable test; going on with the visible examples only")
    if cfg.property_tests and can_instruct:
        reply = await ep.ask(prompts.write_properties(problem, examples), kind="generate_tests", phase="properties")
        block = property_block(reply.texts[0] if reply.texts else "", problem)
        if block:
            ts.properties.append(block)
            ep.trajectory.steps[-1].tests = [block]
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


async def run_round(ep: Episode, codes: Sequence[str], ts: TestSet, iteration: int) -> RoundOutcome:
    """Run each candidate against the live tests; with several candidates,
    choose one by dual agreement and drop tests the agreement shows wrong."""
    tests = ts.all()
    results = [await ep.execute(code, tests, iteration=iteration) for code in codes]
    chosen = 0
    if len(codes) > 1 and tests:
        matrix = [outcome_vector(r, tests) for r in results]
        messages = [[o.message for o in r.tests] if len(r.tests) == len(tests) else [""] * len(tests) for r in results]
        auth = [ts.is_authoritative(t) for t in tests]
        agreement = dual_agreement(matrix, auth, messages)
        chosen = agreement.chosen
        ep.decide(
            f"chose candidate {chosen + 1} of {len(codes)} by test agreement",
            iteration=iteration,
            groups=agreement.groups,
        )
        for j in agreement.suspicious:
            if ts.drop(tests[j], "every candidate fails it while agreeing on another answer that fits the examples"):
                ep.decide(
                    f"dropped generated test `{tests[j]}`: every candidate fails it, and the candidates that "
                    "satisfy every example agree on another answer",
                    iteration=iteration,
                    test=tests[j],
                )
    result = _without_dropped(results[chosen], tests, ts)
    live = ts.all()
    passed = result.status == "passed"
    if len(live) != len(tests):  # tests were dropped: rescore the chosen candidate
        n_pass = sum(1 for o in result.tests if o.status == "passed")
        ep.consider(Candidate(code=codes[chosen], passed=n_pass, total=len(live), iteration=iteration))
    return RoundOutcome(code=codes[chosen], result=result, passed=passed)


def _without_dropped(result: ExecutionResult, tests: Sequence[str], ts: TestSet) -> ExecutionResult:
    if not ts.dropped or len(result.tests) != len(tests):
        return result
    kept = [o for t, o in zip(tests, result.tests) if t not in ts.dropped]
    status = result.status
    if status == "failed" and all(o.status == "passed" for o in kept):
        status = "passed"
    return result.model_copy(update={"tests": kept, "status": status})
