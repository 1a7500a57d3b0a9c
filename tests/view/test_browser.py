"""``coderefl view`` in a real browser: headless Chromium (Debian's
``chromium`` and ``chromium-driver``) driven by selenium, on runs made by
``coderefl eval`` (see conftest.py).

Skipped with the reason when Chromium, its driver or selenium is missing;
with ``CODEREFL_REQUIRE_BROWSER=1`` (set by .ci/run) that is a failure, so a
broken set-up cannot pass as skipped.

Each view is saved as a screenshot under the session's tmp dir
(``view-screenshots/``), or under ``$CODEREFL_VIEW_SHOTS`` when set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from coderefl.view import ViewServer, export_static, open_runs
from tests.openai_server import ScriptedServer
from tests.view.conftest import CONTRADICTING_TEST, LIMIT, MARKUP_REFLECTION, eval_command, eval_env, scripted_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _find(*names: str) -> str | None:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def driver():
    problem = None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError as err:
        problem = f"selenium is not installed ({err})"
    chromium = _find("chromium", "chromium-browser", "google-chrome")
    chromedriver = _find("chromedriver")
    if problem is None and (chromium is None or chromedriver is None):
        problem = "headless Chromium is not installed (apt-get install chromium chromium-driver)"
    if problem is not None:
        if os.environ.get("CODEREFL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CODEREFL_REQUIRE_BROWSER=1 but {problem}")
        pytest.skip(problem)
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000",
                "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.binary_location = chromium
    d = webdriver.Chrome(options=options, service=Service(chromedriver))
    d.set_page_load_timeout(30)
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    wanted = os.environ.get("CODEREFL_VIEW_SHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("view-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(driver, shots: Path, name: str) -> Path:
    """The whole page, not just the window."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(1280, max(700, min(int(height) + 160, 4000)))  # + the window's own frame
    time.sleep(0.2)
    path = shots / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path


@pytest.fixture(scope="module")
def served(eval_runs):
    with ViewServer(open_runs([eval_runs["reflexion"], eval_runs["simple"]]), port=0) as server:
        yield server.url


def wait_for(driver, condition, timeout: float = 10.0, what: str = "the page"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as err:  # not there yet (stale or missing element)
            last = err
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what} ({last})")


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def rows(driver) -> list[tuple[str, str]]:
    return [(r.get_attribute("data-task"), r.get_attribute("data-status")) for r in css(driver, "#problems tbody tr")]


def records(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]


def open_page(driver, url: str, ready: str) -> None:
    driver.get(url)
    wait_for(driver, lambda: css(driver, ready), what=ready)


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


# ---------------------------------------------------------------------------


def test_overview_lists_every_problem_with_its_status(driver, served, eval_runs, shots):
    open_page(driver, served + "#/run/0", "#problems tbody tr")
    expected = sorted((r["task_id"], "passed" if r["hidden_passed"] else "failed") for r in records(eval_runs["reflexion"]))
    assert sorted(rows(driver)) == expected
    assert css(driver, "#fig-pass1 .value")[0].text == "75.0%"
    assert "95% CI [30.1%, 95.4%] wilson" in css(driver, "#fig-pass1 .sub")[0].text
    assert css(driver, "#fig-counts .value")[0].text == "3 / 1 / 0"
    cells = {c.get_attribute("data-cell"): c.text for c in css(driver, "#confusion td")}
    summary = json.loads((eval_runs["reflexion"] / "summary.json").read_text())["self_test"]["confusion"]["counts"]
    assert cells == {k: f"{k.upper()} {v}" for k, v in summary.items()}
    # the two plots of `coderefl report`, drawn from its data: a curve per run, a point with an interval per run
    assert len(css(driver, "#plots svg")) == 2 and len(css(driver, "#plots svg polyline")) == 2
    assert "stop reason" in css(driver, "#problems thead")[0].text
    screenshot(driver, shots, "overview")
    assert console_errors(driver) == []


