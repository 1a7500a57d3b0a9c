"""Click options shared by the commands that run the agent (solve, eval, fix).

``model_options`` adds the model flags (merged by :mod:`coderefl.config`);
``agent_options`` the AgentConfig knobs (ablations and budgets) and
``sandbox_option`` the sandbox choice; ``agent_config_from`` pops the agent
flags from the command's kwargs into one AgentConfig. Which environment
variable sets which option is declared once, in :mod:`coderefl.envvars`
(bound by :mod:`coderefl.cli.env`), never here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from coderefl.cli.env import origin_note
from coderefl.config import ModelConfig
from coderefl.envvars import ENVIRONMENT
from coderefl.errors import BadInput
from coderefl.records import Limits
from coderefl.strategies.base import AgentConfig, sampling_warning

F = TypeVar("F", bound=Callable[..., Any])

_AGENT_FLAGS = (
    "feedback",
    "max_iters",
    "num_tests",
    "generated_tests",
    "reflection",
    "memory_size",
    "property_tests",
    "candidates",
    "max_calls",
    "max_tokens_budget",
    "max_wall",
    "exec_timeout",
    "exec_memory",
    "keep_messages",
    "sample_temperature",
    "trust_tiers",
    "explain",
)


#: names model_options adds to the command's kwargs; pass them to resolve_model_config
MODEL_OPTION_NAMES = ("model", "base_url", "api_key", "api", "temperature", "max_tokens", "no_cache", "timeout")


def _env_of(field: str) -> str:
    """`` [env NAME]`` for the model setting ``field``, from the table."""
    names = [n for v in ENVIRONMENT if v.field == field for n in (v.name, *v.fallbacks)]
    return f"  [env var: {' or '.join(names)}]"


def model_options(f: F) -> F:
    """Click decorator: the model flags. Env vars are read by
    :func:`~coderefl.config.resolve_model_config` (so the documented
    precedence holds), hence no ``envvar=`` here; flags left unset arrive as ``None``."""
    options = [
        click.option("--model", "model", default=None, help="Model name." + _env_of("model")),
        click.option("--base-url", "base_url", default=None,
                     help="OpenAI-compatible endpoint, e.g. http://host:8000/v1." + _env_of("base_url")),
        click.option("--api-key", "api_key", default=None, help="API key." + _env_of("api_key")),
        click.option("--api", "api", type=click.Choice(["chat", "completions"]), default=None,
                     help="chat (instruct models) or completions (base models)." + _env_of("api")),
        click.option("--temperature", "temperature", type=float, default=None,
                     help="Sampling temperature." + _env_of("temperature")),
        click.option("--max-tokens", "max_tokens", type=int, default=None,
                     help="Max tokens per answer." + _env_of("max_tokens")),
        click.option("--timeout", "timeout", type=float, default=None,
                     help="Seconds per request before retrying." + _env_of("timeout_s")),
        click.option("--no-cache", "no_cache", is_flag=True, default=None,
                     help="Bypass the response cache." + _env_of("cache")),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


def pop_model_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove the model flags from a command's kwargs and return them."""
    return {name: kwargs.pop(name) for name in MODEL_OPTION_NAMES if name in kwargs}



def agent_options(f: F) -> F:
    options = [
        click.option("--max-iters", type=int, default=None, help="Generate/test rounds at most [5]."),
        click.option("--num-tests", type=int, default=None, help="Internal tests the model writes [6]."),
        click.option("--generated-tests/--no-generated-tests", default=None, help="Let the model write its own tests [on]."),
        click.option("--reflection/--no-reflection", default=None, help="Verbal reflection; off feeds raw feedback [on]."),
        click.option("--memory-size", type=int, default=None, help="Reflections kept in memory [1]."),
        click.option("--property-tests/--no-property-tests", default=None, help="Also ask for hypothesis properties [off]."),
        click.option("--candidates", type=int, default=None, help="Candidates per round, weighed by agreement [1]."),
        click.option("--sample-temperature", type=float, default=None,
                     help="Generation temperature when --samples or --candidates > 1 [0.8]."),
        click.option("--trust-tiers/--no-trust-tiers", default=None,
                     help="Label tests user/example/own in feedback; demote an example only on agreement [on]."),
        click.option("--feedback", type=click.Choice(["plain", "trace"]), default=None,
                     help="What a failed test tells the model: its values, or also what the failing call did "
                          "line by line (trace, LDB-style) [plain]."),
        click.option("--explain/--no-explain", default=None,
                     help="Reflection explains the code line by line on the failing input first (Self-Debugging) [off]."),
        click.option("--max-calls", type=int, default=None, help="Budget: model calls per problem."),
        click.option("--max-tokens-budget", type=int, default=None, help="Budget: tokens per problem."),
        click.option("--max-wall", type=float, default=None, help="Budget: seconds per problem."),
        click.option("--exec-timeout", type=float, default=None, help="Sandbox wall-clock limit per execution, s [10]."),
        click.option("--exec-memory", type=int, default=None, help="Sandbox memory limit per execution, MB [512]."),
        click.option(
            "--keep-messages",
            type=click.Choice(["full", "hash"]),
            default=None,
            help="Store each step's prompt messages in full, or only their hash [full].",
        ),
    ]
    for opt in reversed(options):
        f = opt(f)
    return f


