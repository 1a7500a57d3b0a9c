"""Custom problem sets: JSONL (one problem per line) or YAML (a list, or a
mapping with a ``problems`` list). Schema in ``problems/SCHEMA.md``.

Fields: ``task_id``, ``prompt``, ``entry_point``, ``tests`` (hidden: a
tests file as one string, or a list of assert snippets), ``visible_tests``
(list, optional), ``canonical_solution`` (full module, optional),
``language`` (``python``). Unknown fields are refused, so a typo cannot
silently drop the hidden tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from coderefl.errors import BadInput
from coderefl.problems._common import asserts_as_test_functions
from coderefl.records import BenchmarkTask, HiddenTests, Problem


class CustomProblem(BaseModel):
    """One problem as written in a custom set file."""

    model_config = ConfigDict(extra="forbid")

    task_id: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    entry_point: str = Field(min_length=1)
    tests: str | list[str]
    visible_tests: list[str] = Field(default_factory=list)
    canonical_solution: str | None = None
    language: Literal["python"] = "python"

    @field_validator("tests")
    @classmethod
    def _tests_not_empty(cls, v: str | list[str]) -> str | list[str]:
        if (isinstance(v, str) and not v.strip()) or (isinstance(v, list) and not any(s.strip() for s in v)):
            raise ValueError("hidden tests are empty")
        return v

    def to_task(self, source: str) -> BenchmarkTask:
        test_code = self.tests if isinstance(self.tests, str) else asserts_as_test_functions(self.tests)
        return BenchmarkTask(
            problem=Problem(
                task_id=self.task_id,
                prompt=self.prompt,
                entry_point=self.entry_point,
                visible_tests=self.visible_tests,
                language=self.language,
                source=source,
            ),
            hidden=HiddenTests(test_code=test_code, canonical_solution=self.canonical_solution),
        )


def _read_jsonl(path: Path, text: str) -> list[tuple[str, object]]:
    items = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise BadInput(f"{path}:{lineno}: not valid JSON: {err.msg}") from err
    return items


def _read_yaml(path: Path, text: str) -> list[tuple[str, object]]:
    try:
        import yaml
    except ImportError as err:
        raise BadInput("YAML problem sets need PyYAML: pip install pyyaml") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise BadInput(f"{where}: not valid YAML: {getattr(err, 'problem', None) or err}") from err
    if isinstance(data, dict) and "problems" in data:
        data = data["problems"]
    if not isinstance(data, list):
        raise BadInput(f"{path}: expected a list of problems (or a mapping with 'problems')")
    return [(f"{path} problem #{i + 1}", item) for i, item in enumerate(data)]


def load_custom(path: str | Path) -> list[BenchmarkTask]:
    """Load a custom set; the file's stem becomes ``Problem.source``."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise BadInput(f"problem set not found: {path}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise BadInput(f"cannot read problem set {path}: {err}") from err
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        items = _read_jsonl(path, text)
    elif suffix in (".yaml", ".yml"):
        items = _read_yaml(path, text)
    else:
        raise BadInput(f"{path}: unknown problem set format {suffix!r}; use .jsonl, .yaml or .yml")
    tasks: list[BenchmarkTask] = []
    seen: set[str] = set()
    for where, item in items:
        try:
            spec = CustomProblem.model_validate(item)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "problem"
            raise BadInput(f"{where}: {loc}: {first['msg']}") from err
        if spec.task_id in seen:
            raise BadInput(f"{where}: duplicate task_id {spec.task_id!r}")
        seen.add(spec.task_id)
        tasks.append(spec.to_task(source=path.stem))
    if not tasks:
        raise BadInput(f"{path}: no problems")
    return tasks
