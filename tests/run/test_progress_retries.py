"""Retries and hung calls show on the progress display as they happen."""

from __future__ import annotations

import asyncio
import io
import re

from coderefl.config import resolve_model_config
from coderefl.model.client import OpenAIModel
from coderefl.records import ChatMessage
from coderefl.run.instrument import CountingModel, RunStats
from coderefl.run.progress import ProgressDisplay
from tests.openai_server import Reply, ScriptedServer


def _model(server: ScriptedServer, tmp_path, stats: RunStats, **flags) -> CountingModel:
    config = resolve_model_config(settings={}, env={}, model="scripted-model", base_url=server.base_url,
                                  cache_path=tmp_path / "c.sqlite", **flags)
    return CountingModel(OpenAIModel(config), stats, 4)


async def _call_with_progress(model: CountingModel, stats: RunStats, stream: io.StringIO) -> None:
    try:
        async with ProgressDisplay(stats, title="t", stream=stream, interval_s=30, live=False):
            await model.chat([ChatMessage(role="user", content="hi")], phase="g")
            await asyncio.sleep(1.2)  # one tick of the display
    finally:
        await model.close()


def test_a_retry_is_shown_at_once_not_at_the_next_status_line(tmp_path):
    stats = RunStats()
    stream = io.StringIO()
    with ScriptedServer() as srv:
        srv.queue(Reply(status=503, error_message="overloaded"))
        asyncio.run(_call_with_progress(_model(srv, tmp_path, stats), stats, stream))
    lines = stream.getvalue().splitlines()
    assert stats.model_retries == 1
    assert "503: overloaded" in lines[0] and "retry 1/5 in" in lines[0]  # before any status line
    assert "retries 1" in lines[-1]  # the final status line counts it


def test_a_hung_call_shows_how_long_it_has_waited(tmp_path):
    stats = RunStats()
    stream = io.StringIO()
    with ScriptedServer() as srv:
        srv.queue(Reply(delay_s=8))
        model = _model(srv, tmp_path, stats, timeout=30)

        async def go() -> str:
            task = asyncio.create_task(model.chat([ChatMessage(role="user", content="hi")], phase="g"))
            await asyncio.sleep(5.5)
            from coderefl.run.progress import status_line

            line = status_line(stats)
            await task
            await model.close()
            return line

        line = asyncio.run(go())
    assert re.search(r"model in flight 1 \(oldest [5-7]s\)", line), line
    assert stats.oldest_model_call_s is None  # nothing in flight after it answered
