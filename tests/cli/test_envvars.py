"""One environment variable per setting, declared once (coderefl/envvars.py).

What is checked: the README's table is the code's table; no file reads or
mentions a CODEREFL_* variable that the table lacks; every option the table
names exists and gets exactly its variable (click's automatic
CODEREFL_<COMMAND>_<OPTION> names are gone); the documented defaults are the
code's; and a bad value of any variable is one line naming it, exit 2, no
traceback, through the CLI.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from coderefl.cli.main import COMMANDS, cli, main
from coderefl.cli.options import RegistryChoice
from coderefl.config import ModelConfig, resolve_model_config
from coderefl.envvars import (
    ENVIRONMENT,
    README_BEGIN,
    README_END,
    every_name,
    flag_bindings,
    markdown_table,
    parse_bool,
    variable,
)
from coderefl.errors import BadInput
from coderefl.records import Limits
from coderefl.strategies.base import AgentConfig

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"CODEREFL_[A-Z0-9][A-Z0-9_]*")
#: planted by the sandbox tests to prove the host environment never reaches a program; not settings
CANARIES = {"CODEREFL_HOST_CANARY", "CODEREFL_CANARY_SECRET"}


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "CODEREFL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no coderefl.toml above
    return monkeypatch


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def all_commands() -> dict[str, click.Command]:
    """Every command and subcommand by path ("sandbox run"), loaded as the CLI loads them."""
    ctx = click.Context(cli)
    out: dict[str, click.Command] = {}

    def walk(cmd: click.Command, path: str) -> None:
        out[path] = cmd
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, f"{path} {name}")

    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        walk(command, name)
    return out


def option(path: str, flag: str) -> click.Option:
    found = [p for p in all_commands()[path].params if isinstance(p, click.Option) and flag in p.opts]
    assert len(found) == 1, (path, flag)
    return found[0]


# --------------------------------------------------------------------------
# one table, one README copy
# --------------------------------------------------------------------------


def test_readme_table_is_the_code_table():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert text.count(README_BEGIN) == 1 and text.count(README_END) == 1
    shown = text.split(README_BEGIN)[1].split(README_END)[0].strip("\n") + "\n"
    assert shown == markdown_table(), "README's table is stale: paste `python -m coderefl.envvars` between the markers"


def test_each_variable_and_each_option_once():
    names = [n for v in ENVIRONMENT for n in (v.name, *v.aliases)]
    assert len(names) == len(set(names))
    assert all(v.name.startswith("CODEREFL_") for v in ENVIRONMENT)
    flag_bindings()  # raises when two variables claim one option
    fields = [v.field for v in ENVIRONMENT if v.field]
    assert len(fields) == len(set(fields)) and set(fields) <= set(ModelConfig.model_fields)


def _files() -> list[Path]:
    roots = ["coderefl", "sandbox", "scripts", "tests", "docs", ".ci"]
    files = [p for r in roots for p in (ROOT / r).rglob("*") if p.is_file() and p.suffix not in (".pyc", ".png", ".gz")]
    files += [ROOT / n for n in ("README.md", "BENCHMARKS.md", "pyproject.toml", ".pre-commit-hooks.yaml")]
    return [p for p in files if p.exists() and p != Path(__file__).resolve() and "__pycache__" not in p.parts]


def test_no_file_uses_a_variable_missing_from_the_table():
    """Code that reads it, a script, a test that sets it, a doc that names it:
    every CODEREFL_* name anywhere in the repository is in the table."""
    known = every_name() | CANARIES
    stray: dict[str, list[str]] = {}
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for name in NAME.findall(text):
            if name in known or (name.endswith("_") and any(k.startswith(name) for k in known)):
                continue  # a variable, or a family's prefix ("CODEREFL_FIX_*")
            stray.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not stray, stray


def test_the_scan_finds_a_stray_name():
    """The scan above is not vacuous: the old automatic names are strays."""
    text = "flags also come from CODEREFL_EVAL_<FLAG>, e.g. CODEREFL_EVAL_CONCURRENCY=16"
    found = set(NAME.findall(text))
    assert found == {"CODEREFL_EVAL_", "CODEREFL_EVAL_CONCURRENCY"}
    assert not any(k.startswith(n) for n in found for k in every_name())


# --------------------------------------------------------------------------
# the CLI binds exactly the table
# --------------------------------------------------------------------------


def test_every_option_gets_exactly_the_table_variable():
    bound: dict[tuple[str, str], list[str]] = {}
    for path, command in all_commands().items():
        assert "auto_envvar_prefix" not in command.context_settings, path
        for param in command.params:
            if isinstance(param, click.Option) and param.envvar:
                flag = next(o for o in param.opts if o.startswith("--"))
                bound[(path, flag)] = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
    assert "auto_envvar_prefix" not in cli.context_settings
    expected = {key: [v.name, *v.aliases] for key, v in flag_bindings().items()}
    assert bound == expected  # no option missing (a stale row), none extra (an envvar= outside the table)


def test_no_envvar_declared_outside_the_table():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "coderefl").rglob("*.py")
        if re.search(r"\benvvar\s*=\s*[\w\[\"'(]|auto_envvar_prefix\"?\s*[:=]", p.read_text(encoding="utf-8")) and p.name != "env.py"
    ]
    assert offenders == []


def test_click_automatic_names_are_not_read(clean_env, capsys):
    """With the old automatic prefix these values failed parsing; now nothing reads them."""
    clean_env.setenv("CODEREFL_PROBLEMS_LIST_LIMIT", "many")
    clean_env.setenv("CODEREFL_SOLVE_MAX_ITERS", "many")
    code, out, err = run_main(["problems", "list"], capsys)
    assert code == 0 and "humaneval" in out, err
    code, _, err = run_main(["solve", "f", "--entry", "f"], capsys)
    assert "CODEREFL_SOLVE_MAX_ITERS" not in err and "no model configured" in err


def test_help_names_the_variable(clean_env, capsys):
    code, out, _ = run_main(["solve", "--help"], capsys)
    assert code == 0
    flat = " ".join(out.split())
    for name in ("CODEREFL_MAX_ITERS", "CODEREFL_SANDBOX", "CODEREFL_STRATEGY", "CODEREFL_MODEL"):
        assert name in flat


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_documented_defaults_are_the_code_defaults():
    """Each option's own default, AgentConfig's/Limits' when the option defers
    to them, and ModelConfig's for the model variables."""
    agent_field = {"max_tokens_budget": "max_tokens", "max_wall": "max_wall_s"}
    checked = 0
    for (path, flag), row in flag_bindings().items():
        param = option(path, flag)
        default = param.default
        if type(default).__name__ == "Sentinel":  # click's "no default=": off for a flag, else none
            default = False if param.is_flag else None
        if default is None and path in ("solve", "eval"):
            name = agent_field.get(param.name, param.name)
            if name in AgentConfig.model_fields:
                default = AgentConfig.model_fields[name].default
            elif param.name in ("exec_timeout", "exec_memory"):
                default = Limits.model_fields["timeout_s" if param.name == "exec_timeout" else "memory_mb"].default
        if default is None or callable(default):
            continue
        assert _shown(default) in row.default, (path, flag, row.name, default)
        checked += 1
    for row in ENVIRONMENT:
        if row.field and row.field not in ("cache_path", "base_url"):
            default = ModelConfig.model_fields[row.field].default
            shown = "0" if row.field == "cache" else _shown(default if default is not None else "none")
            assert row.default == shown, (row.name, default)
            checked += 1
    assert checked > 40


