"""Export successful trajectories as chat fine-tuning data (FireAct).

FireAct's point: a smaller model fine-tuned on successful trajectories of
several methods solves the task without few-shot prompting. A trajectory
already holds everything a sample needs: the final successful generation's
request (``Step.messages``, kept in full by default) and its answer
(``Step.response``). That history plus the answer is a natural multi-turn
conversation (task, attempt, feedback and reflections, fixed attempt).

Sample shapes, one JSON object per line::

    {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...],
     "metadata": {...}}

Roles: an optional system message, then user/assistant alternating,
ending with assistant: the conversational format of the ``datasets`` JSON
loader and TRL's ``SFTTrainer``. ``metadata`` is optional (drop it with
``include_metadata=False`` or ``dataset.remove_columns("metadata")``).

Which records are exported: by default those whose trajectory passed the
agent's own internal tests; with ``only_passed`` those that passed the
hidden tests (known after scoring, so fair to select on; the hidden tests
themselves are never read from the run folder, and, when the run's
benchmark can be loaded, a sample containing a hidden assert is dropped).
A trajectory with no internal tests (nothing to reflect against) becomes a
one-turn sample: the task prompt, then the final code in a python block.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from coderefl.errors import BadInput
from coderefl.problems.firewall import hidden_fragments
from coderefl.problems.registry import load_benchmark
from coderefl.records import ChatMessage, Problem, RunRecord, Step, Trajectory
from coderefl.run.store import CONFIG, RESULTS, RunStore, read_records
from coderefl.strategies import prompts
from coderefl.strategies.examples import visible_examples

Message = dict[str, str]


# ---------------------------------------------------------------------------
# Reading run folders
# ---------------------------------------------------------------------------


@dataclass
class RunEntry:
    """One record of a run folder with its trajectory (None when missing)."""

    run: Path
    config: dict[str, Any]
    record: RunRecord
    trajectory: Trajectory | None


def read_run(path: str | Path) -> Iterator[RunEntry]:
    """Every record of a run folder (``coderefl eval --out``), in file order."""

    root = Path(path)
    if not (root / RESULTS).is_file():
        raise BadInput(f"{root}: not a run folder (no {RESULTS}); pass the --out folder of `coderefl eval`")
    try:
        config = json.loads((root / CONFIG).read_text(encoding="utf-8")) if (root / CONFIG).is_file() else {}
    except json.JSONDecodeError as err:
        raise BadInput(f"{root / CONFIG}: not valid JSON ({err})") from None
    store = RunStore(root)
    records, _ = read_records(root / RESULTS)
    for rec in records:
        yield RunEntry(root, config, rec, _read_trajectory(store.trajectory_path(rec.task_id, rec.sample)))


def _read_trajectory(path: Path) -> Trajectory | None:
    """Only the ``trajectory`` key is read: the file's other keys (the
    scheduler's ``hidden`` notes, tracebacks) never reach an export."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        raw = payload.get("trajectory")
        return Trajectory.model_validate(raw) if raw is not None else None
    except (OSError, json.JSONDecodeError, ValidationError, AttributeError):
        return None


# ---------------------------------------------------------------------------
# One trajectory -> one conversation
# ---------------------------------------------------------------------------


def _msg(m: ChatMessage) -> Message:
    return {"role": m.role, "content": m.content}


