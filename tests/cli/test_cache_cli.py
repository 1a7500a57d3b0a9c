"""``coderefl cache stats`` and ``clear`` on a cache filled by real calls."""

from __future__ import annotations

import asyncio

from coderefl.config import resolve_model_config
from coderefl.model.client import OpenAIModel
from coderefl.records import ChatMessage
from tests.cli.test_solve import run_cli
from tests.openai_server import ScriptedServer


def _fill(server: ScriptedServer, path, model: str, prompts: list[str]) -> None:
    config = resolve_model_config(settings={}, env={}, model=model, base_url=server.base_url, cache_path=path)

    async def go() -> None:
        client = OpenAIModel(config)
        try:
            for p in prompts:
                await client.chat([ChatMessage(role="user", content=p)], phase="g")
        finally:
            await client.close()

    asyncio.run(go())


def test_stats_then_clear_one_endpoint_then_one_model_then_all(tmp_path):
    path = tmp_path / "responses.sqlite"
    with ScriptedServer(models=["m1", "m2"]) as a, ScriptedServer(models=["m1"]) as b:
        _fill(a, path, "m1", ["x", "y"])
        _fill(a, path, "m2", ["x"])
        _fill(b, path, "m1", ["x", "y", "z"])
        env = {"CODEREFL_CACHE_PATH": str(path)}
        res = run_cli(["cache", "stats"], env_extra=env)
        assert res.returncode == 0, res.stderr
        assert f"{path}: 6 answers" in res.stdout
        assert f"3  {b.base_url}  m1  chat" in res.stdout and f"2  {a.base_url}  m1  chat" in res.stdout

        res = run_cli(["cache", "clear", "--endpoint", b.base_url + "/"], env_extra=env)
        assert res.returncode == 0 and f"removed 3 answers of endpoint {b.base_url}/" in res.stdout and "3 left" in res.stdout
        res = run_cli(["cache", "clear", "--model", "m2", "--cache-path", str(path)])
        assert "removed 1 answers of model m2" in res.stdout and "2 left" in res.stdout
        res = run_cli(["cache", "clear"], env_extra=env)
        assert "removed 2 answers" in res.stdout and "0 left" in res.stdout


def test_no_cache_file_is_said_plainly_and_not_created(tmp_path):
    path = tmp_path / "none.sqlite"
    res = run_cli(["cache", "stats", "--cache-path", str(path)])
    assert res.returncode == 0 and "no cache yet" in res.stdout
    res = run_cli(["cache", "clear", "--cache-path", str(path)])
    assert res.returncode == 0 and "nothing to clear" in res.stdout
    assert not path.exists()


def test_a_file_that_is_not_a_cache_is_one_line(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    res = run_cli(["cache", "stats", "--cache-path", str(junk)])
    assert res.returncode == 2 and "junk.sqlite" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
