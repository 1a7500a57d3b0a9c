"""The view's data and server, without a browser: the figures are coderefl's
own (summary, report), the steps are the trajectory's, the server serves only
what it should, a live run shows new records, and bad input is one line."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from coderefl.records import RunRecord
from coderefl.run.report import compare, load_run
from coderefl.run.summary import summarize
from coderefl.view import ViewServer, export_static, open_runs, overview, trajectory_view
from coderefl.view._data import TestOrigins, code_diff, split_returned
from coderefl.view._static import STATIC_FILES
from tests.openai_server import ScriptedServer
from tests.view.conftest import CONTRADICTING_TEST, MARKUP_REFLECTION, ROOT, make_run, scripted_model

pytestmark = pytest.mark.slow


def records_of(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_overview_figures_are_coderefls_own(eval_runs):
    runs = [eval_runs["reflexion"], eval_runs["simple"]]
    data = json.loads(json.dumps(overview(open_runs(runs))))  # as the page receives it
    assert [r["name"] for r in data["runs"]] == ["reflexion", "simple"]
    for run, shown in zip(runs, data["runs"]):
        recs = [RunRecord.model_validate(r) for r in records_of(run)]
        expected = summarize(recs, wall_s=json.loads((run / "summary.json").read_text())["wall_s"]["run"],
                             meta={"strategy": shown["strategy"], "model": "scripted-model"})
        assert shown["summary"] == json.loads(json.dumps(expected))  # summarize()'s, not re-derived
        status = {r.task_id: ("passed" if r.hidden_passed else "failed") for r in recs}
        assert {r["task_id"]: r["status"] for r in shown["records"]} == status
        assert [r["task_id"] for r in shown["records"]] == ["HumanEval/0", "HumanEval/1", "HumanEval/2", "HumanEval/3"]
        # the prompt text the filter searches: the problem as the agent was sent it
        assert "def truncate_number" in shown["prompts"]["HumanEval/2"]
    assert data["runs"][0]["summary"]["pass@1"] == pytest.approx(0.75)
    assert data["runs"][1]["summary"]["pass@1"] == pytest.approx(0.5)
    # the side by side's delta and the plots' curves are `coderefl report`'s
    report = compare([load_run(p) for p in runs])
    assert data["report"]["runs"][1]["delta_vs_first"] == report["runs"][1]["delta_vs_first"]
    assert data["report"]["runs"][1]["delta_vs_first"]["delta"] == pytest.approx(-0.25)
    assert data["plots"]["iteration"]["series"]["reflexion"] == [[1.0, 0.5], [2.0, 0.75]]
    assert data["plots"]["cost"]["errors"]["simple"] == list(report["runs"][1]["pass@1_ci"])


def test_a_problem_has_its_steps_diffs_test_values_and_hidden_result(eval_runs):
    (src,) = open_runs([eval_runs["reflexion"]])
    view = trajectory_view(src, "HumanEval/0", 0)
    kinds = [s["kind"] for s in view["steps"]]
    assert kinds == ["generate_tests", "generate", "execute", "reflect", "generate", "execute"]
    assert [s["index"] for s in view["steps"]] == list(range(6))
    first, second = view["steps"][1], view["steps"][4]
    assert first["diff"] is None and second["diff_from"] is True
    assert ["-", "    return None"] in second["diff"] and any(k == "+" and "for idx" in t for k, t in second["diff"])
    failed = view["steps"][2]["execution"]["tests"][0]
    assert failed["status"] == "failed" and failed["returned"] == "None" and failed["expected"] == "False"
    assert view["steps"][3]["reflection"].startswith("The function ignores its arguments")
    assert view["hidden"]["status"] == "passed" and view["record"]["hidden_evals"] == 1
    assert "has_close_elements" in view["prompt"]
    assert trajectory_view(src, "HumanEval/99", 0) is None

    bad = trajectory_view(src, "HumanEval/2", 0)
    assert bad["status"] == "failed" and bad["hidden"]["failing"]
    assert any(s.get("reflection") == MARKUP_REFLECTION for s in bad["steps"])


def test_tests_carry_their_trust_tier_and_drop_decisions(eval_runs):
    (src,) = open_runs([eval_runs["reflexion"]])
    view = trajectory_view(src, "HumanEval/3", 0)
    assert [s["kind"] for s in view["steps"]] == ["generate_tests", "decision", "generate", "execute"]
    rows = view["steps"][0]["test_rows"]
    assert rows[0]["test"] == CONTRADICTING_TEST and rows[0]["tier"] == "generated"
    assert rows[0]["dropped"]["step"] == 1 and "contradicts the example `assert below_zero([1, 2, 3]) == False`" in rows[0]["dropped"]["why"]
    assert all(r["dropped"] is None for r in rows[1:])
    outcomes = view["steps"][3]["execution"]["tests"]
    # the visible examples run first (authoritative), then the generated asserts; the dropped one never runs
    assert [o["tier"] for o in outcomes[:2]] == ["example", "example"] and {o["tier"] for o in outcomes[2:]} == {"generated"}
    assert not any(CONTRADICTING_TEST in o["name"] for o in outcomes)


def test_a_step_that_records_tiers_is_taken_at_its_word():
    steps = [
        {"index": 0, "kind": "generate_tests", "tests": ["assert f(1) == 1", "assert f(2) == 2"], "data": {"tiers": ["trusted", "weak"]}},
        {"index": 1, "kind": "execute", "tests": ["assert f(1) == 1"], "data": {"tiers": {"assert f(1) == 1": "trusted"}}},
    ]
    origin = TestOrigins(steps)
    assert [r["tier"] for r in origin.rows(steps[0])] == ["trusted", "weak"]
    assert origin.tier_of_outcome("line 1: assert f(1) == 1", steps[1]) == "trusted"
    assert origin.tier_of_outcome("line 1: assert g(0) == 0", {"tests": []}) == "example"


def test_hashed_messages_show_their_hash_and_no_prompt(tmp_path):
    with ScriptedServer(handler=scripted_model()) as server:
        run = make_run(server, tmp_path / "hashed", "reflexion", tmp_path / "cache.sqlite", "--keep-messages", "hash", "--limit", "1")
    (src,) = open_runs([run])
    view = trajectory_view(src, "HumanEval/0", 0)
    asked = [s for s in view["steps"] if s["kind"] in ("generate_tests", "generate", "reflect")]
    assert asked and all(s["messages"] is None and len(s["messages_sha"]) == 16 for s in asked)
    assert view["prompt"] == "" and overview([src])["runs"][0]["prompts"] == {"HumanEval/0": ""}


def test_a_crashed_strategy_is_an_error_with_its_traceback(eval_runs, tmp_path):
    run = tmp_path / "crashed"
    shutil.copytree(eval_runs["simple"], run)
    lines = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    for r in lines:  # what the scheduler writes when a strategy raises: an error record, a trajectory file without one
        if r["task_id"] == "HumanEval/1":
            r.update(error="strategy crashed: RuntimeError: boom", hidden_passed=False, hidden_status=None, hidden_evals=0,
                     stop_reason="", iterations=0, final_code="")
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (run / "trajectories" / "HumanEval_1__s0.json").write_text(json.dumps(
        {"task_id": "HumanEval/1", "sample": 0, "traceback": "Traceback (most recent call last):\nRuntimeError: boom\n"}))
    (src,) = open_runs([run])
    shown = overview([src])["runs"][0]
    row = next(r for r in shown["records"] if r["task_id"] == "HumanEval/1")
    assert row["status"] == "error" and row["stop_reason"] == "error" and row["error"].endswith("boom")
    assert shown["summary"]["errors"] == 1 and shown["summary"]["stop_reasons"]["error"] == 1
    view = trajectory_view(src, "HumanEval/1", 0)
    assert view["status"] == "error" and view["steps"] == [] and view["trajectory"] is None
    assert view["traceback"].endswith("RuntimeError: boom\n")


def test_diff_and_returned_parsing():
    assert code_diff("a\nb\n", "a\nc\n") == [["@", "@@ -1,2 +1,2 @@"], [" ", "a"], ["-", "b"], ["+", "c"]]
    assert code_diff("x", "x") == []
    assert split_returned("f([1, 2], 'a, b') returned [1], expected [2, 3]") == {
        "expr": "f([1, 2], 'a, b')", "returned": "[1]", "expected": "[2, 3]"}
    assert split_returned("x was 3, expected < 2")["expected"] == "< 2"
    assert split_returned("NameError: name 'g' is not defined") is None


def test_server_serves_the_page_and_data_and_nothing_else(eval_runs):
    with ViewServer(open_runs([eval_runs["reflexion"], eval_runs["simple"]]), port=0) as server:
        base = server.url
        assert base.startswith("http://127.0.0.1:")
        status, headers, body = get(base)
        assert status == 200 and b'<script src="static/app.js">' in body and b'<script src="static/dom.js">' in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        for name in STATIC_FILES[1:]:
            assert get(base + "static/" + name)[0] == 200
        for path in ("static/../../../etc/passwd", "static/%2e%2e/_server.py", "static/index.htm", "api/nothing", "trajectories/"):
            assert get(base + path)[0] == 404, path
        status, _, body = get(base + "api/overview")
        data = json.loads(body)
        assert status == 200 and data["live"] is True and len(data["runs"][1]["records"]) == 4
        ref = data["runs"][0]["records"][2]["ref"]
        assert ref == "data/trajectory.js?run=0&task=HumanEval%2F2&sample=0"
        status, headers, body = get(base + ref)
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert body.startswith(b'window.coderefl_load("trajectory", {') and b"<" not in body  # model text's markup is \u003c-escaped
        status, _, body = get(base + "api/trajectory?run=1&task=HumanEval/0&sample=0")
        assert status == 200 and json.loads(body)["status"] == "failed"
        assert get(base + "api/trajectory?run=1&task=HumanEval/77&sample=0")[0] == 404
        assert get(base + "api/trajectory?run=5&task=HumanEval/0")[0] == 400
        assert get(base + "api/trajectory?run=-1&task=HumanEval/0")[0] == 400
        assert get(base + "api/trajectory?run=x")[0] == 400


def test_requests_for_other_hosts_are_refused(eval_runs):
    """DNS rebinding: a page from elsewhere reaching 127.0.0.1 under its own name gets nothing."""
    import http.client

    with ViewServer(open_runs([eval_runs["simple"]]), port=0) as server:
        port = server.httpd.server_address[1]
        for host, status in [(f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200), ("localhost", 200),
                             (f"evil.example:{port}", 403), ("127.0.0.1.evil.example", 403), ("", 403)]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.putrequest("GET", "/api/overview", skip_host=True)
            if host:
                conn.putheader("Host", host)
            conn.endheaders()
            assert conn.getresponse().status == status, host
            conn.close()


def test_a_live_run_shows_records_as_they_land(eval_runs, tmp_path):
    run = tmp_path / "live"
    shutil.copytree(eval_runs["reflexion"], run)
    lines = (run / "results.jsonl").read_text().splitlines(keepends=True)
    (run / "results.jsonl").write_text("".join(lines[:2]) + lines[2][:30])  # two records and a torn third
    with ViewServer(open_runs([run]), port=0) as server:
        first = json.loads(get(server.url + "api/overview")[2])
        stamp = json.loads(get(server.url + "api/stamp")[2])["stamps"]
        landed = sorted(json.loads(x)["task_id"] for x in lines[:2])  # in the order they finished
        assert [r["task_id"] for r in first["runs"][0]["records"]] == landed
        time.sleep(0.01)
        (run / "results.jsonl").write_text("".join(lines))
        assert json.loads(get(server.url + "api/stamp")[2])["stamps"] != stamp
        again = json.loads(get(server.url + "api/overview")[2])
        assert len(again["runs"][0]["records"]) == 4
        assert again["runs"][0]["summary"]["records"] == 4


def test_a_run_without_records_yet_opens(tmp_path):
    run = tmp_path / "starting"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"strategy": "reflexion", "model": {"name": "m"}}))
    data = overview(open_runs([run]))
    assert data["runs"][0]["records"] == [] and data["runs"][0]["summary"]["records"] == 0


def test_export_writes_a_page_that_needs_no_server(eval_runs, tmp_path):
    out = tmp_path / "site"
    written = export_static(open_runs([eval_runs["reflexion"], eval_runs["simple"]]), out)
    assert written["trajectories"] == 8
    assert (out / "index.html").read_bytes() == (ROOT / "coderefl/view/static/index.html").read_bytes()
    assert (out / "static" / "app.js").exists() and (out / "static" / "style.css").exists()
    overview_js = (out / "data" / "overview.js").read_text()
    assert overview_js.startswith('window.coderefl_load("overview", ')
    data = json.loads(overview_js[len('window.coderefl_load("overview", '):-3])
    assert data["static"] is True and "live" not in data
    refs = [r["ref"] for run in data["runs"] for r in run["records"]]
    assert refs[0] == "data/t/0/HumanEval_0__s0.js"
    assert all((out / ref).is_file() for ref in refs)
    # the whole export is ASCII: model text is escaped into JSON string literals
    assert all(p.read_bytes().isascii() for p in (out / "data").rglob("*.js"))


def test_the_wheel_ships_the_page():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["coderefl.view"]
    static = ROOT / "coderefl" / "view" / "static"
    shipped = {p.name for g in globs for p in static.glob(g.removeprefix("static/"))}
    assert shipped == set(STATIC_FILES)


# ------------------------------------------------------------------ the CLI


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderefl.cli.main", "view", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_bad_input_is_one_line_and_exit_2(eval_runs, tmp_path):
    missing = cli(str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.strip().count("\n") == 0
    assert "no such run folder" in missing.stderr and "Traceback" not in missing.stderr
    empty = cli(str(tmp_path))
    assert empty.returncode == 2 and "not a run folder" in empty.stderr and empty.stderr.strip().count("\n") == 0

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        taken = cli(str(eval_runs["simple"]), "--port", str(port))
    finally:
        busy.close()
    assert taken.returncode == 2 and taken.stderr.strip() == f"coderefl: error: port {port} on 127.0.0.1 is in use; pick another with --port"

    afile = tmp_path / "afile"
    afile.write_text("x")
    notdir = cli(str(afile))
    assert notdir.returncode == 2 and "not a folder" in notdir.stderr and notdir.stderr.strip().count("\n") == 0
    out = cli(str(eval_runs["simple"]), "--out", str(afile))
    assert out.returncode == 2 and "is not a folder" in out.stderr and out.stderr.strip().count("\n") == 0


def test_cli_serves_until_interrupted_and_exports(eval_runs, tmp_path):
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "coderefl.cli.main", "view", str(eval_runs["reflexion"]), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.startswith("coderefl view: serving reflexion at http://127.0.0.1:")
        url = line.split(" at ")[1].split()[0]
        assert get(url + "api/overview")[0] == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = cli(str(eval_runs["reflexion"]), "--out", str(tmp_path / "site"))
    assert done.returncode == 0 and "4 trajectories" in done.stdout
    assert (tmp_path / "site" / "data" / "t" / "0" / "HumanEval_3__s0.js").exists()


def test_the_page_never_parses_data_as_markup():
    """The rule the escaping browser test checks at run time, also read from the source:
    no API that turns a string into markup or code is used by the page."""
    import re

    static = ROOT / "coderefl" / "view" / "static"
    scripts = sorted(p.name for p in static.glob("*.js"))
    assert scripts == sorted(n for n in STATIC_FILES if n.endswith(".js"))
    for name in scripts:
        code = (static / name).read_text()
        body = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("*", "/*", "//")))
        for api in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setTimeout('"):
            assert api not in body, (name, api)
        assert not re.search(r"\.on\w+\s*=\s*['\"]", body), name  # no handler from a string
    html = (static / "index.html").read_text()
    # every script is a file of the page, in dependency order; none inline (the server's CSP forbids it)
    assert re.findall(r"<script[^>]*>", html) == [f'<script src="static/{n}">' for n in ("dom.js", "chart.js", "steps.js", "app.js")]
