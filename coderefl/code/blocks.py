"""Find the Python code in a model's free-form answer.

Why line-based and forgiving: models wrap code in markdown fences (with or
without a language tag, ``~~~`` or backticks, indented inside a list),
CodeLlama-style ``[PYTHON]`` tags, or no fence at all with prose around
it; and a long answer is often cut off inside its last block. Each case
yields the code text; deciding which block holds the answer is
``coderefl.code.extract``'s job.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from coderefl.code.parser import parse

#: fence tags taken as Python (an empty tag too)
PYTHON_TAGS = {"", "python", "py", "python3", "py3", "python2", "ipython", "sage"}

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<tag>[\w+.#-]*)[^\n`]*$")
_TAGGED = re.compile(r"\[PYTHON\](.*?)(?:\[/PYTHON\]|$)", re.S | re.I)
_CODE_START = re.compile(r"^(?:async\s+def\s|def\s|class\s|import\s|from\s+[\w.]+\s+import\s|@\w)")
_ASSIGN_OR_COMMENT = re.compile(r"^(?:#|[A-Za-z_][\w]*(?:\s*,\s*[A-Za-z_]\w*)*\s*(?::[^=]+)?=(?!=))")
_COMPOUND = re.compile(
    r"^(?:async\s|def\s|class\s|if\s|elif\s|else\s*:|for\s|while\s|try\s*:|except\b|finally\s*:|with\s|match\s|case\s|@)"
)


@dataclass(frozen=True)
class Block:
    """One piece of code found in an answer."""

    code: str
    tag: str = ""  # the fence's language tag, lower-case
    fenced: bool = True
    closed: bool = True  # False: the answer ended inside this block (truncated)


def fenced_blocks(response: str) -> list[Block]:
    """Every fenced block, in order; an unclosed last block runs to the end."""
    lines = response.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, tag = m.group("fence"), m.group("tag").lower()
        body: list[str] = []
        j = i + 1
        closed = False
        while j < len(lines):
            line = lines[j]
            stripped = line.strip()
            if stripped.startswith(fence[0] * 3) and stripped.strip(fence[0]) == "":
                closed = True
                break
            if stripped.endswith(fence) and not stripped.startswith(fence[0] * 3):
                # code line with the closing fence glued to it: "    return x```"
                body.append(line.rstrip()[: -len(fence)])
                closed = True
                break
            body.append(line)
            j += 1
        blocks.append(Block(textwrap.dedent("\n".join(body)).strip("\n") + "\n", tag, True, closed))
        i = j + 1
    return [b for b in blocks if b.code.strip()]


def tagged_blocks(response: str) -> list[Block]:
    """CodeLlama-style ``[PYTHON] ... [/PYTHON]`` blocks."""
    return [
        Block(textwrap.dedent(m.group(1)).strip("\n") + "\n", "python", True, m.group(0).upper().endswith("[/PYTHON]"))
        for m in _TAGGED.finditer(response)
        if m.group(1).strip()
    ]


def _is_prose(line: str) -> bool:
    """An unindented line that is not Python on its own (a sentence, "Output:")."""
    s = line.rstrip()
    if not s or s[0] in " \t#":
        return False
    if _COMPOUND.match(s):
        return False
    return parse(s).root_node.has_error


def unfenced_code(response: str) -> str:
    """The code in an answer without fences: from the first line that starts
    a definition or import to the last line before prose resumes."""
    lines = response.splitlines()
    if ">>>" in response:  # a REPL transcript at column 0 (not doctests inside docstrings)
        lines = [ln for ln in lines if not ln.startswith((">>>", "..."))]
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return ""
    # constants and comments just above the first definition belong to it
    while start > 0 and (_ASSIGN_OR_COMMENT.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    whole = "\n".join(lines[start:]).strip("\n") + "\n"
    if not parse(whole).root_node.has_error:
        return whole  # already valid Python (e.g. a module with a docstring): keep it verbatim
    kept: list[str] = []
    for ln in lines[start:]:
        if _is_prose(ln):
            continue  # a sentence between or after definitions
        kept.append(ln)
    return "\n".join(kept).strip("\n") + "\n"


_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)


def strip_reasoning(response: str) -> str:
    """Drop a reasoning model's ``<think>...</think>`` section: drafts in it
    are not the answer. An unclosed section (the answer was cut off while
    thinking) is kept, since it is all there is."""
    return _THINK.sub("", response)


def python_blocks(response: str) -> list[Block]:
    """The candidate Python blocks of an answer, in order of appearance.

    Fenced blocks tagged as Python (or untagged); else ``[PYTHON]`` blocks;
    else the unfenced code around the prose; else nothing."""
    response = strip_reasoning(response)
    fenced = fenced_blocks(response)
    py = [b for b in fenced if b.tag in PYTHON_TAGS]
    if py:
        return py
    tagged = tagged_blocks(response)
    if tagged:
        return tagged
    if fenced:
        # only blocks in other languages: a Python-looking one may still be mislabelled
        return [b for b in fenced if _CODE_START.match(b.code.lstrip())]
    code = unfenced_code(response)
    return [Block(code, "", False, True)] if code.strip() else []
