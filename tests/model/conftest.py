"""Model-layer fixtures: a config builder isolated from the user's environment."""

from __future__ import annotations

import pytest

from coderefl.config import resolve_model_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    """No OPENAI_*/CODEREFL_* from the machine, and no settings file above cwd."""
    import os

    for name in list(os.environ):
        if name.startswith(("OPENAI_", "CODEREFL_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_config(tmp_path):
    def make(server, **overrides):
        flags = dict(
            model="scripted-model",
            base_url=server.base_url,
            api_key=server.api_key,
            cache_path=tmp_path / "cache.sqlite",
            timeout=5.0,
            max_retries=2,
        )
        flags.update(overrides)
        return resolve_model_config(settings={}, env={}, **flags)

    return make


@pytest.fixture(params=["aiohttp", "httpx"])
def transport(request, monkeypatch, _clean_env):
    """The test runs over each HTTP transport the SDK offers."""
    from coderefl.model.transport import ENV, aiohttp_available

    if request.param == "aiohttp" and not aiohttp_available():
        pytest.skip("the openai[aiohttp] extra is not installed")
    monkeypatch.setenv(ENV, request.param)
    return request.param
