"""Layered settings: defaults < coderefl.toml < environment < flags.

Why one place: configuration read ad hoc from the environment in many
modules is hard to test and to explain. Every layer is merged here, once,
into one typed :class:`ModelConfig`; nothing else reads ``os.environ`` for
model settings. Plain pydantic, no click: the flags that feed it are
:func:`coderefl.cli.options.model_options`, the variables it reads are the
rows of :data:`coderefl.envvars.ENVIRONMENT` with a ``field``.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, Field, ValidationError, field_validator

from coderefl.envvars import model_fields, parse_bool
from coderefl.errors import BadInput
from coderefl.settings_file import find_settings_file

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
# env layer: the rows of coderefl.envvars with a ModelConfig field
# --------------------------------------------------------------------------


def _env_layer(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, field -> the variable it came from). A fallback (another
    tool's name, e.g. OPENAI_API_KEY) counts when coderefl's own is unset."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for var in model_fields():
        assert var.field is not None
        for name in (*var.fallbacks, *var.aliases, var.name):  # later ones win
            value = env.get(name)
            if value in (None, ""):
                continue
            if var.field == "cache":  # CODEREFL_NO_CACHE: yes means no cache
                out["cache"] = not parse_bool(name, value)
            else:
                out[var.field] = value
            origin[var.field] = name
    return out, origin


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
    settings = settings if settings is not None else load_settings(start_dir)
    merged.update(_file_layer(settings))
    origin = dict.fromkeys(merged, str(settings.get("_source", "coderefl.toml")))
    from_env, env_origin = _env_layer(os.environ if env is None else env)
    merged.update(from_env)
    origin.update({field: f"environment variable {name}" for field, name in env_origin.items()})
    flags = {k: v for k, v in flags.items() if v is not None}
    if flags.pop("no_cache", False):
        flags["cache"] = False
    if "timeout" in flags:
        flags["timeout_s"] = flags.pop("timeout")
    unknown = set(flags) - set(ModelConfig.model_fields)
    if unknown:
        raise TypeError(f"unknown model settings: {sorted(unknown)}")
    merged.update(flags)
    origin.update(dict.fromkeys(flags, "a flag"))
    merged = {k: v for k, v in merged.items() if k in ModelConfig.model_fields}
    try:
        return ModelConfig(**merged)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        source = origin.get(str(first["loc"][0])) if first["loc"] else None
        raise BadInput(
            f"bad model setting {where}{f' from {source}' if source else ''}: {first['msg']} (got {first.get('input')!r})"
        ) from None
