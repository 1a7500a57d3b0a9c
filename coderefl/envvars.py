"""Every environment variable coderefl reads, in one table.

Why one table: variables declared where they are read (and click's
automatic ``CODEREFL_<COMMAND>_<OPTION>`` names beside them) gave one
setting several spellings and two settings one spelling. Here each setting
has exactly one variable; the CLI binds the ``flags`` of a row to it
(:mod:`coderefl.cli.env`), the model layer reads the rows with a ``field``
(:mod:`coderefl.config`), and the README's table is this one, rendered
(``python -m coderefl.envvars``; a test keeps the two equal).

Plain data, no click: importable by any layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from coderefl.errors import BadInput

Audience = Literal["user", "build", "tests", "internal"]


@dataclass(frozen=True)
class EnvVar:
    """One variable: its name, what it sets, its default and what it means."""

    name: str
    default: str
    description: str
    #: click options it sets, as "COMMAND [SUBCOMMAND] --flag"; the CLI binds them
    flags: tuple[str, ...] = ()
    #: the ModelConfig field it sets (read by the model layer, not by click)
    field: str | None = None
    #: what it sets when that is not (only) a flag: a file setting, a script
    setting: str = ""
    #: deprecated spellings, still read (the name wins) for one release
    aliases: tuple[str, ...] = ()
    #: another tool's own variable, read when this one is unset (OPENAI_API_KEY)
    fallbacks: tuple[str, ...] = ()
    #: user: a setting; build: scripts/; tests: the test suite; internal: set by coderefl itself
    audience: Audience = "user"

    def sets(self) -> str:
        """The table's "sets" column: the setting, then the flags by command."""
        by_flag: dict[str, list[str]] = {}
        for spec in self.flags:
            command, flag = split_flag(spec)
            by_flag.setdefault(flag, []).append(command)
        flags = [f"`{flag}` ({', '.join(commands)})" for flag, commands in by_flag.items()]
        return "; ".join(x for x in (self.setting, *flags) if x)


def split_flag(spec: str) -> tuple[str, str]:
    """``"sandbox run --backend"`` -> ``("sandbox run", "--backend")``."""
    command, _, flag = spec.rpartition(" ")
    if not command or not flag.startswith("--"):
        raise ValueError(f"not 'COMMAND --flag': {spec!r}")
    return command, flag


def _agent(name: str, flag: str, default: str, description: str) -> EnvVar:
    """An agent knob: the same flag of solve and eval."""
    return EnvVar(name, default, description, flags=(f"solve {flag}", f"eval {flag}"))


