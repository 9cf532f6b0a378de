"""`python -m bench.progress_view [--educators 500,5000,20000] [--requests R]`: the instructor's progress view on
courses of growing size, next to the trivial page.

The tool runs as production runs it (gunicorn, bench/tool_server.py) on a temporary SQLite database (or
DATABASE_URL), the independent platform in-process. For each size N, one course is seeded (bulk-inserted through
SQLAlchemy core, the rows as a roster read and the services leave them): N Learner members of the roster (a few
also Mentors, a few with the short role name: several distinct role sets), an instructor and two teaching
assistants who are not listed, 80 % of the learners enrolled with attempts in a realistic mix of states and their
assessments (due dates, some overdue, decisions, released scores), the roster just read. The course's instructor
launches from the platform and lands on the view; then, over one keep-alive connection: the trivial page
(/healthz), the first page, a filtered and sorted page, a late page (the last), each R times, and the CSV export
(time, and the peak resident memory of the gunicorn worker that served it, sampled every 20 ms, next to its
baseline). Every figure is also a ratio to the trivial page of the same run. Target (issue 11): the pages' p50
within 10x the trivial page's at the largest size.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import insert

from bench.platform_server import PlatformServer
from bench.stats import percentile
from bench.submission_page import _environment, session_gets, timed_gets
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from bench.upload_memory import RssSampler, rss_kib, worker_pids
from tests.platform.browser import PlatformBrowser

SIZES = (500, 5_000, 20_000)
TARGET_RATIO = 10.0
WARMUP = 5
SLUG = "self-assessment-growth"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
# (attempts as (status, marking_status), assessment as (decision, released)) per learner, round-robin out of 20;
# a learner with no work at all is only on the roster (20 % of them, not enrolled).
MIX = (
    ((), None), ((), None), ((), None), ((), None),
    ((("new", "notmarked"),), None), ((("new", "notmarked"),), None),
    ((("draft", "notmarked"),), None), ((("draft", "notmarked"),), None), ((("draft", "notmarked"),), None),
    ((("submitted", "notmarked"),), None), ((("submitted", "notmarked"),), None),
    ((("submitted", "notmarked"),), None),
    ((("submitted", "inmarking"),), None), ((("submitted", "readyforrelease"),), ("earned", False)),
    ((("submitted", "released"),), ("earned", True)), ((("submitted", "released"),), ("earned", True)),
    ((("submitted", "released"),), ("notyet", True)),
    ((("submitted", "released"), ("draft", "notmarked")), None),
    ((("submitted", "released"), ("submitted", "notmarked")), None),
    ((("submitted", "released"), ("submitted", "released")), ("earned", True)),
)
ROLE_SETS = ([LIS + "Learner"], [LIS + "Learner", LIS + "Mentor"], ["Learner"])
PAGES = {  # label: query parameters (the late page is added once the page count is known)
    "first page": {},
    "filtered + sorted page (submitted, by due date)": {"status": "submitted", "sort": "due"},
}


@dataclass
class Course:
    educators: int
    lms_context: str
    lms_link: str
    seconds: float


def _ids(model, rows: list[dict]) -> list[int]:
    from lti_tool.extensions import db

    return list(db.session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), rows)) \
        if rows else []


def seed_course(platform, educators: int, seed: int = 11) -> Course:
    """One course of `educators` learners (see the module's docstring), in the tool's app context."""
    from lti_tool.assessment.models import Assessment
    from lti_tool.assessment.services import due_date
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, Deployment, LtiUser, Membership, Registration, ResourceLink
    from lti_tool.submissions.models import Attempt, Enrollment

    began = time.perf_counter()
    rng = random.Random(seed + educators)
    run = secrets.token_hex(3)  # pseudonyms unique in a database that keeps earlier runs' rows
    now = utcnow()
    registration = db.session.scalar(db.select(Registration).where(Registration.issuer == platform.issuer))
    deployment = db.session.scalar(db.select(Deployment).where(Deployment.registration_id == registration.id))
    microcredential, term = get_microcredential(SLUG), current_term(now)
    lms_context, lms_link = f"bench-course-{educators}", f"bench-activity-{educators}"
    (context_id,) = _ids(Context, [{"deployment_id": deployment.id, "context_id": lms_context,
                                    "title": f"Course of {educators:,}", "label": f"C{educators}",
                                    "memberships_url": f"{platform.base_url}/memberships/{lms_context}",
                                    "roster_synced_at": now}])
    (link_id,) = _ids(ResourceLink, [{"context_id": context_id, "resource_link_id": lms_link,
                                      "title": "Micro-credential activity", "microcredential_slug": SLUG}])
    user_ids = _ids(LtiUser, [
        {"registration_id": registration.id, "issuer": registration.issuer, "sub": f"c{educators}-edu-{n:05d}",
         "given_name": f"Given{rng.randrange(997)}", "family_name": f"Family{n:05d}",
         "name": "" if n % 50 == 7 else f"Given{n % 97} Family{n:05d}", "email": f"edu{n}.{educators}@school.example"}
        for n in range(educators)
    ])
    staff_ids = _ids(LtiUser, [{"registration_id": registration.id, "issuer": registration.issuer,
                                "sub": f"c{educators}-ta-{n}", "name": f"Assistant {n}"} for n in range(2)])
    db.session.execute(insert(Membership), [
        {"context_id": context_id, "user_id": uid, "roles": ROLE_SETS[n % 7 // 5 + (n % 11 == 3)],
         "status": "Inactive" if n % 200 == 199 else "Active"}
        for n, uid in enumerate(user_ids)
    ] + [{"context_id": context_id, "user_id": uid, "roles": [LIS + "Instructor#TeachingAssistant"],
          "status": "Active"} for uid in staff_ids])
    work = [MIX[n % len(MIX)] for n in range(educators)]
    enrolled = [n for n in range(educators) if work[n][0]]
    enrollment_ids = dict(zip(enrolled, _ids(Enrollment, [
        {"user_id": user_ids[n], "microcredential_id": microcredential.id, "term_id": term.id,
         "resource_link_id": link_id} for n in enrolled]), strict=True))
    attempt_rows, latest = [], {}
    for n in enrolled:
        moment = now - timedelta(days=40) + timedelta(days=35) * rng.random()
        for number, (status, marking) in enumerate(work[n][0], start=1):
            at = moment + timedelta(days=2 * number)
            attempt_rows.append({
                "enrollment_id": enrollment_ids[n], "number": number, "status": status, "marking_status": marking,
                "overview": "" if status == "new" else "An overview of the work.", "reflection": "",
                "collaborators": "", "version": 1, "content_changed_at": None if status == "new" else at,
                "submitted_at": at + timedelta(hours=1) if status == "submitted" else None})
    attempt_ids = _ids(Attempt, attempt_rows)
    for row, attempt_id in zip(attempt_rows, attempt_ids, strict=True):
        latest[row["enrollment_id"]] = (row, attempt_id)
    assessments = []
    for n in enrolled:
        row, attempt_id = latest[enrollment_ids[n]]
        if row["status"] != "submitted":
            continue
        decision, released = work[n][1] or (None, False)
        submitted = row["submitted_at"]
        assessments.append({
            "attempt_id": attempt_id, "registration_id": registration.id, "context_id": context_id,
            "microcredential_id": microcredential.id, "educator_id": user_ids[n],
            "pseudonym": f"{run}{n:05d}", "attempt_number": row["number"], "submitted_at": submitted,
            "due_at": due_date(submitted), "is_double_blind": False, "needs_review": False,
            "decision": decision, "decided_at": submitted + timedelta(days=2) if decision else None,
            "score_maximum": 1.0 if released else None,
            "score_given": (1.0 if decision == "earned" else 0.4) if released else None,
            "released_at": submitted + timedelta(days=3) if released else None,
            "created_at": submitted, "updated_at": submitted})
    if assessments:
        db.session.execute(insert(Assessment), assessments)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":  # the planner's statistics, as autovacuum keeps them in production
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("ANALYZE")
    return Course(educators, lms_context, lms_link, time.perf_counter() - began)


def seed_in_process(env: dict, platform, educators: int) -> Course:
    with _environment(env):
        from lti_tool import create_app
        from lti_tool.extensions import db

        app = create_app()
        with app.app_context():
            try:
                return seed_course(platform, educators)
            finally:
                db.session.remove()
                db.engine.dispose()


def launch_instructor(platform, course: Course) -> tuple[requests.Session, str]:
    """The course's instructor launches from the platform and lands on the progress view: their browser's session
    (the launch reference is bound to its cookie) and the launch reference."""
    browser = PlatformBrowser(platform)
    result = browser.launch(person="instructor", custom={"microcredential": SLUG},
                                              context_id=course.lms_context, resource_link_id=course.lms_link)
    if result.status_code != 200 or not result.ltik or "/progress/" not in result.url:
        raise RuntimeError(f"the instructor's launch ended at {result.url} with {result.status_code}: "
                           f"{result.text[:300]}")
    return browser.session, result.ltik


def measure_export(session: requests.Session, url: str, params: dict, workers: list[int]) -> dict:
    """One CSV export, read as it streams, while the resident memory of every worker is sampled."""
    baseline = {pid: rss_kib(pid) for pid in workers}
    samplers = [RssSampler(pid, 0.02) for pid in workers]
    for sampler in samplers:
        sampler.start()
    started = time.perf_counter()
    response = session.get(url, params=params, stream=True, timeout=300)
    chunks = size = 0
    for chunk in response.iter_content(chunk_size=None):
        chunks += 1
        size += len(chunk)
    seconds = time.perf_counter() - started
    peaks = {pid: max(sampler.stop() + [baseline[pid]]) for pid, sampler in zip(workers, samplers, strict=True)}
    if response.status_code != 200:
        raise RuntimeError(f"the CSV export answered {response.status_code}")
    delta = max(peaks[pid] - baseline[pid] for pid in workers)
    return {"seconds": seconds, "bytes": size, "chunks": chunks, "delta_mib": delta / 1024,
            "peak_mib": max(peaks.values()) / 1024}


def measure_course(gunicorn: Gunicorn, platform, course: Course, requests_per_page: int) -> dict:
    session, ltik = launch_instructor(platform, course)
    url = gunicorn.url + "/progress/"
    first = session.get(url, params={"ltik": ltik}, timeout=120)
    pages_text = first.text.split("Page 1 of ", 1)
    pages = int(pages_text[1].split("<", 1)[0]) if len(pages_text) == 2 else 1
    checks = {"rows": first.text.count("<tr data-state="), "pages": pages}
    timed_gets(gunicorn.url + "/healthz", WARMUP * 2)
    all_pages = dict(PAGES, **{f"late page ({pages} of {pages})": {"page": str(pages)}})
    for params in all_pages.values():
        session_gets(session, url, WARMUP, {"ltik": ltik, **params})  # every worker: templates, connections, plans
    trivial, _ = timed_gets(gunicorn.url + "/healthz", requests_per_page)
    figures = {}
    for label, params in all_pages.items():
        times, size = session_gets(session, url, requests_per_page, {"ltik": ltik, **params})
        figures[label] = (percentile(times, 50), percentile(times, 95), size)
    after, _ = timed_gets(gunicorn.url + "/healthz", requests_per_page)
    trivial += after
    export = measure_export(session, url + "export.csv", {"ltik": ltik}, worker_pids(gunicorn.process.pid))
    body = session.get(url + "export.csv", params={"ltik": ltik}, timeout=300).content.decode("utf-8-sig")
    checks["csv_rows"] = len(list(csv.reader(io.StringIO(body)))) - 1
    return {"educators": course.educators, "seed_seconds": course.seconds, "checks": checks,
            "trivial": (percentile(trivial, 50), percentile(trivial, 95)), "pages": figures, "export": export}


def measure_progress(sizes=SIZES, requests_per_page: int = 20, *, workers: int = 2, keep: bool = False) -> list:
    """The figures of each size (see the module's docstring); RuntimeError on any HTTP error."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-progress-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = None
    results = []
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        set_up_tool(env, platform_server.platform, catalog=True)
        gunicorn = Gunicorn(env, port, workers, workdir / "gunicorn.log").start()
        for educators in sizes:
            course = seed_in_process(env, platform_server.platform, educators)
            print(f"seeded a course of {educators:,} learners in {course.seconds:.1f} s", flush=True)
            figures = measure_course(gunicorn, platform_server.platform, course, requests_per_page)
            report([figures])
            results.append(figures)
        return results
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="progress bench")


def verdict(results: list) -> tuple[float, bool]:
    """The worst page's p50 ÷ the trivial page's p50 at the largest size, and whether it is within the target."""
    largest = max(results, key=lambda f: f["educators"])
    ratio = max(p50 for p50, _p95, _size in largest["pages"].values()) / largest["trivial"][0]
    return ratio, ratio <= TARGET_RATIO


def report(results: list) -> None:
    for f in results:
        trivial50, trivial95 = f["trivial"]
        checks = f["checks"]
        print(f"{f['educators']:,} learners on the roster (first page {checks['rows']} rows of {checks['pages']} "
              f"pages; CSV {checks['csv_rows']:,} rows)")
        print(f"  {'':52}{'p50 ms':>9}{'p95 ms':>9}{'x trivial p50/p95':>20}")
        print(f"  {'trivial page  GET /healthz':52}{trivial50 * 1000:9.2f}{trivial95 * 1000:9.2f}")
        for label, (p50, p95, size) in f["pages"].items():
            print(f"  {label:52}{p50 * 1000:9.2f}{p95 * 1000:9.2f}{p50 / trivial50:11.1f}x /{p95 / trivial95:5.1f}x"
                  f"  {size / 1024:.0f} KiB")
        e = f["export"]
        print(f"  {'CSV export (streamed, read to the end)':52}{e['seconds'] * 1000:9.1f}{'':9}"
              f"{e['seconds'] / trivial50:11.0f}x        {e['bytes'] / 1024:.0f} KiB in {e['chunks']:,} chunks; "
              f"worker RSS +{e['delta_mib']:.1f} MiB (peak {e['peak_mib']:.0f} MiB)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.progress_view", description=__doc__)
    parser.add_argument("--educators", default=",".join(str(n) for n in SIZES), help="course sizes, comma-separated")
    parser.add_argument("--requests", type=int, default=20, help="timed GETs of each page (default 20)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    results = measure_progress([int(n) for n in args.educators.split(",")], args.requests, workers=args.workers,
                               keep=args.keep)
    ratio, ok = verdict(results)
    print(f"pages / trivial page, p50, at {max(f['educators'] for f in results):,}: {ratio:.1f}x "
          f"(target <= {TARGET_RATIO:.0f}x: {'PASS' if ok else 'MISS'})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