class RegistryChoice(click.Choice):
    """A choice among what a registry holds, read when first needed (not when the
    CLI starts): adding a strategy, backend or benchmark edits no CLI code."""

    def __init__(self, names: Callable[[], list[str]], kind: str) -> None:
        self._names, self.kind = names, kind
        super().__init__([])

    @property  # type: ignore[override]
    def choices(self) -> list[str]:
        return self._names()

    @choices.setter
    def choices(self, value: Any) -> None:
        pass

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        names = self.choices
        if value not in names:
            self.fail(f"unknown {self.kind} {value!r}; choose from {', '.join(names)}", param, ctx)
        return value


def strategy_choice() -> RegistryChoice:
    from coderefl.strategies.base import strategy_names

    return RegistryChoice(strategy_names, "strategy")


def backend_choice() -> RegistryChoice:
    def names() -> list[str]:
        from coderefl.execution import available_backends

        return list(available_backends())

    return RegistryChoice(names, "sandbox backend")


def sandbox_option(f: F) -> F:
    return click.option(
        "--sandbox",
        "sandbox_backend",
        type=backend_choice(),
        default="docker",
        show_default=True,
        help="Where code runs. 'local' is UNSAFE: no isolation, for machines without Docker.",
    )(f)


def local_option(f: F) -> F:
    """``--local`` and ``--local-model``; the command receives ``local``: None,
    or the :class:`~coderefl.model.local_server.LocalModel` to serve
    (``--local-model`` alone implies ``--local``)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        flag, choice = kwargs.pop("local"), kwargs.pop("local_model")
        if flag or choice:
            from coderefl.model.local_server import local_model

            kwargs["local"] = local_model(choice)
        else:
            kwargs["local"] = None
        return f(*args, **kwargs)

    wrapper = click.option(
        "--local-model",
        default=None,
        metavar="NAME|GGUF",
        help="What --local serves: smollm2-135m (chat model, every strategy) [default], gemma3-270m "
        "(base model, completions only), or a GGUF path (--api completions for a base model).",
    )(wrapper)
    return click.option(
        "--local",
        is_flag=True,
        default=False,
        help="Start the embedded llama.cpp model (coderefl[local]) for this run: the SmolLM2 135M chat model "
        "unless --local-model says otherwise.",
    )(wrapper)  # type: ignore[return-value]


def local_api(config: ModelConfig, local: Any) -> str:
    """The API a run uses: the packaged local model's own, else the configured one."""
    return local.api_with(config.api) if local else config.api


@contextmanager
def model_endpoint(config: ModelConfig, local: Any) -> Iterator[ModelConfig]:
    """The model config to use: as given, or pointed at an embedded local
    server (``local``: a LocalModel, or True for the default) started for the
    duration of the block (and stopped after it)."""
    if not local:
        yield config
        return
    from coderefl.model.local_server import LocalModel, LocalServer, local_model

    choice = local if isinstance(local, LocalModel) else local_model(None)
    with LocalServer(choice) as server:
        # the llama.cpp server answers one request at a time: queueing more at
        # the server only makes them time out, so the client sends one at a time
        yield config.model_copy(
            update={
                "base_url": server.base_url,
                # a new port each run: the cache knows the server by its model, not its URL
                "cache_endpoint": f"local:{server.model_name}",
                "model": server.model_name,
                "api": choice.api_with(config.api),
                "api_key": "local",
                "concurrency": 1,
                # a few tokens/s on a busy CPU: give each answer time, and cap
                # its length (a function body; runaway completions are cut)
                "timeout_s": max(config.timeout_s, 600.0),
                "max_tokens": min(config.max_tokens, 512),
            }
        )


#: AgentConfig field (as pydantic names it in an error) -> the option that sets it
_FLAG_OF = {"max_tokens": "max_tokens_budget", "max_wall_s": "max_wall", "timeout_s": "exec_timeout",
            "memory_mb": "exec_memory"}


def agent_config_from(kwargs: dict[str, Any], **overrides: Any) -> AgentConfig:
    """Pop the agent flags from a command's kwargs into an AgentConfig."""
    flags = {name: kwargs.pop(name, None) for name in _AGENT_FLAGS}
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if isinstance(kwargs.get("samples"), int):  # eval's --samples: sampled, not N copies
        values.setdefault("samples", kwargs["samples"])
    rename = {"max_tokens_budget": "max_tokens", "max_wall": "max_wall_s"}
    limits: dict[str, Any] = {}
    for name, value in flags.items():
        if value is None:
            continue
        if name == "exec_timeout":
            limits["timeout_s"] = value
        elif name == "exec_memory":
            limits["memory_mb"] = value
        else:
            values[rename.get(name, name)] = value
    try:
        if limits:
            values["limits"] = Limits(**limits)
        config = AgentConfig(**values)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        flag = _FLAG_OF.get(where, where)
        raise BadInput(
            f"bad agent setting {where}{origin_note(flag)}: {first['msg']} (got {first.get('input')!r})"
        ) from None
    warning = sampling_warning(config)
    if warning:
        click.echo(f"coderefl: warning: {warning}", err=True)
    return config
