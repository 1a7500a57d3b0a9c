"""``coderefl serve-local``: run the embedded model in the foreground.

Starts the llama.cpp server (see :mod:`coderefl.model.local_server`), prints
where it listens and the exact flags that point coderefl at it, and stops it
cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import time

import click


@click.command("serve-local")
@click.option("--local-model", "choice", default=None, metavar="NAME|GGUF",
              help="smollm2-135m (chat model) [default], gemma3-270m (base model, completions only), or a GGUF path.")
@click.option("--model-path", type=click.Path(dir_okay=False), default=None,
              help="A GGUF file to serve (the same as --local-model PATH).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Listen address (keep it on loopback: the server has no authentication).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Listen port; 0 picks a free one.")
@click.option("--n-ctx", type=click.IntRange(256), default=4096, show_default=True,
              help="Context size in tokens (prompt + completion).")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads [default: usable cores minus one, at least 1; more threads than free cores is much slower].")
@click.option("--log-file", type=click.Path(dir_okay=False), default=None,
              help="Append the server's log here [default: a temporary file, removed at exit].")
@click.option("--startup-timeout", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds to wait for the server to answer.")
def serve_local(choice, model_path, host, port, n_ctx, threads, log_file, startup_timeout) -> None:
    """Serve the embedded local model (llama.cpp, OpenAI API) until Ctrl-C.

    The default is the packaged SmolLM2 135M Instruct chat model, served with
    the chat template from its GGUF (--api chat). gemma3-270m is a base model:
    use completion mode (--api completions) with it.
    """
    from coderefl.errors import BadInput
    from coderefl.model.local_server import LocalServer, local_model

    if choice and model_path:
        raise BadInput("give --local-model or --model-path, not both")
    model = local_model(model_path or choice)
    api = model.api or "chat"
    server = LocalServer(model, host=host, port=port, n_ctx=n_ctx, n_threads=threads,
                         log_path=log_file, startup_timeout=startup_timeout)
    # Ctrl-C and SIGTERM both end the foreground loop (and interrupt a slow start).
    # Installed explicitly: a process started in the background inherits SIGINT ignored.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(f"starting llama.cpp server with {server.resolve_model()} ...", err=True)
        with server:
            click.echo(f"serving {server.model_name} at {server.base_url}  (pid {server.pid}, log {server.log_path})")
            click.echo("point coderefl at it with:")
            click.echo(f"  --base-url {server.base_url} --model {server.model_name} --api {api}")
            click.echo(f"  or: export CODEREFL_BASE_URL={server.base_url} CODEREFL_MODEL={server.model_name}"
                       f" CODEREFL_API={api} CODEREFL_API_KEY=local CODEREFL_CONCURRENCY=1")
            if model.api is None:
                click.echo("  (a GGUF by path: --api chat uses the chat template in the file; use --api completions"
                           " for a base model without one)")
            click.echo("  (the server answers one request at a time: keep concurrency 1 and --max-tokens small,"
                       " e.g. 512)")
            click.echo("Ctrl-C to stop.", err=True)
            try:
                while True:
                    time.sleep(0.5)
                    server.check()
            except KeyboardInterrupt:
                pass
            click.echo("stopping ...", err=True)
        click.echo("stopped.", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
