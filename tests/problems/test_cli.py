"""``coderefl problems list/show`` and their errors (no Docker needed)."""

from __future__ import annotations

from tests.problems.helpers import MBPP_SAMPLE, cli


def test_cli_list_and_show(tmp_path):
    out = cli("problems", "list")
    assert out.returncode == 0 and "humaneval" in out.stdout and "mbpp" in out.stdout
    out = cli("problems", "list", "mbpp", "--problems-file", str(MBPP_SAMPLE))
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "mbpp/2\tsimilar_elements"
    out = cli("problems", "show", "HumanEval/0")
    assert out.returncode == 0 and "has_close_elements" in out.stdout and "def check" not in out.stdout
    out = cli("problems", "show", "HumanEval/0", "--hidden")
    assert "def check(candidate)" in out.stdout
    out = cli("problems", "show", "mbpp/2", "--problems-file", str(tmp_path / "absent.json"))
    assert out.returncode == 2 and out.stderr.startswith("coderefl: error:") and len(out.stderr.splitlines()) == 1