def test_filter_sort_and_search_the_problem_list(driver, served, shots):
    open_page(driver, served + "#/run/0", "#problems tbody tr")
    css(driver, "#filter-failed")[0].click()
    wait_for(driver, lambda: rows(driver) == [("HumanEval/2", "failed")], what="only the failed problem")
    assert css(driver, "#shown")[0].text == "showing 1 of 4"
    screenshot(driver, shots, "overview-failed-only")
    css(driver, "#filter-failed")[0].click()
    wait_for(driver, lambda: len(rows(driver)) == 4, what="all problems again")

    from selenium.webdriver.support.ui import Select

    Select(css(driver, "#filter-stop")[0]).select_by_value("max_iters")
    wait_for(driver, lambda: [t for t, _ in rows(driver)] == ["HumanEval/2"], what="the stop-reason filter")
    Select(css(driver, "#filter-stop")[0]).select_by_value("")
    # text matches the prompt, not only the id: "truncate_number" is in HumanEval/2's prompt
    css(driver, "#filter-text")[0].send_keys("truncate_number")
    wait_for(driver, lambda: [t for t, _ in rows(driver)] == ["HumanEval/2"], what="the text filter")
    css(driver, "#filter-text")[0].clear()
    css(driver, "#filter-text")[0].send_keys("x")  # clear() fires no input event; type and delete
    css(driver, "#filter-text")[0].send_keys("\b")
    wait_for(driver, lambda: len(rows(driver)) == 4, what="the cleared text filter")

    css(driver, 'th[data-col="iterations"]')[0].click()  # ascending
    css(driver, 'th[data-col="iterations"]')[0].click()  # descending: the two-iteration ones first
    wait_for(driver, lambda: {t for t, _ in rows(driver)[:2]} == {"HumanEval/0", "HumanEval/2"}, what="sorted rows")


def test_a_problem_shows_its_steps_in_order_with_reflection_and_diff(driver, served, eval_runs, shots):
    open_page(driver, served + "#/run/0", "#problems tbody tr")
    css(driver, '#problems tr[data-task="HumanEval/0"] a')[0].click()
    wait_for(driver, lambda: css(driver, "#steps .step"), what="the steps")
    traj = json.loads((eval_runs["reflexion"] / "trajectories" / "HumanEval_0__s0.json").read_text())["trajectory"]
    kinds = [s.get_attribute("data-kind") for s in css(driver, "#steps .step")]
    assert kinds == [s["kind"] for s in traj["steps"]]
    assert kinds == ["generate_tests", "generate", "execute", "reflect", "generate", "execute"]
    reflection = next(s["reflection"] for s in traj["steps"] if s["kind"] == "reflect")
    assert css(driver, "#steps .reflection")[0].text == reflection
    assert "has_close_elements" in css(driver, "#prompt")[0].text
    # the second candidate opens on its diff against the first
    second = css(driver, '#steps .step[data-kind="generate"]')[1]
    removed = [e.text for e in second.find_elements("css selector", "pre.diff .del")]
    added = [e.text for e in second.find_elements("css selector", "pre.diff .add")]
    assert "-    return None" in removed and any("for idx, elem in enumerate(numbers):" in a for a in added)
    # per-test results with the returned and expected values
    failed = css(driver, '#steps .step[data-kind="execute"]')[0]
    assert failed.find_elements("css selector", "td.returned")[0].text == "None"
    assert failed.find_elements("css selector", "td.expected")[0].text == "False"
    assert "has_close_elements([1.0, 2.0, 3.0], 0.5) == False" in failed.find_elements("css selector", "tr[data-status]")[0].text
    # the hidden result once, at the end, marked hidden
    hidden = css(driver, "#hidden")
    assert len(hidden) == 1 and "HIDDEN" in hidden[0].text and "passed" in hidden[0].text
    last_step_y = css(driver, "#steps .step")[-1].location["y"]
    assert hidden[0].location["y"] > last_step_y
    screenshot(driver, shots, "problem")
    # the full code of the candidate, one click away
    second.find_elements("css selector", ".tabs2 button")[1].click()
    assert "def has_close_elements(numbers" in second.find_elements("css selector", "pre.code")[0].text


