"""Layered settings: defaults < coderefl.toml < environment < flags.

Why one place: configuration read ad hoc from the environment in many
modules is hard to test and to explain. Every layer is merged here, once,
into one typed :class:`ModelConfig`; nothing else reads ``os.environ`` for
model settings.

File layer: the first ``coderefl.toml`` found walking up from the current
directory, else a ``pyproject.toml`` with a ``[tool.coderefl]`` table. Model
settings live in its ``[model]`` table, prices in ``[model.prices]``::

    [model]
    model = "gpt-4o-mini"
    base_url = "http://gpu-box:8000/v1"
    temperature = 0.2
    concurrency = 8

    [model.prices]            # USD per 1M tokens: [prompt, completion]
    "gpt-4o-mini" = [0.15, 0.60]
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import click
import platformdirs
from pydantic import BaseModel, Field, ValidationError, field_validator

from coderefl.errors import BadInput

#: a few list prices (USD per 1M prompt tokens, per 1M completion tokens);
#: a ``[model.prices]`` table extends or overrides them. Unknown models cost 0.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}


def default_cache_path() -> Path:
    return Path(platformdirs.user_cache_dir("coderefl")) / "responses.sqlite"


class ModelConfig(BaseModel):
    """Everything the model client needs, after all layers are merged."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    api: Literal["chat", "completions"] = "chat"
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(1024, ge=1)
    timeout_s: float = Field(60.0, gt=0)
    max_retries: int = Field(5, ge=0)
    concurrency: int = Field(16, ge=1, description="max in-flight requests per endpoint (base_url)")
    cache: bool = True
    cache_path: Path = Field(default_factory=default_cache_path)
    #: the endpoint's name in the response cache key (default: base_url); the
    #: embedded server, on a new port each run, names itself here
    cache_endpoint: str | None = None
    prices: dict[str, tuple[float, float]] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @field_validator("cache_path")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return Path(v).expanduser()

    def price(self, model: str | None = None) -> tuple[float, float]:
        """(USD per 1M prompt tokens, per 1M completion tokens) for ``model``.

        Exact name first, then the longest configured prefix (so
        ``gpt-4o-mini-2024-07-18`` finds ``gpt-4o-mini``); else free."""
        name = model or self.model or ""
        if name in self.prices:
            return self.prices[name]
        best = max((k for k in self.prices if name.startswith(k)), key=len, default=None)
        return self.prices[best] if best else (0.0, 0.0)

    def redacted(self) -> dict[str, Any]:
        """For logs and run records: no secrets."""
        data = self.model_dump(mode="json", exclude={"prices"})
        if data.get("api_key"):
            data["api_key"] = "***"
        return data


# --------------------------------------------------------------------------
# file layer
# --------------------------------------------------------------------------


def find_settings_file(start_dir: Path | None = None) -> Path | None:
    """The nearest coderefl.toml, or pyproject.toml with [tool.coderefl], walking up."""
    here = (start_dir or Path.cwd()).resolve()
    for d in (here, *here.parents):
        own = d / "coderefl.toml"
        if own.is_file():
            return own
        pyproject = d / "pyproject.toml"
        if pyproject.is_file():
            try:
                data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue
            if isinstance(data.get("tool"), dict) and "coderefl" in data["tool"]:
                return pyproject
    return None


def load_settings(start_dir: Path | None = None) -> dict:
    """The merged file layer as a plain dict (empty when no file is found).

    Raises :class:`BadInput` with the file name when the TOML is broken."""
    path = find_settings_file(start_dir)
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise BadInput(f"{path}: not valid TOML: {err}") from None
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("coderefl", {})
    data = dict(data)
    data.setdefault("_source", str(path))
    return data


# --------------------------------------------------------------------------
# env layer
# --------------------------------------------------------------------------

#: ModelConfig field -> environment variables, later ones win
ENV_VARS: dict[str, tuple[str, ...]] = {
    "model": ("CODEREFL_MODEL",),
    "base_url": ("OPENAI_BASE_URL", "CODEREFL_BASE_URL"),
    "api_key": ("OPENAI_API_KEY", "CODEREFL_API_KEY"),
    "api": ("CODEREFL_API",),
    "temperature": ("CODEREFL_TEMPERATURE",),
    "max_tokens": ("CODEREFL_MAX_TOKENS",),
    "timeout_s": ("CODEREFL_TIMEOUT",),
    "max_retries": ("CODEREFL_MAX_RETRIES",),
    "concurrency": ("CODEREFL_CONCURRENCY",),
    "cache_path": ("CODEREFL_CACHE_PATH",),
}