ENVIRONMENT: tuple[EnvVar, ...] = (
    # the model (defaults < coderefl.toml [model] < environment < flags)
    EnvVar("CODEREFL_MODEL", "none", "Model name.", field="model", setting="`--model`, `[model] model`"),
    EnvVar("CODEREFL_BASE_URL", "OpenAI's API", "OpenAI-compatible endpoint, e.g. `http://host:8000/v1`.",
           field="base_url", setting="`--base-url`, `[model] base_url`", fallbacks=("OPENAI_BASE_URL",)),
    EnvVar("CODEREFL_API_KEY", "none", "API key.", field="api_key", setting="`--api-key`",
           fallbacks=("OPENAI_API_KEY",)),
    EnvVar("CODEREFL_API", "chat", "`chat` (instruct models) or `completions` (base models).", field="api",
           setting="`--api`, `[model] api`"),
    EnvVar("CODEREFL_TEMPERATURE", "0", "Sampling temperature.", field="temperature",
           setting="`--temperature`, `[model] temperature`"),
    EnvVar("CODEREFL_MAX_TOKENS", "1024", "Max tokens per answer.", field="max_tokens",
           setting="`--max-tokens`, `[model] max_tokens`"),
    EnvVar("CODEREFL_TIMEOUT", "60", "Seconds per request before retrying.", field="timeout_s",
           setting="`--timeout`, `[model] timeout`"),
    EnvVar("CODEREFL_MAX_RETRIES", "5", "Retries per request.", field="max_retries", setting="`[model] max_retries`"),
    EnvVar("CODEREFL_CONCURRENCY", "16", "Model requests in flight per endpoint (eval's `--concurrency` default).",
           field="concurrency", setting="`[model] concurrency`"),
    EnvVar("CODEREFL_CACHE_PATH", "user cache dir", "The response cache file (SQLite).", field="cache_path",
           setting="`[model] cache_path`, `--cache-path` (cache)"),
    EnvVar("CODEREFL_NO_CACHE", "0", "`1`: bypass the response cache.", field="cache", setting="`--no-cache`"),
    EnvVar("CODEREFL_HTTP_TRANSPORT", "aiohttp", "The model client's HTTP transport: `aiohttp` or `httpx`.",
           setting="the model client"),
    # the agent (solve, eval)
    EnvVar("CODEREFL_STRATEGY", "reflexion", "How the agent works (see Strategies).",
           flags=("solve --strategy", "eval --strategy")),
    _agent("CODEREFL_MAX_ITERS", "--max-iters", "5", "Generate/test rounds at most."),
    _agent("CODEREFL_NUM_TESTS", "--num-tests", "6", "Internal tests the model writes."),
    _agent("CODEREFL_GENERATED_TESTS", "--generated-tests", "on", "Let the model write its own tests."),
    _agent("CODEREFL_REFLECTION", "--reflection", "on", "Verbal reflection; off feeds raw feedback."),
    _agent("CODEREFL_MEMORY_SIZE", "--memory-size", "1", "Reflections kept in memory."),
    _agent("CODEREFL_PROPERTY_TESTS", "--property-tests", "off", "Also ask for hypothesis properties."),
    _agent("CODEREFL_CANDIDATES", "--candidates", "1", "Candidates per round, weighed by agreement."),
    _agent("CODEREFL_SAMPLE_TEMPERATURE", "--sample-temperature", "0.8", "Temperature when sampling several."),
    _agent("CODEREFL_TRUST_TIERS", "--trust-tiers", "on", "Label tests user/example/own in feedback."),
    _agent("CODEREFL_FEEDBACK", "--feedback", "plain", "What a failed test tells the model: `plain` or `trace`."),
    _agent("CODEREFL_EXPLAIN", "--explain", "off", "Reflection explains the code line by line first."),
    _agent("CODEREFL_MAX_CALLS", "--max-calls", "none", "Budget: model calls per problem."),
    _agent("CODEREFL_MAX_TOKENS_BUDGET", "--max-tokens-budget", "none", "Budget: tokens per problem."),
    _agent("CODEREFL_MAX_WALL", "--max-wall", "none", "Budget: seconds per problem."),
    _agent("CODEREFL_KEEP_MESSAGES", "--keep-messages", "full", "Store prompts in `full` or only their `hash`."),
    _agent("CODEREFL_MEMORY", "--memory", "none", "Long-term memory file (SQLite)."),
    _agent("CODEREFL_LOCAL", "--local", "off", "Serve the embedded llama.cpp model for the run."),
    EnvVar("CODEREFL_LOCAL_MODEL", "smollm2-135m", "What the embedded server serves: a name or a GGUF path.",
           flags=("solve --local-model", "eval --local-model", "serve-local --local-model")),
    # the sandbox
    EnvVar("CODEREFL_SANDBOX", "docker", "Sandbox backend; `local` is UNSAFE (no isolation).",
           flags=("solve --sandbox", "eval --sandbox", "fix --sandbox", "problems check --sandbox",
                  "sandbox run --backend"),
           aliases=("CODEREFL_SANDBOX_BACKEND",)),
    EnvVar("CODEREFL_SANDBOX_TIMEOUT", "10", "Wall-clock limit of one execution, s.",
           flags=("solve --exec-timeout", "eval --exec-timeout", "problems check --timeout", "sandbox run --timeout")),
    EnvVar("CODEREFL_SANDBOX_MEMORY", "512", "Memory limit of one execution, MB, no swap.",
           flags=("solve --exec-memory", "eval --exec-memory", "sandbox run --memory")),
    EnvVar("CODEREFL_SANDBOX_CONCURRENCY", "eval: twice the CPUs (2 to 16); problems check: 2",
           "Sandbox executions at once (the pool size).",
           flags=("eval --sandbox-concurrency", "problems check --concurrency")),
    EnvVar("CODEREFL_SANDBOX_TEST_TIMEOUT", "none", "Judge mode: each test's own limit, s.",
           flags=("sandbox run --test-timeout",)),
    EnvVar("CODEREFL_SANDBOX_PIDS", "64", "Max processes and threads.", flags=("sandbox run --pids",)),
    EnvVar("CODEREFL_SANDBOX_CPUS", "1", "CPU quota in cores.", flags=("sandbox run --cpus",)),
    EnvVar("CODEREFL_SANDBOX_ISOLATION", "auto", "`judge`, `in-process` or `auto`.",
           flags=("sandbox run --isolation",)),
    EnvVar("CODEREFL_SANDBOX_TESTS", "none", "Tests file.", flags=("sandbox run --tests",)),
    EnvVar("CODEREFL_SANDBOX_JSON", "off", "Print one JSON object.", flags=("sandbox run --json",)),
    EnvVar("CODEREFL_SANDBOX_OFFLINE", "off", "Bootstrap the base image from Debian packages.",
           flags=("sandbox build --offline",)),
    EnvVar("CODEREFL_SANDBOX_IMAGE", "`coderefl-sandbox:<hash of sandbox/>`", "A pre-built sandbox image to use.",
           setting="the docker backend"),
    EnvVar("CODEREFL_SANDBOX_DIR", "the checkout's `sandbox/`", "Where the image's sources are.",
           setting="`sandbox build`, the docker backend"),
    # problems and evaluation
    EnvVar("CODEREFL_PROBLEMS_FILE", "the shipped data", "Data file for humaneval/mbpp.",
           flags=("eval --problems-file", "problems list --problems-file", "problems show --problems-file",
                  "problems check --problems-file")),
    EnvVar("CODEREFL_MBPP_FILE", "shared data, else download", "Where MBPP is read from.",
           setting="mbpp without `--problems-file`"),
    EnvVar("CODEREFL_MAX_PROBLEMS", "2 x concurrency", "Problems being solved at once.",
           flags=("eval --max-problems",)),
    EnvVar("CODEREFL_EXECUTOR", "local", "Where problems are solved: `local` or `ray`.", flags=("eval --executor",)),
    EnvVar("CODEREFL_PROGRESS_INTERVAL", "10", "Seconds between progress lines when stderr is not a terminal.",
           flags=("eval --progress-interval",)),
    # the pre-commit fixer (also [fix] in coderefl.toml)
    EnvVar("CODEREFL_FIX_MAX_ITERS", "3", "Repair rounds per function.", flags=("fix --max-iters",),
           setting="`[fix] max_iters`"),
    EnvVar("CODEREFL_FIX_MAX_WALL", "300", "Time budget for the whole run, s.", flags=("fix --max-wall",),
           setting="`[fix] max_wall`"),
    EnvVar("CODEREFL_FIX_MAX_CALLS", "none", "Model calls per function at most.", flags=("fix --max-calls",),
           setting="`[fix] max_calls`"),
    EnvVar("CODEREFL_FIX_REFLECTION", "on", "Verbal reflection between attempts.", flags=("fix --reflection",),
           setting="`[fix] reflection`"),
    EnvVar("CODEREFL_FIX_EXEC_TIMEOUT", "120", "Time limit of one sandboxed test run, s.",
           flags=("fix --exec-timeout",), setting="`[fix] exec_timeout`"),
    EnvVar("CODEREFL_FIX_EXEC_MEMORY", "1024", "Memory limit of one sandboxed test run, MB.",
           flags=("fix --exec-memory",), setting="`[fix] exec_memory`"),
    EnvVar("CODEREFL_FIX_IF_NO_SANDBOX", "pass", "When the sandbox cannot start: `pass` (warn) or `fail`.",
           flags=("fix --if-no-sandbox",), setting="`[fix] if_no_sandbox`"),
    EnvVar("CODEREFL_FIX_CHECK_IN", "host", "Where the staged code's own tests run: `host` (pytest in a fork) or "
           "`sandbox`; repairs are always checked in the sandbox.", flags=("fix --check-in",),
           setting="`[fix] check_in`"),
    EnvVar("CODEREFL_FIX_WORKER", "1800", "Seconds the hook's warm worker (pytest already imported) waits for the "
           "next commit; `0`: none. Never started under CI.", setting="the hook's fast entry `python -m coderefl.fix`"),
    # the embedded local model server
    EnvVar("CODEREFL_LOCAL_MODEL_PATH", "none", "A GGUF file to serve.", flags=("serve-local --model-path",)),
    EnvVar("CODEREFL_LOCAL_HOST", "127.0.0.1", "Listen address (no authentication: keep it on loopback).",
           flags=("serve-local --host",)),
    EnvVar("CODEREFL_LOCAL_PORT", "8080", "Listen port; 0 picks a free one.", flags=("serve-local --port",)),
    EnvVar("CODEREFL_LOCAL_N_CTX", "4096", "Context size in tokens.", flags=("serve-local --n-ctx",)),
    EnvVar("CODEREFL_LOCAL_THREADS", "usable cores - 1", "CPU threads.", flags=("serve-local --threads",)),
    EnvVar("CODEREFL_LOCAL_LOG", "a temporary file", "The server's log file.", flags=("serve-local --log-file",)),
    EnvVar("CODEREFL_LOCAL_STARTUP_TIMEOUT", "120", "Seconds to wait for the server to answer.",
           flags=("serve-local --startup-timeout",)),
    # export
    EnvVar("CODEREFL_EXPORT_FORMAT", "chat-jsonl", "Output format.", flags=("export --format",)),
    EnvVar("CODEREFL_EXPORT_ONLY_PASSED", "off", "Only records that passed the hidden tests.",
           flags=("export --only-passed",)),
    EnvVar("CODEREFL_EXPORT_METHODS", "all", "Comma-separated strategies to keep.", flags=("export --methods",)),
    EnvVar("CODEREFL_EXPORT_OUT", "stdout", "Output file.", flags=("export --out",)),
    EnvVar("CODEREFL_EXPORT_DEDUPE", "on", "Drop repeated conversations.", flags=("export --dedupe",)),
    EnvVar("CODEREFL_EXPORT_METADATA", "on", "Add a metadata object to each line.", flags=("export --metadata",)),
    # debugging, building, the test suite
    EnvVar("CODEREFL_DEBUG", "0", "`1`: a traceback for an internal error.",
           setting="every command"),
    EnvVar("CODEREFL_DEBIAN_SUITE", "bookworm", "Debian suite of the offline base image.",
           setting="`scripts/bootstrap_base.sh` (`sandbox build --offline`)", audience="build"),
    EnvVar("CODEREFL_DEBIAN_MIRROR", "none", "Debian mirror of the offline base image.",
           setting="`scripts/bootstrap_base.sh`", audience="build"),
    EnvVar("CODEREFL_REBUILD_BASE", "unset", "Set: rebuild the offline base image even if it exists.",
           setting="`scripts/bootstrap_base.sh`", audience="build"),
    EnvVar("CODEREFL_LLAMA_CPP_VERSION", "0.3.36", "llama-cpp-python version to build.",
           setting="`scripts/ci/install_local.sh`", audience="build"),
    EnvVar("CODEREFL_LLAMA_CMAKE_ARGS", "portable CPU flags", "CMake flags of that build.",
           setting="`scripts/ci/install_local.sh`", audience="build"),
    EnvVar("CODEREFL_REQUIRE_BROWSER", "0", "`1`: the browser tests fail instead of skipping.", audience="tests"),
    EnvVar("CODEREFL_REQUIRE_RAY", "0", "`1`: the Ray tests fail instead of skipping.", audience="tests"),
    EnvVar("CODEREFL_VIEW_SHOTS", "the test's tmp dir", "Where the browser tests save screenshots.",
           audience="tests"),
    # set by coderefl itself; listed so that nothing reads a variable missing here
    EnvVar("CODEREFL_FIX_REPORT", "", "Where the fixer's pytest plugin writes its report.", audience="internal"),
    EnvVar("CODEREFL_FIX_TEST_TIMEOUT", "", "The fixer's per-test limit, for its pytest plugin.",
           audience="internal"),
    EnvVar("CODEREFL_FIX_TRACE", "0", "`1`: the fixer's pytest plugin records which files each test file reaches.",
           audience="internal"),
    EnvVar("CODEREFL_FIX_EXIT_EARLY", "0", "`1`: the fixer's forked pytest exits once its report is written.",
           audience="internal"),
    EnvVar("CODEREFL_WORK_ROOT", "/work", "The runner's work dir inside the sandbox container.",
           audience="internal"),
)