def test_a_dropped_test_shows_its_tier_and_why(driver, served, shots):
    open_page(driver, served + "#/run/0/p/HumanEval%2F3/0", "#steps .step")
    kinds = [s.get_attribute("data-kind") for s in css(driver, "#steps .step")]
    assert kinds == ["generate_tests", "decision", "generate", "execute"]
    dropped = css(driver, '#steps .step[data-kind="generate_tests"] tr[data-dropped="yes"]')
    assert len(dropped) == 1 and CONTRADICTING_TEST in dropped[0].text
    assert "step #2: dropped generated test" in dropped[0].text and "contradicts the example" in dropped[0].text
    assert "line-through" in dropped[0].find_elements("css selector", "span.code")[0].value_of_css_property("text-decoration")
    assert "contradicts the example" in css(driver, '#steps .step[data-kind="decision"] .note')[0].text
    tiers = [t.text for t in css(driver, '#steps .step[data-kind="execute"] .tier')]
    assert tiers[:2] == ["example", "example"] and set(tiers[2:]) == {"generated"}
    screenshot(driver, shots, "problem-dropped-test")


def test_side_by_side_aligns_runs_by_task_with_the_delta(driver, served, shots):
    open_page(driver, served + "#/run/0", "#tab-compare")
    css(driver, "#tab-compare")[0].click()
    wait_for(driver, lambda: css(driver, "#aligned tbody tr"), what="the aligned table")
    lines = [r.text for r in css(driver, "#compare-summary tbody tr")]
    assert lines[0].startswith("reflexion reflexion scripted-model 4×1 75.0%")
    delta = css(driver, "#compare-summary tbody tr")[1].find_elements("css selector", "td.delta")[0].text
    assert delta.startswith("-25.0 pts [") and delta.endswith("] on 4")
    aligned = {r.get_attribute("data-task"): r.get_attribute("data-differs") for r in css(driver, "#aligned tbody tr")}
    assert aligned == {"HumanEval/0": "yes", "HumanEval/1": "no", "HumanEval/2": "no", "HumanEval/3": "no"}
    screenshot(driver, shots, "side-by-side")
    css(driver, "#filter-differ")[0].click()
    wait_for(driver, lambda: len(css(driver, "#aligned tbody tr")) == 1, what="only differing problems")
    css(driver, '#aligned tr[data-task="HumanEval/0"] a')[0].click()
    wait_for(driver, lambda: len(css(driver, "#compare-cols .steps")) == 2, what="both runs' steps")
    cols = css(driver, "#compare-cols .compare-col")
    assert [c.get_attribute("data-run") for c in cols] == ["reflexion", "simple"]
    assert [len(c.find_elements("css selector", ".step[data-kind]")) for c in cols] == [6, 2]
    assert "passed" in cols[0].find_elements("css selector", "h2")[0].text
    assert "failed" in cols[1].find_elements("css selector", "h2")[0].text
    screenshot(driver, shots, "side-by-side-problem")


def test_model_written_markup_renders_as_text(driver, served, shots):
    open_page(driver, served + "#/run/0/p/HumanEval%2F2/0", "#steps .step")
    wait_for(driver, lambda: css(driver, "#hidden"), what="the whole trajectory")
    reflections = [e.text for e in css(driver, "#steps .reflection")]
    assert reflections and all(r == MARKUP_REFLECTION for r in reflections)
    code = css(driver, '#steps .step[data-kind="generate"] pre')[0].text
    assert '"""<script>window.__pwned = 3</script>"""' in code
    stdout = css(driver, "#steps pre.stdout")
    assert stdout and "<b>bold?</b><img src=x onerror=window.__pwned=4>" in stdout[0].text
    # none of it became an element, and none of it ran
    assert driver.execute_script("return window.__pwned") is None
    assert css(driver, "#problem script, #problem img, #problem b") == []
    assert css(driver, "script:not([src])") == []
    screenshot(driver, shots, "markup-as-text")


