"""Small helpers shared by the loaders: atomic writes and test-file assembly.

Hidden and generated tests are turned into ``test_*`` functions so the
sandbox runner reports one outcome per assert, whatever it does with bare
top-level statements.
"""

from __future__ import annotations

import ast
import textwrap

# the line that puts a tests file in judge mode (docs/sandbox.md): hidden tests always carry it
from coderefl.execution.jobs import PLAIN_VALUES_PRAGMA, with_plain_values  # noqa: F401,E402


def asserts_as_test_functions(asserts: list[str], *, prefix: str = "test_", header: str = "") -> str:
    """A tests file with one ``test_<i>`` function per snippet, after ``header``
    (imports the snippets need)."""
    parts = [header.rstrip() + "\n"] if header.strip() else []
    for i, snippet in enumerate(s for s in asserts if s.strip()):
        body = textwrap.indent(textwrap.dedent(snippet).strip("\n"), "    ")
        parts.append(f"\ndef {prefix}{i + 1}():\n{body}\n")
    return "".join(parts)


def tests_file_from_snippets(snippets: list[str]) -> str:
    """A tests file from generated snippets: ones that already define
    ``test_*`` functions are kept as they are, bare asserts are wrapped in
    one ``test_gen_<i>`` function each (so none passes vacuously)."""
    parts: list[str] = []
    for i, snippet in enumerate(s for s in snippets if s.strip()):
        code = textwrap.dedent(snippet).strip("\n")
        if _defines_test_function(code):
            parts.append(f"\n{code}\n")
        else:
            parts.append(f"\ndef test_gen_{i + 1}():\n{textwrap.indent(code, '    ')}\n")
    return "".join(parts)


def _defines_test_function(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test") for n in tree.body)