def code_block(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def _final_generation(traj: Trajectory) -> tuple[Step, str] | None:
    """The last chat generation that produced the final code, and the
    answer text of the choice that did (choice 0 or one of ``data.texts``)."""
    final = traj.final_code.strip()
    if not final:
        return None
    for step in reversed(traj.steps):
        if step.kind != "generate" or not step.messages:
            continue
        if (step.code or "").strip() == final and step.response:
            return step, step.response
        codes = step.data.get("codes") or []
        texts = step.data.get("texts") or []
        for code, text in zip(codes, texts):
            if (code or "").strip() == final and text:
                return step, text
    return None


def _task_turns(traj: Trajectory, problem: Problem | None) -> list[Message] | None:
    """System (if any) + the user's task statement, as first asked."""
    for step in traj.steps:
        if step.kind == "generate" and step.messages:
            head: list[Message] = []
            for m in step.messages:
                head.append(_msg(m))
                if m.role == "user":
                    return head
    if problem is not None:

        return [_msg(m) for m in prompts.generate(problem, visible_examples(problem))]
    return None


def conversation(traj: Trajectory, problem: Problem | None = None) -> tuple[list[Message], str] | None:
    """The chat sample for a trajectory, and its shape (``multi_turn`` or
    ``one_turn``), or None when it cannot be rebuilt (no code; no prompt
    recorded and no ``problem`` given).

    With internal tests: the final successful generation's recorded
    messages plus its response. Without (or when the messages were kept
    only as a hash): one turn, the task prompt and the final code."""
    if not traj.final_code.strip():
        return None
    if traj.internal_tests:
        found = _final_generation(traj)
        if found is not None:
            step, answer = found
            msgs = [_msg(m) for m in step.messages or []] + [{"role": "assistant", "content": answer}]
            if not validate_messages(msgs, raise_error=False):
                shape = "multi_turn" if sum(1 for m in msgs if m["role"] == "user") > 1 else "one_turn"
                return msgs, shape
    head = _task_turns(traj, problem)
    if head is None:
        return None
    msgs = [*head, {"role": "assistant", "content": code_block(traj.final_code)}]
    if validate_messages(msgs, raise_error=False):
        return None
    return msgs, "one_turn"


def validate_messages(messages: Sequence[Mapping[str, Any]], *, raise_error: bool = True) -> list[str]:
    """Check the SFT conversational format; return the problems found
    (raise :class:`ValueError` with them instead when ``raise_error``).

    An optional first ``system`` message, then ``user`` and ``assistant``
    alternating (user first), ending with ``assistant``; every content a
    non-empty string; no other keys."""
    problems: list[str] = []
    if not isinstance(messages, (list, tuple)) or not messages:
        problems.append("messages must be a non-empty list")
    else:
        body = list(messages)
        if isinstance(body[0], Mapping) and body[0].get("role") == "system":
            body = body[1:]
        for i, m in enumerate(messages):
            if not isinstance(m, Mapping) or set(m) != {"role", "content"}:
                problems.append(f"message {i}: must have exactly the keys role and content")
            elif not isinstance(m["content"], str) or not m["content"].strip():
                problems.append(f"message {i}: empty content")
        if not body:
            problems.append("no user/assistant turns")
        for i, m in enumerate(body):
            want = "user" if i % 2 == 0 else "assistant"
            if not isinstance(m, Mapping) or m.get("role") != want:
                problems.append(f"turn {i}: expected {want}, got {m.get('role') if isinstance(m, Mapping) else m!r}")
                break
        if body and isinstance(body[-1], Mapping) and body[-1].get("role") != "assistant":
            problems.append("the last message must be the assistant's")
    if problems and raise_error:
        raise ValueError("; ".join(problems))
    return problems


# ---------------------------------------------------------------------------
# Many runs -> JSONL lines
# ---------------------------------------------------------------------------


@dataclass
class ExportResult:
    lines: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def describe(self) -> str:
        c = self.counts
        skipped = ", ".join(f"{k[8:]}: {v}" for k, v in sorted(c.items()) if k.startswith("skipped_"))
        text = (
            f"exported {len(self.lines)} samples ({c['multi_turn']} multi-turn, {c['one_turn']} one-turn) "
            f"from {c['records']} records"
        )
        return text + (f"; skipped {skipped}" if skipped else "")


Guard = Callable[[str], Sequence[str]]


def _selected(entry: RunEntry, only_passed: bool, methods: set[str] | None) -> str | None:
    """None when the entry is wanted, else why not."""
    rec, traj = entry.record, entry.trajectory
    if methods is not None and rec.strategy not in methods:
        return "method"
    if rec.error:
        return "error"
    if traj is None:
        return "no_trajectory"
    if only_passed:
        return None if rec.hidden_passed else "not_passed"
    return None if traj.internal_passed is True else "not_internally_passed"


def export_chat(
    runs: Iterable[str | Path],
    *,
    only_passed: bool = False,
    methods: Iterable[str] | None = None,
    dedupe: bool = True,
    include_metadata: bool = True,
    problems: Callable[[RunEntry], Problem | None] | None = None,
    guard: Callable[[RunEntry], Sequence[str]] | None = None,
) -> ExportResult:
    """Build the chat-jsonl lines for ``runs`` (run folders).

    ``problems(entry)`` may supply the :class:`Problem` for one-turn
    samples whose prompt was not recorded; ``guard(entry)`` returns text
    that must not appear in a sample (the task's hidden asserts): a sample
    containing any of it is dropped and counted as ``skipped_guard``.
    """
    wanted = {m.strip() for m in methods if m.strip()} if methods is not None else None
    out = ExportResult()
    seen: set[str] = set()
    for run in runs:
        for entry in read_run(run):
            out.counts["records"] += 1
            why = _selected(entry, only_passed, wanted)
            if why is not None:
                out.counts[f"skipped_{why}"] += 1
                continue
            assert entry.trajectory is not None
            problem = problems(entry) if problems is not None else None
            built = conversation(entry.trajectory, problem)
            if built is None:
                out.counts["skipped_unbuildable"] += 1
                continue
            msgs, shape = built
            text = json.dumps(msgs, ensure_ascii=False, sort_keys=True)
            if guard is not None and any(frag and frag in text for frag in guard(entry)):
                out.counts["skipped_guard"] += 1
                continue
            key = hashlib.sha256(text.encode()).hexdigest()
            if dedupe and key in seen:
                out.counts["skipped_duplicate"] += 1
                continue
            seen.add(key)
            obj: dict[str, Any] = {"messages": msgs}
            if include_metadata:
                rec = entry.record
                obj["metadata"] = {
                    "task_id": rec.task_id,
                    "sample": rec.sample,
                    "strategy": rec.strategy,
                    "model": rec.model,
                    "run": entry.run.name,
                    "shape": shape,
                    "iterations": rec.iterations,
                    "internal_passed": bool(entry.trajectory.internal_passed),
                    "hidden_passed": bool(rec.hidden_passed),
                }
            out.lines.append(json.dumps(obj, ensure_ascii=False))
            out.counts[shape] += 1
    return out


# ---------------------------------------------------------------------------
# The run's benchmark: prompts for one-turn samples, hidden text for the guard
# ---------------------------------------------------------------------------


class BenchmarkLookup:
    """Loads each run's benchmark once (from its config.json) to supply
    problems and the hidden-assert guard. A benchmark that cannot be loaded
    (moved file, no network for a download) leaves both off for that run;
    ``unavailable`` lists such runs."""

    def __init__(self) -> None:
        self._tasks: dict[Path, dict[str, Any] | None] = {}
        self.unavailable: list[str] = []

    def _load(self, entry: RunEntry) -> dict[str, Any] | None:
        if entry.run not in self._tasks:
            bench = entry.config.get("benchmark") or {}
            name = bench.get("name") if isinstance(bench, Mapping) else bench
            tasks = None
            if name:
                try:

                    loaded = load_benchmark(name, problems_file=bench.get("problems_file") if isinstance(bench, Mapping) else None)
                    tasks = {t.problem.task_id: t for t in loaded}
                except Exception:  # any failure: export without it, and say so
                    tasks = None
            if tasks is None:
                self.unavailable.append(str(entry.run))
            self._tasks[entry.run] = tasks
        return self._tasks[entry.run]

    def problem(self, entry: RunEntry) -> Problem | None:
        tasks = self._load(entry)
        task = tasks.get(entry.record.task_id) if tasks else None
        return task.problem if task is not None else None

    def hidden(self, entry: RunEntry) -> Sequence[str]:

        tasks = self._load(entry)
        task = tasks.get(entry.record.task_id) if tasks else None
        return hidden_fragments(task) if task is not None else ()