# --------------------------------------------------------------------------
# a bad value: one line naming the variable, exit 2, through the CLI
# --------------------------------------------------------------------------

#: a valid invocation of each command, one that fails fast if the variable were not read
ARGV = {
    "solve": ["solve", "f", "--entry", "f"],
    "eval": ["eval", "--benchmark", "humaneval"],
    "fix": ["fix"],
    "sandbox run": ["sandbox", "run", "missing.py"],
    "sandbox build": ["sandbox", "build"],
    "problems check": ["problems", "check", "missing.jsonl"],
    "serve-local": ["serve-local", "--local-model", "a.gguf", "--model-path", "b.gguf"],
    "export": ["export", "missing-run"],
}
MODEL_ARGV = ["cache", "stats", "--cache-path", "c.sqlite"]
#: rows that take any text (a name, a path, a URL): no value of them is malformed
ANY_TEXT = {
    "CODEREFL_MODEL", "CODEREFL_BASE_URL", "CODEREFL_API_KEY", "CODEREFL_CACHE_PATH", "CODEREFL_MEMORY",
    "CODEREFL_LOCAL_MODEL", "CODEREFL_SANDBOX_TESTS", "CODEREFL_PROBLEMS_FILE", "CODEREFL_LOCAL_MODEL_PATH",
    "CODEREFL_LOCAL_HOST", "CODEREFL_LOCAL_LOG", "CODEREFL_EXPORT_METHODS", "CODEREFL_EXPORT_OUT",
    "CODEREFL_SANDBOX_IMAGE", "CODEREFL_SANDBOX_DIR", "CODEREFL_MBPP_FILE",
}
#: read outside click and the model layer: (bad value, a command that reads it)
ELSEWHERE = {
    "CODEREFL_FIX_WORKER": ("soon", ["fix", "--dry-run"]),
    "CODEREFL_DEBUG": ("maybe", ["problems", "list"]),
    "CODEREFL_HTTP_TRANSPORT": ("curl", ["models", "check", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                                        "--retries", "0"]),
}


def _bad_value(row) -> tuple[str, list[str]] | None:
    if row.name in ELSEWHERE:
        return ELSEWHERE[row.name]
    if row.field:
        kind = ModelConfig.model_fields[row.field].annotation
        if kind in (int, float):
            return "many", MODEL_ARGV
        if kind is bool:
            return "perhaps", MODEL_ARGV
        if str(kind).startswith("typing.Literal"):
            return "nope", MODEL_ARGV
        return None
    if not row.flags:
        return None
    path, flag = row.flags[0].rsplit(" ", 1)
    kind = option(path, flag).type
    if isinstance(kind, (click.Choice, RegistryChoice)):
        value = "nope"
    elif isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        value = "many"
    elif isinstance(kind, click.types.BoolParamType):
        value = "perhaps"
    else:
        return None
    return value, ARGV[path]


