"""Trajectories for people: one line per step while running, a full view after.

Used by ``coderefl solve`` (live, on stderr) and ``coderefl show``.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from coderefl.records import ExecutionResult, Step, Trajectory

# C0 controls but newline and tab, DEL and the C1 range: what can move a terminal's cursor or recolour it
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}


def terminal_safe(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN``: what a program
    or a model wrote never moves the cursor, recolours or clears a terminal."""
    return text.translate(_CONTROL)


def safe_text(text: str, style: str = "") -> Text:
    """Program- or model-written text for rich: control characters escaped, markup never interpreted."""
    return Text(terminal_safe(text), style=style)


_STATUS_STYLE = {"passed": "green", "failed": "red", "timeout": "yellow", "error": "magenta"}


def _verdict(result: ExecutionResult) -> Text:
    n_pass = sum(1 for t in result.tests if t.status == "passed")
    style = _STATUS_STYLE.get(result.status, "white")
    return Text.assemble((result.status, f"bold {style}"), f"  {n_pass}/{len(result.tests)} tests passed")


def step_line(step: Step) -> Text:
    """A one-line summary of a step, for live progress."""
    head = Text(f"[{step.iteration}] {step.kind:<15}", style="bold")
    if step.kind == "execute" and step.execution is not None:
        line = head + _verdict(step.execution)
        for t in step.execution.failing[:3]:
            line += safe_text(f"\n      ✗ {t.name}  {t.message.strip()[:160]}", style="red")
        return line
    if step.kind == "reflect" and step.reflection:
        return head + safe_text(step.reflection.strip()[:400], style="italic")
    if step.kind == "decision":
        return head + safe_text(step.note or "", style="yellow")
    if step.kind == "generate_tests":
        return head + Text(f"{len(step.tests)} tests written")
    detail = step.note or (f"{len((step.code or '').splitlines())} lines of code" if step.code else "")
    tokens = step.usage.total_tokens
    return head + Text(f"{detail}  ({tokens} tokens, {step.duration_s:.1f}s)".strip(), style="dim")


def print_trajectory(traj: Trajectory, console: Console, *, code: bool = True) -> None:
    """The full readable view: each step, its tests, feedback and reflection."""
    console.print(
        Text.assemble(
            (f"{traj.task_id}", "bold"),
            f"  strategy={traj.strategy}  stop={traj.stop_reason}  iterations={traj.iterations}  ",
            ("internal tests passed" if traj.internal_passed else "internal tests not passed", "green" if traj.internal_passed else "red"),
            f"  calls={traj.usage.calls} tokens={traj.usage.total_tokens} cost=${traj.usage.cost_usd:.4f}  {traj.duration_s:.1f}s",
        )
    )
    for step in traj.steps:
        parts: list = [step_line(step)]
        if step.kind == "generate_tests" and step.tests:
            parts.append(Syntax(terminal_safe("\n".join(step.tests)), "python", theme="ansi_dark"))
        if step.kind == "generate" and step.code and code:
            parts.append(Syntax(terminal_safe(step.code), "python", theme="ansi_dark", line_numbers=True))
        if step.kind == "reflect" and step.reflection:
            parts = [Text(f"[{step.iteration}] reflect", style="bold"), safe_text(step.reflection)]
        console.print(Panel(Group(*parts), expand=True, border_style="dim"))
    if traj.internal_tests:
        console.print(Panel(Syntax(terminal_safe("\n\n".join(traj.internal_tests)), "python", theme="ansi_dark"), title="internal tests"))
    if traj.final_code and code:
        console.print(Panel(Syntax(terminal_safe(traj.final_code), "python", theme="ansi_dark"), title="final code"))