def _env_layer(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fieldname, names in ENV_VARS.items():
        for name in names:
            value = env.get(name)
            if value not in (None, ""):
                out[fieldname] = value
    no_cache = env.get("CODEREFL_NO_CACHE", "").strip().lower()
    if no_cache in ("1", "true", "yes", "on"):
        out["cache"] = False
    return out


def _file_layer(settings: Mapping[str, Any]) -> dict[str, Any]:
    section = settings.get("model", {})
    if not isinstance(section, dict):
        # `model = "name"` at top level is a common shorthand
        section = {"model": section}
    out = dict(section)
    prices = dict(DEFAULT_PRICES)
    where = settings.get("_source", "coderefl.toml")
    for name, table in (("prices", settings.get("prices")), ("model.prices", out.pop("prices", None))):
        if table is None:
            continue
        if not isinstance(table, dict):
            raise BadInput(f"{where}: [{name}] must be a table of model = [prompt, completion] USD per 1M tokens")
        prices.update({str(k): _price(where, name, k, v) for k, v in table.items()})
    out["prices"] = prices
    if "timeout" in out and "timeout_s" not in out:
        out["timeout_s"] = out.pop("timeout")
    unknown = sorted(set(out) - set(ModelConfig.model_fields))
    if unknown:  # a typo (`temprature = 0.5`) must not be silently ignored
        known = ", ".join(k for k in ModelConfig.model_fields if k != "cache_endpoint")
        raise BadInput(f"{where}: [model] has no setting {unknown[0]!r} (settings: {known}, timeout)")
    return out


def _price(where: str, table: str, model: Any, value: Any) -> tuple[float, float]:
    """One price table entry, checked: two non-negative numbers."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in value)
    ):
        return (float(value[0]), float(value[1]))
    raise BadInput(
        f"{where}: [{table}] {model!r} must be [prompt, completion] USD per 1M tokens "
        f"(two numbers >= 0), got {value!r}"
    )


def resolve_model_config(
    *,
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    start_dir: Path | None = None,
    **flags: Any,
) -> ModelConfig:
    """Merge defaults < file < env < flags into one ModelConfig.

    ``None`` flags are ignored, so click options can pass straight through.
    ``no_cache=True`` is accepted as a flag and means ``cache=False``;
    ``timeout`` as an alias of ``timeout_s``. ``settings``/``env`` override
    the real file and environment (tests)."""
    merged: dict[str, Any] = {}
    merged.update(_file_layer(settings if settings is not None else load_settings(start_dir)))
    merged.update(_env_layer(os.environ if env is None else env))
    flags = {k: v for k, v in flags.items() if v is not None}
    if flags.pop("no_cache", False):
        flags["cache"] = False
    if "timeout" in flags:
        flags["timeout_s"] = flags.pop("timeout")
    unknown = set(flags) - set(ModelConfig.model_fields)
    if unknown:
        raise TypeError(f"unknown model settings: {sorted(unknown)}")
    merged.update(flags)
    merged = {k: v for k, v in merged.items() if k in ModelConfig.model_fields}
    try:
        return ModelConfig(**merged)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BadInput(f"bad model setting {where}: {first['msg']} (got {first.get('input')!r})") from None


# --------------------------------------------------------------------------
# click layer
# --------------------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

#: names model_options adds to the command's kwargs; pass them to resolve_model_config
MODEL_OPTION_NAMES = ("model", "base_url", "api_key", "api", "temperature", "max_tokens", "no_cache", "timeout")


def model_options(f: F) -> F:
    """Click decorator: the model flags. Env vars are read by
    :func:`resolve_model_config` (so the documented precedence holds), hence
    no ``envvar=`` here; flags left unset arrive as ``None``."""
    options = [
        click.option("--model", "model", default=None, help="Model name [env CODEREFL_MODEL]."),
        click.option("--base-url", "base_url", default=None, help="OpenAI-compatible endpoint, e.g. http://host:8000/v1 [env OPENAI_BASE_URL]."),
        click.option("--api-key", "api_key", default=None, help="API key [env OPENAI_API_KEY]."),
        click.option("--api", "api", type=click.Choice(["chat", "completions"]), default=None, help="chat (instruct models) or completions (base models) [env CODEREFL_API]."),
        click.option("--temperature", "temperature", type=float, default=None, help="Sampling temperature [env CODEREFL_TEMPERATURE]."),
        click.option("--max-tokens", "max_tokens", type=int, default=None, help="Max tokens per answer [env CODEREFL_MAX_TOKENS]."),
        click.option("--timeout", "timeout", type=float, default=None, help="Seconds per request before retrying [env CODEREFL_TIMEOUT]."),
        click.option("--no-cache", "no_cache", is_flag=True, default=None, help="Bypass the response cache [env CODEREFL_NO_CACHE=1]."),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def pop_model_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the model flags from a command's kwargs and return them."""
    return {name: kwargs.pop(name) for name in MODEL_OPTION_NAMES if name in kwargs}
