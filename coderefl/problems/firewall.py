"""Evidence for the hidden-test firewall.

``hidden_fragments(task)`` lists distinctive substrings of a task's hidden
tests that the agent could not have seen (absent from the prompt and the
visible tests). A firewall test asserts that none of them appears in any
prompt sent to the model. Fragments are whole assert statements (at least
``min_len`` characters), so a short common expression never counts; an
agent might still, rarely, write a hidden assert verbatim on its own, so
use this with a scripted model or read a hit before calling it a leak.
"""

from __future__ import annotations

import ast

from coderefl.records import BenchmarkTask


def hidden_fragments(task: BenchmarkTask, *, min_len: int = 16) -> list[str]:
    visible = task.problem.prompt + "\n" + "\n".join(task.problem.visible_tests)
    source = task.hidden.test_code
    try:
        tree = ast.parse(source)
    except SyntaxError:
        candidates = [line.strip() for line in source.splitlines() if line.strip().startswith("assert")]
    else:
        candidates = [
            ast.get_source_segment(source, node) or "" for node in ast.walk(tree) if isinstance(node, ast.Assert)
        ]
    out: list[str] = []
    for frag in candidates:
        frag = frag.strip()
        if len(frag) >= min_len and frag not in visible and frag not in out:
            out.append(frag)
    return out