USER_ROWS = [v for v in ENVIRONMENT if v.audience == "user"]


def test_only_free_text_variables_have_no_bad_value():
    untested = {v.name for v in USER_ROWS if _bad_value(v) is None}
    assert untested == ANY_TEXT


@pytest.mark.parametrize("row", [v for v in USER_ROWS if v.name not in ANY_TEXT], ids=lambda v: v.name)
def test_a_bad_value_is_one_line_naming_the_variable(row, clean_env, capsys):
    value, argv = _bad_value(row)
    clean_env.setenv(row.name, value)
    code, _, err = run_main(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("coderefl: error: "), err
    assert row.name in lines[0] and "Traceback" not in err


def test_out_of_range_values_name_the_variable_too(clean_env, capsys):
    """Values click accepts but the settings refuse (checked after parsing)."""
    for name, value, field in (("CODEREFL_MAX_ITERS", "0", "max_iters"), ("CODEREFL_SANDBOX_TIMEOUT", "-1", "timeout_s")):
        clean_env.setenv(name, value)
        code, _, err = run_main(ARGV["solve"], capsys)
        clean_env.delenv(name)
        assert code == 2 and err.count("\n") == 1, err
        assert f"bad agent setting {field} (from environment variable {name})" in err
    clean_env.setenv("CODEREFL_TEMPERATURE", "9")
    code, _, err = run_main(MODEL_ARGV, capsys)
    assert code == 2 and "temperature from environment variable CODEREFL_TEMPERATURE" in err, err


def test_a_flag_beats_its_variable(clean_env, capsys):
    clean_env.setenv("CODEREFL_SANDBOX_TIMEOUT", "many")
    code, _, err = run_main([*ARGV["solve"], "--exec-timeout", "5"], capsys)
    assert "CODEREFL_SANDBOX_TIMEOUT" not in err and "no model configured" in err


@pytest.mark.parametrize(
    "env, named",
    [({"CODEREFL_CANDIDATES": "many"}, "CODEREFL_CANDIDATES"), ({"CODEREFL_API": "rest"}, "CODEREFL_API")],
)
def test_bad_value_in_a_real_process(tmp_path, env, named):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEREFL_"))}
    argv = ARGV["eval"] if "CANDIDATES" in named else MODEL_ARGV
    res = subprocess.run([sys.executable, "-m", "coderefl", *argv], capture_output=True, text=True, cwd=tmp_path,
                         env={**base, **env, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert named in res.stderr and "Traceback" not in res.stderr


# --------------------------------------------------------------------------
# the one deprecated alias, fallbacks, yes/no values
# --------------------------------------------------------------------------


def test_deprecated_alias_still_read_with_a_warning(clean_env, capsys):
    clean_env.setenv("CODEREFL_SANDBOX_BACKEND", "nope")
    code, _, err = run_main(ARGV["sandbox run"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2, err
    assert "CODEREFL_SANDBOX_BACKEND is deprecated" in lines[0] and "set CODEREFL_SANDBOX" in lines[0]
    assert "environment variable CODEREFL_SANDBOX_BACKEND: unknown sandbox backend 'nope'" in lines[1]
    clean_env.setenv("CODEREFL_SANDBOX", "other")  # the current name wins
    code, _, err = run_main(ARGV["sandbox run"], capsys)
    assert "it wins" in err and "environment variable CODEREFL_SANDBOX: unknown sandbox backend 'other'" in err


def test_model_variables_fallbacks_and_yes_no():
    env = {"OPENAI_BASE_URL": "http://openai/v1", "CODEREFL_BASE_URL": "http://mine/v1", "OPENAI_API_KEY": "sk"}
    c = resolve_model_config(settings={}, env=env)
    assert (c.base_url, c.api_key) == ("http://mine/v1", "sk")
    assert resolve_model_config(settings={}, env={"CODEREFL_NO_CACHE": "0"}).cache is True
    assert resolve_model_config(settings={}, env={"CODEREFL_NO_CACHE": "yes"}).cache is False
    with pytest.raises(BadInput, match="CODEREFL_NO_CACHE='sometimes'"):
        resolve_model_config(settings={}, env={"CODEREFL_NO_CACHE": "sometimes"})
    with pytest.raises(BadInput, match="from coderefl.toml"):
        resolve_model_config(settings={"model": {"max_tokens": 0}}, env={})
    assert [parse_bool("X", v) for v in ("1", "on", "TRUE", "", "0", "off")] == [True] * 3 + [False] * 3
    assert variable("CODEREFL_SANDBOX").aliases == ("CODEREFL_SANDBOX_BACKEND",)
