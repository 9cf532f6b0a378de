"""`python -m bench.bulk_release [--assessments N] [--courses C]`: 1,000 decisions released at once, to the LMS.

The tool runs as production runs it: gunicorn (bench/tool_server.py) for the pages and the outbox worker as its
own process (`flask --app wsgi worker`, polling as in production), on a temporary SQLite database (or
DATABASE_URL). The independent test platform serves its token endpoint and AGS line items and scores
in-process (tests/platform/lms_services.py). N assessments (spread over C courses, bulk-inserted by
`bench.assessment_queue.seed_assessments`) are `readyforrelease` with a complete first scoring; no course has
its grade column yet, so the worker looks it up and creates it with the first score of each course.

The organization assessor launches from the platform, then one `POST /assessment/release` carries every
`assessment_id` (the queue's "Release selected"). The clock runs from that click until the platform holds a
`Completed`/`FullyGraded` score for every one of the N educators. Reported: the POST's own time, the time to
the first and the last score in the LMS, the worker's rate, and what reached the platform (token requests:
access tokens are cached, so one per scope set; score POSTs: exactly N). /healthz is timed in the same run.
Target (issue 7): every score in the LMS within 10 s on this 2-CPU machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.assessment_queue import launch_assessor, seed_in_process
from bench.platform_server import PlatformServer
from bench.stats import percentile
from bench.submission_page import _environment, timed_gets
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from cluster.hosts import OutboxWorker

TARGET_SECONDS = 10.0
SCORE_TIMEOUT = 150.0  # give up waiting for the LMS after this long (the section then fails)


def completed_scores(services) -> list[dict]:
    """Every Completed/FullyGraded score the platform received, in any line item."""
    with services.lock:
        scores = [score for item in services.scores.values() for score in item]
    return [s for s in scores if s.get("activityProgress") == "Completed" and s.get("gradingProgress") == "FullyGraded"]


def outbox_counts(env: dict) -> dict[str, int]:
    with _environment(env):
        from lti_tool import create_app
        from lti_tool.extensions import db
        from lti_tool.gradebook.services import outbox_counts as counts

        app = create_app()
        with app.app_context():
            try:
                return {k: v for k, v in counts().items() if v}
            finally:
                db.session.remove()
                db.engine.dispose()


def measure_release(assessments: int = 1000, courses: int = 10, *, workers: int = 2, worker_running: bool = True,
                    keep: bool = False) -> dict:
    """The figures of the section (see the module's docstring); RuntimeError on any HTTP error."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-release-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = worker = None
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        platform = platform_server.platform
        services = platform.services
        if services is None:
            raise RuntimeError("the test platform has no LMS services (tests/platform/fixtures.mount_services)")
        set_up_tool(env, platform, catalog=True)
        per_course = -(-assessments // courses)
        seeded = seed_in_process(env, platform, courses=courses, per_course=per_course, mix=("readyforrelease",),
                                 lineitems_base=platform_server.url + "/lineitems", double_blind_every=0)
        ids = seeded.assessment_ids
        print(f"seeded {len(ids):,} assessments ready for release in {courses} courses in {seeded.seconds:.1f} s",
              flush=True)
        gunicorn = Gunicorn(env, port, workers, workdir / "gunicorn.log").start()
        browser, ltik, _landed = launch_assessor(platform, seeded)
        timed_gets(gunicorn.url + "/healthz", 10)
        healthz, _ = timed_gets(gunicorn.url + "/healthz", 50)
        if worker_running:
            worker = OutboxWorker(env, workdir / "worker.log").start()
            time.sleep(0.5)  # the worker's first round (nothing due) is over: it is polling, as in production
        before = platform_server.counter.snapshot()
        tokens_before = platform_server.token_requests

        form = [("ltik", ltik)] + [("assessment_id", str(i)) for i in ids]
        started = time.perf_counter()
        # the launching browser's own session: a launch reference is bound to the browser that launched
        response = browser.session.post(gunicorn.url + "/assessment/release", data=form, allow_redirects=False,
                                        timeout=300)
        posted = time.perf_counter() - started
        if response.status_code != 303 or "skipped" in response.headers.get("Location", ""):
            raise RuntimeError(f"POST /assessment/release answered {response.status_code} after {posted:.1f} s "
                               f"({response.headers.get('Location', '')[:300]}): {_last_error(workdir)}")
        if worker is None:  # `flask worker` starts now, as its own process: its start-up is on the clock
            worker = OutboxWorker(env, workdir / "worker.log").start()
        worker_ready = time.perf_counter() - started
        first = last = None
        received = 0
        while True:
            received = len(completed_scores(services))
            now = time.perf_counter() - started
            if received and first is None:
                first = now
            if received >= len(ids):
                last = now
                break
            if now > SCORE_TIMEOUT:
                break
            time.sleep(0.02)
        healthz_after, _ = timed_gets(gunicorn.url + "/healthz", 50)
        worker.stop()
        after = platform_server.counter.snapshot()
        calls = Counter({path: n - before[path] for path, n in after.items() if n - before[path] > 0})
        scores = completed_scores(services)
        people = Counter(score["userId"] for score in scores)
        if last is None:
            raise RuntimeError(f"after {SCORE_TIMEOUT:.0f} s the LMS holds {received} of {len(ids)} scores; "
                               f"worker log:\n{(workdir / 'worker.log').read_text()[-2000:]}")
        if len(people) != len(ids) or max(people.values()) != 1:
            raise RuntimeError(f"the LMS holds {len(scores)} scores for {len(people)} people (expected one each "
                               f"for {len(ids)})")
        trivial = healthz + healthz_after
        return {
            "assessments": len(ids), "courses": courses, "workers": workers,
            "post_seconds": posted, "worker_ready_seconds": worker_ready, "worker_running": worker_running,
            "first_score_seconds": first, "all_scores_seconds": last,
            "send_rate": (len(ids) - 1) / (last - first) if last > first else float("nan"),
            "token_requests": platform_server.token_requests - tokens_before,
            "score_posts": sum(n for path, n in calls.items() if path.endswith("/scores")),
            "line_item_calls": sum(n for path, n in calls.items() if path.startswith("/lineitems")
                                   and not path.endswith("/scores")),
            "other_calls": {p: n for p, n in calls.items() if not p.startswith("/lineitems") and p != "/token"},
            "outbox": outbox_counts(env),
            "earned": sum(1 for s in scores if s.get("scoreGiven") == s.get("scoreMaximum")),
            "healthz_p50": percentile(trivial, 50), "healthz_p95": percentile(trivial, 95),
        }
    finally:
        if worker is not None:
            worker.stop()
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="release bench")


def _last_error(workdir: Path) -> str:
    """The last line of the last traceback in gunicorn's log (the tool's error page says nothing)."""
    lines = [line for line in (workdir / "gunicorn.log").read_text(errors="replace").splitlines()
             if line and not line.startswith((" ", "127.0.0.1"))]
    return lines[-1][:400] if lines else "(no error in gunicorn.log)"


def verdict(figures: dict) -> bool:
    return figures["all_scores_seconds"] <= TARGET_SECONDS


def report(figures: dict) -> None:
    n = figures["assessments"]
    print(f"bulk release of {n:,} decisions ({figures['courses']} courses) with one POST /assessment/release; "
          f"gunicorn with {figures['workers']} sync workers; one outbox worker process (`flask worker`, polling)")
    print(f"  POST /assessment/release (release_many, {n:,} ids):   {figures['post_seconds']:7.2f} s "
          f"({figures['post_seconds'] / n * 1000:.2f} ms per decision)")
    if figures["worker_running"]:
        print("  the outbox worker was already running (polling every OUTBOX_POLL_SECONDS)")
    else:
        print(f"  `flask worker` started after the POST, ready at:     {figures['worker_ready_seconds']:7.2f} s")
    print(f"  first score in the LMS, from the click:             {figures['first_score_seconds']:7.2f} s")
    print(f"  every score in the LMS, from the click:             {figures['all_scores_seconds']:7.2f} s  "
          f"(target <= {TARGET_SECONDS:.0f} s: {'PASS' if verdict(figures) else 'MISS'})")
    print(f"  worker, first to last score:                        {figures['send_rate']:7.1f} scores/s "
          f"({1000 / figures['send_rate']:.2f} ms per score)")
    print(f"  trivial page /healthz p50 / p95 (same run):         {figures['healthz_p50'] * 1000:7.2f} / "
          f"{figures['healthz_p95'] * 1000:.2f} ms; one decision released and sent = "
          f"{figures['all_scores_seconds'] / n / figures['healthz_p50']:.1f}x /healthz p50")
    print(f"  reached the LMS: {figures['token_requests']} token requests, {figures['score_posts']:,} score POSTs, "
          f"{figures['line_item_calls']} line-item calls; other: {figures['other_calls'] or 'none'}")
    print(f"  outbox afterwards: {figures['outbox']}; earned (full score) {figures['earned']:,} of {n:,}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk_release", description=__doc__)
    parser.add_argument("--assessments", type=int, default=1000, help="decisions released at once (default 1,000)")
    parser.add_argument("--courses", type=int, default=10, help="courses they come from (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--worker-after", dest="worker_running", action="store_false",
                        help="start the outbox worker only after the POST (its start-up then counts on the clock) "
                             "instead of before the release, as production runs it")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    figures = measure_release(args.assessments, args.courses, workers=args.workers,
                              worker_running=args.worker_running, keep=args.keep)
    report(figures)
    return 0 if verdict(figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