def test_static_export_opens_from_disk(driver, eval_runs, tmp_path, shots):
    out = tmp_path / "site"
    export_static(open_runs([eval_runs["reflexion"], eval_runs["simple"]]), out)
    open_page(driver, (out / "index.html").as_uri() + "#/run/1", "#problems tbody tr")
    assert sorted(rows(driver)) == [("HumanEval/0", "failed"), ("HumanEval/1", "passed"), ("HumanEval/2", "failed"), ("HumanEval/3", "passed")]
    assert css(driver, "#live")[0].text == "static export"
    css(driver, '#problems tr[data-task="HumanEval/1"] a')[0].click()
    wait_for(driver, lambda: css(driver, "#steps .step"), what="a trajectory loaded from disk")
    assert [s.get_attribute("data-kind") for s in css(driver, "#steps .step")] == ["generate", "execute"]
    screenshot(driver, shots, "static-export-problem")
    assert driver.execute_script("return window.__pwned") is None


def test_a_live_run_shows_new_records_in_the_page(driver, eval_runs, tmp_path):
    run = tmp_path / "live"
    shutil.copytree(eval_runs["reflexion"], run)
    lines = (run / "results.jsonl").read_text().splitlines(keepends=True)
    (run / "results.jsonl").write_text("".join(lines[:1]))
    with ViewServer(open_runs([run]), port=0) as server:
        open_page(driver, server.url, "#problems tbody tr")
        assert len(rows(driver)) == 1
        with open(run / "results.jsonl", "a") as fh:
            fh.write("".join(lines[1:]))
        wait_for(driver, lambda: len(rows(driver)) == 4, timeout=10, what="the new records")
        assert "live" in css(driver, "#live")[0].text


def test_the_page_follows_a_running_eval(driver, tmp_path, shots):
    """A real `coderefl eval` still writing its run: the open page gains rows as records land."""
    out = tmp_path / "running"
    with ScriptedServer(handler=scripted_model(), latency_s=0.4) as model:
        proc = subprocess.Popen(
            eval_command(model, out, "reflexion", tmp_path / "cache.sqlite", "--max-problems", "1", "--concurrency", "1"),
            cwd=tmp_path, env=eval_env(tmp_path / "cache.sqlite"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(driver, lambda: (out / "config.json").exists(), timeout=60, what="the run folder")
            with ViewServer(open_runs([out]), port=0) as server:
                driver.get(server.url)
                wait_for(driver, lambda: css(driver, "#shown"), what="the overview")
                seen = set()
                def count() -> int:
                    n = len(rows(driver))
                    seen.add(n)
                    return n == LIMIT
                wait_for(driver, count, timeout=120, what="every record of the running eval")
                assert proc.wait(timeout=60) == 0, proc.stderr.read()
                assert len(seen) >= 2  # the page showed the run part-done, then grew
                screenshot(driver, shots, "live-run-finished")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_a_large_run_opens_fast(driver, eval_runs, tmp_path, shots):
    """164 problems x 5 samples: the overview loads and lists all 820 records
    quickly (trajectories are not loaded until a problem is opened)."""
    run = tmp_path / "large"
    run.mkdir()
    shutil.copy(eval_runs["reflexion"] / "config.json", run / "config.json")
    base = records(eval_runs["reflexion"])
    with open(run / "results.jsonl", "w") as fh:
        for i in range(164):
            for s in range(5):
                r = dict(base[(i + s) % len(base)], task_id=f"HumanEval/{i}", sample=s)
                fh.write(json.dumps(r) + "\n")
    with ViewServer(open_runs([run]), port=0) as server:
        server.overview_data()  # computed once per change of results.jsonl; the page's load is what is timed
        open_page(driver, server.url, "#problems tbody tr")
        wait_for(driver, lambda: css(driver, "#shown")[0].text == "showing 820 of 820", what="all 820 rows")
        ms = driver.execute_script("return window.coderefl_rendered_ms")  # since navigation start
        screenshot(driver, shots, "large-run")
    print(f"820 records listed {ms:.0f} ms after navigation")
    assert ms < 1000
