"""The hook's fast path reads the [fix] table from the same file the full
command would (coderefl.settings_file), and hands anything it cannot settle
to the full command (None)."""

from __future__ import annotations

from coderefl.config import load_settings
from coderefl.fix.hook import file_settings, settings


def test_the_nearest_settings_file_wins_and_flags_and_environment_come_first(tmp_path, monkeypatch):
    monkeypatch.delenv("CODEREFL_FIX_CHECK_IN", raising=False)
    monkeypatch.delenv("CODEREFL_FIX_EXEC_TIMEOUT", raising=False)
    (tmp_path / "pyproject.toml").write_text('[tool.coderefl.fix]\ncheck_in = "sandbox"\nexec_timeout = 30\n')
    inner = tmp_path / "pkg" / "sub"
    inner.mkdir(parents=True)
    assert settings({}, inner) == {"exec_timeout": 30.0, "check_in": "sandbox"}
    assert load_settings(inner)["fix"]["check_in"] == "sandbox"  # the full command sees the same file
    (tmp_path / "pkg" / "coderefl.toml").write_text('[fix]\nexec_timeout = 12\n')
    assert settings({}, inner) == {"exec_timeout": 12.0, "check_in": "host"}
    monkeypatch.setenv("CODEREFL_FIX_EXEC_TIMEOUT", "7")
    assert settings({}, inner)["exec_timeout"] == 7.0
    assert settings({"exec_timeout": "5"}, inner)["exec_timeout"] == 5.0


def test_what_the_fast_path_cannot_settle_goes_to_the_full_command(tmp_path, monkeypatch):
    monkeypatch.delenv("CODEREFL_FIX_CHECK_IN", raising=False)
    assert file_settings(tmp_path) == {}  # no file: the defaults
    (tmp_path / "coderefl.toml").write_text("[fix\n")
    assert file_settings(tmp_path) is None  # broken: the full command names the file
    (tmp_path / "coderefl.toml").write_text('[model]\ncache = false\n')
    assert file_settings(tmp_path) is None  # a model setting only the full command handles
    (tmp_path / "coderefl.toml").write_text('[fix]\ncheck_in = "cloud"\n')
    assert settings({}, tmp_path) is None  # a bad value: the full command's error
    (tmp_path / "coderefl.toml").unlink()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # not ours: keep walking
    assert file_settings(tmp_path) == {}
