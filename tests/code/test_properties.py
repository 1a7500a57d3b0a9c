"""Property-based tests of the extractor on generated answers (hypothesis)."""

from __future__ import annotations

import keyword

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coderefl.code.extract import completion_to_module, extract_asserts, extract_code, syntax_error

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda s: not keyword.iskeyword(s) and s not in {"print", "assert", "candidate", "solution", "sys", "math", "x", "y", "i", "result"}
)
prose_line = st.sampled_from(
    [
        "Here is the solution.",
        "Sure! Below is an efficient implementation:",
        "This runs in O(n) time.",
        "Example usage:",
        "Output:",
        "Let me know if you need anything else!",
        "Note that the input may be empty.",
        "",
    ]
)
prose = st.lists(prose_line, max_size=3).map("\n".join)


@st.composite
def solutions(draw):
    """A function that calls a helper and reads a constant, plus its expected value."""
    fn, helper, const = draw(st.lists(names, min_size=3, max_size=3, unique=True))
    a = draw(st.integers(-1000, 1000))
    b = draw(st.integers(-1000, 1000))
    code = (
        f"{const.upper()}_K = {a}\n\n"
        f"def {helper}(x):\n    return x + {const.upper()}_K\n\n"
        f"def {fn}(x):\n    result = {helper}(x)\n    return result * 2\n"
    )
    expected = (b + a) * 2
    return fn, code, b, expected


junk_after = st.sampled_from(
    [
        "",
        "\nprint({fn}(1))\n",
        "\nresult = {fn}(3)\nprint(result)\n",
        "\nassert {fn}(0) is not None\n",
        '\nif __name__ == "__main__":\n    print({fn}(2))\n',
        "\nfor i in range(3):\n    print({fn}(i))\n",
    ]
)


@st.composite
def answers(draw):
    fn, code, arg, expected = draw(solutions())
    junk = draw(junk_after).format(fn=fn)
    style = draw(st.sampled_from(["fence", "fence-untagged", "tilde", "no-fence", "truncated-fence", "split-blocks"]))
    before, after = draw(prose), draw(prose)
    body = code + junk
    if style == "fence":
        text = f"{before}\n```python\n{body}```\n{after}"
    elif style == "fence-untagged":
        text = f"{before}\n```\n{body}```\n{after}"
    elif style == "tilde":
        text = f"{before}\n~~~py\n{body}~~~\n{after}"
    elif style == "no-fence":
        text = f"{before}\n{body}"
    elif style == "truncated-fence":
        text = f"{before}\n```python\n{body}"
    else:
        helper_part, _, fn_part = code.partition(f"def {fn}")
        text = f"{before}\n```python\n{helper_part}```\n{after}\n```python\ndef {fn}{fn_part}{junk}```"
    return fn, text, arg, expected


@SETTINGS
@given(answers())
def test_extracted_module_runs_and_does_nothing_else(case):
    fn, text, arg, expected = case
    ex = extract_code(text, fn)
    assert ex.entry_point_found, text
    assert ex.syntax_error is None, (text, ex)
    ns: dict = {}
    printed: list = []
    ns["print"] = lambda *a, **k: printed.append(a)
    exec(compile(ex.code, "<solution>", "exec"), ns)
    assert printed == []  # no example usage ran
    assert ns[fn](arg) == expected
    assert "assert" not in ex.code and "__main__" not in ex.code


@SETTINGS
@given(st.text(max_size=400), st.one_of(st.none(), names))
def test_never_raises_and_reports_consistently(text, entry):
    ex = extract_code(text, entry)
    assert isinstance(ex.code, str)
    if ex.code and ex.syntax_error is None:
        compile(ex.code, "<solution>", "exec")  # a clean report means it compiles
    if not ex.code:
        assert not ex.entry_point_found


code_chars = st.text(alphabet="abcdefxyz0123456789 ()[]{}:=+-*/,.'\"\n\t#@\\", max_size=120)


@SETTINGS
@given(st.one_of(code_chars, st.text(max_size=120)))
def test_syntax_error_none_means_it_compiles(code):
    msg = syntax_error(code)
    if msg is None:
        compile(code, "<x>", "exec")
    else:
        assert msg.startswith("line ") and ", column " in msg


@SETTINGS
@given(
    st.lists(st.tuples(names, st.integers(-99, 99), st.integers(-99, 99)), min_size=1, max_size=30),
    st.lists(prose_line, max_size=4),
    st.integers(1, 25),
)
def test_asserts_are_split_deduped_checked_and_capped(triples, noise, limit):
    asserts = [f"assert {f}({a}) == {b}" for f, a, b in triples]
    lines = []
    for i, a in enumerate(asserts):
        lines.append(a)
        if i % 3 == 0:
            lines.append(a)  # duplicates
        if noise and i % 4 == 1:
            lines.append(noise[i % len(noise)])
    text = "```python\n" + "\n".join(lines) + "\n```"
    got = extract_asserts(text, limit=limit)
    unique = list(dict.fromkeys(asserts))
    assert got == unique[:limit] or (noise and set(got) <= set(unique) and len(got) <= limit)
    for a in got:
        compile(a, "<t>", "exec")


@SETTINGS
@given(
    names,
    st.integers(-50, 50),
    st.sampled_from(["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\nassert "]),
    st.text(alphabet="abc()=:. \n", max_size=40),
)
def test_completion_cut_at_stop_sequences(fn, k, stop, garbage):
    prompt = f'def {fn}(x):\n    """Add {k}."""\n'
    body = f"    y = x + {k}\n    return y\n"
    module = completion_to_module(prompt, body + stop + garbage)
    assert module.startswith(prompt + body.rstrip("\n"))
    ns: dict = {}
    exec(compile(module, "<m>", "exec"), ns)
    assert ns[fn](1) == 1 + k