_BY_NAME = {v.name: v for v in ENVIRONMENT}


def variable(name: str) -> EnvVar:
    """The row of ``name`` (KeyError for a variable not in the table)."""
    return _BY_NAME[name]


def every_name() -> set[str]:
    """Every name read: the variables, their deprecated aliases and fallbacks."""
    return {n for v in ENVIRONMENT for n in (v.name, *v.aliases, *v.fallbacks)}


def flag_bindings() -> dict[tuple[str, str], EnvVar]:
    """(command path, --flag) -> the row whose variable sets it."""
    out: dict[tuple[str, str], EnvVar] = {}
    for v in ENVIRONMENT:
        for spec in v.flags:
            key = split_flag(spec)
            if key in out:
                raise ValueError(f"{spec} is set by both {out[key].name} and {v.name}")
            out[key] = v
    return out


def model_fields() -> Iterator[EnvVar]:
    """The rows the model layer reads, in table order."""
    return (v for v in ENVIRONMENT if v.field)


_TRUE = ("1", "true", "yes", "on", "t", "y")
_FALSE = ("", "0", "false", "no", "off", "f", "n")


def parse_bool(name: str, value: str | None) -> bool:
    """A yes/no variable: 1/0, true/false, yes/no, on/off; anything else is
    bad input naming the variable (never silently "off")."""
    text = (value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadInput(f"environment variable {name}={value!r}: not a yes/no value (use 1 or 0)")


def deprecated_in(env: dict[str, str] | None) -> list[str]:
    """One warning per deprecated alias set in ``env``."""
    return [
        f"{alias} is deprecated and will be removed; set {v.name} instead"
        + (" (it wins: both are set)" if env.get(v.name) else "")
        for v in ENVIRONMENT
        for alias in v.aliases
        if env and env.get(alias)
    ]


README_BEGIN = "<!-- environment table: generated by `python -m coderefl.envvars`; a test checks it -->"
README_END = "<!-- end of environment table -->"


def markdown_table() -> str:
    """The README's table: every variable except those coderefl sets itself."""
    lines = ["| variable | sets | default | meaning |", "|---|---|---|---|"]
    for v in ENVIRONMENT:
        if v.audience == "internal":
            continue
        name = f"`{v.name}`"
        if v.aliases:
            name += " (old: " + ", ".join(f"`{a}`" for a in v.aliases) + ", deprecated)"
        if v.fallbacks:
            name += " (else " + ", ".join(f"`{a}`" for a in v.fallbacks) + ")"
        where = v.sets() or {"user": "", "build": "build", "tests": "test suite"}[v.audience]
        lines.append(f"| {name} | {where} | {v.default} | {v.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
