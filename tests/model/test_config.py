"""Layered model settings: defaults < coderefl.toml < env < flags."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from coderefl.cli.options import model_options, pop_model_flags
from coderefl.config import (
    ModelConfig,
    load_settings,
    resolve_model_config,
)
from coderefl.errors import BadInput


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults():
    c = resolve_model_config(settings={}, env={})
    assert c.model is None and c.base_url is None and c.api == "chat"
    assert (c.temperature, c.max_tokens, c.max_retries, c.concurrency, c.cache) == (0.0, 1024, 5, 16, True)
    assert c.cache_path.name == "responses.sqlite"


def test_each_layer_overrides_the_one_below(tmp_path):
    write(tmp_path / "coderefl.toml", '[model]\nmodel = "from-file"\nbase_url = "http://file/v1/"\ntemperature = 0.5\nmax_tokens = 10\n')
    env = {"CODEREFL_MODEL": "from-env", "OPENAI_BASE_URL": "http://env/v1"}
    c = resolve_model_config(start_dir=tmp_path, env=env, max_tokens=99, temperature=None)
    assert c.model == "from-env"  # env over file
    assert c.base_url == "http://env/v1"  # env over file
    assert c.temperature == 0.5  # file over default; a None flag does not override
    assert c.max_tokens == 99  # flag over file
    c = resolve_model_config(start_dir=tmp_path, env=env, model="from-flag", base_url="http://flag/v1")
    assert (c.model, c.base_url) == ("from-flag", "http://flag/v1")
    c = resolve_model_config(start_dir=tmp_path, env={})
    assert c.base_url == "http://file/v1"  # trailing slash dropped


def test_settings_file_found_upward_and_pyproject_table(tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n\n[tool.coderefl.model]\nmodel = "py-model"\n')
    assert load_settings(deep)["model"] == {"model": "py-model"}
    write(tmp_path / "a" / "coderefl.toml", '[model]\nmodel = "own-file"\n')
    assert load_settings(deep)["model"]["model"] == "own-file"  # nearest wins
    assert load_settings(tmp_path / "a")["_source"].endswith("coderefl.toml")


def test_pyproject_without_table_is_skipped(tmp_path):
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n')
    assert load_settings(tmp_path) == {}


def test_env_names(monkeypatch):
    env = {
        "OPENAI_API_KEY": "sk-1",
        "CODEREFL_TEMPERATURE": "0.7",
        "CODEREFL_MAX_TOKENS": "55",
        "CODEREFL_NO_CACHE": "1",
        "CODEREFL_API": "completions",
    }
    c = resolve_model_config(settings={}, env=env)
    assert (c.api_key, c.temperature, c.max_tokens, c.cache, c.api) == ("sk-1", 0.7, 55, False, "completions")


def test_prices_from_file_and_prefix_lookup():
    settings = {"model": {"model": "my-model", "prices": {"my-model": [1.0, 3.0]}}}
    c = resolve_model_config(settings=settings, env={})
    assert c.price() == (1.0, 3.0)
    assert c.price("gpt-4o-mini-2024-07-18") == c.prices["gpt-4o-mini"]  # longest prefix
    assert c.price("unknown-local-model") == (0.0, 0.0)


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"model": {"temperature": 9}}, "temperature"),
        ({"model": {"api": "rest"}}, "api"),
        ({"model": {"max_tokens": 0}}, "max_tokens"),
    ],
)
def test_bad_values_are_one_line_bad_input(settings, match):
    with pytest.raises(BadInput, match=match) as info:
        resolve_model_config(settings=settings, env={})
    assert "\n" not in str(info.value)


def test_broken_toml_names_the_file(tmp_path):
    write(tmp_path / "coderefl.toml", "[model\nmodel = 1\n")
    with pytest.raises(BadInput, match="coderefl.toml"):
        load_settings(tmp_path)


def test_redacted_hides_the_key():
    c = ModelConfig(model="m", api_key="sk-secret")
    assert "sk-secret" not in str(c.redacted())


def test_click_options_feed_the_resolver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CODEREFL_MODEL", "env-model")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    seen = {}

    @click.command()
    @model_options
    def cmd(**kwargs):
        seen["config"] = resolve_model_config(**pop_model_flags(kwargs))
        seen["rest"] = kwargs

    result = CliRunner().invoke(cmd, ["--base-url", "http://h:1/v1", "--temperature", "0.3", "--no-cache", "--timeout", "7"])
    assert result.exit_code == 0, result.output
    c = seen["config"]
    assert (c.model, c.base_url, c.temperature, c.cache, c.timeout_s) == ("env-model", "http://h:1/v1", 0.3, False, 7.0)
    assert seen["rest"] == {}
    result = CliRunner().invoke(cmd, ["--model", "flag-model"])
    assert seen["config"].model == "flag-model" and seen["config"].cache is True
