"""`make loadtest`, small: a few educators and an instructor for 15 seconds, through the same people
(loadtest/locustfile.py) and the same runner (`python -m loadtest`), so that the load test cannot rot unnoticed.

The runner is its own process: Locust patches the standard library for gevent when it is imported, which this
test process must not be. PostgreSQL and Redis only (the several-hosts stack needs them); skipped on SQLite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from config.settings import PROJECT_ROOT

# Every kind of step the issue names: launches, the page, autosaves, uploads of mixed sizes, a link, the submission,
# and the instructors' progress view.
KINDS = {"launch", "submission page", "autosave", "upload small", "upload large", "link", "submit", "progress view"}
EDUCATORS, INSTRUCTORS = 3, 1
TIMEOUT_SECONDS = 300  # 45 s on this 2-CPU machine at load average 3, 2 to 3 minutes when other suites share it

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"),
        reason="the load test runs on PostgreSQL and Redis: set DATABASE_URL=postgresql://… and REDIS_URL=redis://…"),
]


def test_a_few_people_for_fifteen_seconds_do_every_kind_of_step_without_a_failure(tmp_path):
    report, figures = tmp_path / "report.md", tmp_path / "figures.json"
    runner = subprocess.Popen(
        [sys.executable, "-m", "loadtest", "--users", str(EDUCATORS), "--instructors", str(INSTRUCTORS),
         "--minutes", "0.25", "--web-servers", "2", "--web-concurrency", "1", "--outbox-workers", "1",
         "--autosave-every", "1,2", "--progress-every", "2,3", "--out", str(report), "--json", str(figures)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        stdout, stderr = runner.communicate(timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        runner.send_signal(signal.SIGINT)  # as Ctrl-C: the runner stops its stack on the way out (SIGKILL would not)
        stdout, stderr = runner.communicate(timeout=60)
        pytest.fail(f"the load test took more than {TIMEOUT_SECONDS} s:\n{stdout[-4000:]}{stderr[-4000:]}")
    assert runner.returncode == 0, stdout[-4000:] + stderr[-4000:]

    (run,) = json.loads(figures.read_text())
    steps = {kind["kind"]: kind for kind in run["kinds"]}
    assert set(steps) == KINDS
    assert all(steps[kind]["requests"] > 0 for kind in KINDS), {kind: steps[kind]["requests"] for kind in KINDS}
    assert run["total"]["failures"] == 0 and not run["errors"] and not run["exceptions"], run["errors"]
    assert run["web_servers"] == 2
    # Each person launched once (nobody had to come back after a failure), each educator submitted once.
    assert run["launches"] == EDUCATORS + INSTRUCTORS
    assert steps["submit"]["requests"] == EDUCATORS
    assert max(run["connections"]) > 0  # the stack's PostgreSQL connections were sampled
    assert run["redis_after"]["keys"] > 0

    text = report.read_text()
    assert "| kind | requests | rps | p50 ms | p95 ms | p99 ms | failures |" in text
    assert all(f"| {kind} |" in text for kind in KINDS)
