"""`python -m bench.reports [--educators 500,5000,20000] [--requests R]`: the organizations' report as it grows.

The tool runs as production runs it (gunicorn, bench/tool_server.py) on a temporary SQLite database (or
DATABASE_URL), the independent platform in-process. One micro-credential and one term, spread over 8 courses:
the educators are bulk-inserted (SQLAlchemy core into the tool's own tables, the rows as the services write
them) in a realistic mix, 500 first, then grown to each next size on the same platform: not submitted (no
attempt, a new or a draft attempt), in assessment (not marked, in marking, ready for release), earned
(released, with a badge: issued, some awaiting an email, some revoked), not yet, and resubmitted (a released
*Not yet*, then attempt 2 in assessment or earned). At each size the platform's admin launches and the report's
pages are fetched R times in a row next to the trivial page (/healthz) of the same run: the first page, the
term filter, the follow-up list's second page; then each CSV export once, timed to its last byte while the
gunicorn workers' VmRSS is sampled (peak minus the worker's own baseline). Target: each page's p50 within
10x /healthz at every size; SQL statements per page (in-process) the same at every size.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import insert

from bench.assessment_queue import _ids, analyze, count_queries
from bench.platform_server import PlatformServer
from bench.stats import percentile
from bench.submission_page import _environment, session_gets
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from bench.upload_memory import RssSampler, rss_kib, worker_pids
from tests.platform.browser import PlatformBrowser

TARGET_RATIO = 10.0
WARMUP = 5
SIZES = (500, 5_000, 20_000)
COURSES = 8
SLUG = "self-assessment-growth"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
# Where each educator stands, round-robin out of 20 (see the module's docstring).
MIX = (("none",) * 2 + ("new", "draft") + ("notmarked",) * 2 + ("inmarking", "readyforrelease")
       + ("earned",) * 6 + ("awaiting_email", "revoked") + ("notyet",) * 3 + ("again_open", "again_earned"))
PAGES = {"report, first page": {}, "report, term filter": {"term": None}, "report, follow-up page 2": {"page": "2"}}
EXPORTS = {"figures CSV": "/admin/reports.csv", "follow-up CSV": "/admin/reports/follow-up.csv",
           "badges CSV": "/admin/reports/badges.csv"}


class Seeder:
    """Grows one platform's educators in one micro-credential and term, in the mix above."""

    def __init__(self, platform):
        self.platform = platform
        self.educators = 0
        self.rng = random.Random(11)
        self.courses: list[tuple[int, int, str, str]] = []  # (context id, link id, LMS context, LMS link)
        self.term_key = ""

    def grow_to(self, educators: int) -> float:
        from lti_tool.extensions import db

        began = time.perf_counter()
        self._add(educators - self.educators)
        db.session.commit()
        analyze()
        self.educators = educators
        return time.perf_counter() - began

    def _add(self, count: int) -> None:
        from lti_tool.assessment.models import Assessment
        from lti_tool.assessment.services import due_date
        from lti_tool.badges.models import Badge
        from lti_tool.catalog.models import IssuerProfile
        from lti_tool.catalog.services import current_term, get_microcredential
        from lti_tool.core.models import utcnow
        from lti_tool.extensions import db
        from lti_tool.lti.models import Context, Deployment, LtiUser, Membership, Registration, ResourceLink
        from lti_tool.submissions.models import Attempt, Enrollment

        now = utcnow()
        registration = db.session.scalar(db.select(Registration).where(Registration.issuer == self.platform.issuer))
        deployment = db.session.scalar(db.select(Deployment).where(Deployment.registration_id == registration.id))
        mc, term = get_microcredential(SLUG), current_term(now)
        self.term_key = term.key
        if not self.courses:
            context_ids = _ids(Context, [
                {"deployment_id": deployment.id, "context_id": f"report-course-{c}", "title": f"Cohort {c + 1}",
                 "label": f"PL-{c + 1}", "roster_synced_at": now} for c in range(COURSES)])
            link_ids = _ids(ResourceLink, [
                {"context_id": context_id, "resource_link_id": f"report-activity-{c}", "title": "Micro-credential",
                 "microcredential_slug": SLUG} for c, context_id in enumerate(context_ids)])
            self.courses = [(context_ids[c], link_ids[c], f"report-course-{c}", f"report-activity-{c}")
                            for c in range(COURSES)]
        issuer_id = mc.issuer_profile_id or _ids(IssuerProfile, [{"name": "Bench organization"}])[0]

        numbers = range(self.educators, self.educators + count)
        user_ids = _ids(LtiUser, [
            {"registration_id": registration.id, "issuer": registration.issuer,
             "sub": f"report-edu-{n:05d}", "given_name": f"Given{n % 97}",
             "family_name": f"Family{n:05d}", "name": f"Given{n % 97} Family{n:05d}",
             "email": f"edu{n}@school.example", "last_launch_at": now} for n in numbers])
        course = {n: self.courses[n % COURSES] for n in numbers}
        db.session.execute(insert(Membership), [
            {"context_id": course[n][0], "user_id": uid, "roles": [LEARNER], "status": "Active"}
            for n, uid in zip(numbers, user_ids, strict=True)])
        enrollment_ids = _ids(Enrollment, [
            {"user_id": uid, "microcredential_id": mc.id, "term_id": term.id, "resource_link_id": course[n][1]}
            for n, uid in zip(numbers, user_ids, strict=True)])

        kinds = {n: MIX[n % len(MIX)] for n in numbers}
        submitted = {n: now - timedelta(days=60) + timedelta(days=55) * self.rng.random() for n in numbers}
        attempts, plans = [], []  # plans: (n, attempt number, marking status, decision, released)
        for n, enrollment_id in zip(numbers, enrollment_ids, strict=True):
            for number, status, marking, decision, released in _attempts_of(kinds[n]):
                attempts.append({"enrollment_id": enrollment_id, "number": number, "status": status,
                                 "marking_status": marking, "overview": "My goal, my plan and how I will know.",
                                 "reflection": "What changed for my students.", "collaborated": False,
                                 "version": 5, "content_changed_at": submitted[n],
                                 "submitted_at": (submitted[n] + timedelta(days=10 * (number - 1))
                                                  if status == "submitted" else None)})
                plans.append((n, number, marking, decision, released))
        attempt_ids = _ids(Attempt, attempts)
        assessments, assessed = [], []
        for attempt_id, row, (n, number, _marking, decision, released) in zip(attempt_ids, attempts, plans,
                                                                               strict=True):
            if row["submitted_at"] is None:
                continue
            at = row["submitted_at"]
            item = {"attempt_id": attempt_id, "registration_id": registration.id, "context_id": course[n][0],
                    "microcredential_id": mc.id, "educator_id": user_ids[n - self.educators],
                    "pseudonym": f"P{registration.id}N{n}", "attempt_number": number, "submitted_at": at,
                    "due_at": due_date(at), "created_at": at, "updated_at": at}
            if decision:
                item.update(decision=decision, decided_at=at + timedelta(days=2))
            if released:
                item.update(score_maximum=1.0, score_given=1.0 if decision == "earned" else 0.5,
                            released_at=at + timedelta(days=3, hours=n % 48))
            assessments.append(item)
            assessed.append(n)
        assessment_ids = _ids(Assessment, assessments)
        badges = []
        for assessment_id, item, n in zip(assessment_ids, assessments, assessed, strict=True):
            if item.get("decision") != "earned" or item.get("released_at") is None:
                continue
            kind, at = kinds[n], item["released_at"]
            badge = {"uuid": f"{n:08d}-0000-4000-8000-{assessment_id:012d}", "assessment_id": assessment_id,
                     "enrollment_id": enrollment_ids[n - self.educators], "user_id": user_ids[n - self.educators],
                     "microcredential_id": mc.id, "issuer_profile_id": issuer_id, "earned_at": at,
                     "earner_name": f"Given{n % 97} Family{n:05d}", "recipient_email": f"edu{n}@school.example",
                     "status": "issued", "issued_at": at, "status_index": assessment_id}
            if kind == "awaiting_email":
                badge.update(status="awaiting_email", issued_at=None, status_index=None)
            elif kind == "revoked":
                badge.update(status="revoked", revoked_at=at + timedelta(days=1), revocation_reason="Bench")
            badges.append(badge)
        if badges:
            db.session.execute(insert(Badge), badges)


def _attempts_of(kind: str) -> list[tuple[int, str, str, str | None, bool]]:
    """(number, status, marking status, decision, released) of each attempt of one educator."""
    if kind == "none":
        return []
    if kind in ("new", "draft"):
        return [(1, kind, "notmarked", None, False)]
    if kind in ("notmarked", "inmarking"):
        return [(1, "submitted", kind, None, False)]
    if kind == "readyforrelease":
        return [(1, "submitted", kind, "earned", False)]
    if kind in ("earned", "awaiting_email", "revoked"):
        return [(1, "submitted", "released", "earned", True)]
    if kind == "notyet":
        return [(1, "submitted", "released", "notyet", True)]
    first = (1, "submitted", "released", "notyet", True)
    if kind == "again_open":
        return [first, (2, "submitted", "notmarked", None, False)]
    return [first, (2, "submitted", "released", "earned", True)]  # again_earned


def _in_app(env: dict, work):
    with _environment(env):
        from lti_tool import create_app
        from lti_tool.extensions import db

        app = create_app()
        with app.app_context():
            try:
                return work()
            finally:
                db.session.remove()
                db.engine.dispose()


def launch_admin(platform, seeder: Seeder) -> tuple[requests.Session, str]:
    """The platform's admin launches from the first course: (their browser's session, the launch reference)."""
    _, _, lms_context, lms_link = seeder.courses[0]
    browser = PlatformBrowser(platform)
    result = browser.launch(person="admin", context_id=lms_context, resource_link_id=lms_link,
                            custom={"microcredential": SLUG})
    if result.status_code != 200 or not result.ltik:
        raise RuntimeError(f"the admin's launch ended at {result.url} with {result.status_code}: {result.text[:300]}")
    browser._loopback_cookies_are_secure_contexts()
    return browser.session, result.ltik


def timed_export(session: requests.Session, gunicorn: Gunicorn, path: str, params: dict) -> tuple[float, int, int, int]:
    """One CSV download read to its last byte: (seconds, bytes, lines, peak RSS growth of a worker in KiB)."""
    pids = worker_pids(gunicorn.process.pid)
    baselines = {pid: rss_kib(pid) for pid in pids}
    samplers = [RssSampler(pid, 0.02) for pid in pids]
    for sampler in samplers:
        sampler.start()
    started = time.perf_counter()
    size = lines = 0
    with session.get(gunicorn.url + path, params=params, stream=True, timeout=300) as response:
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        for chunk in response.iter_content(65536):
            size += len(chunk)
            lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    growth = max(max(sampler.stop(), default=0) - baselines[sampler.pid] for sampler in samplers)
    return seconds, size, lines, growth


def measure_size(env: dict, gunicorn: Gunicorn, browser: tuple[requests.Session, str], term_key: str,
                 count: int) -> dict:
    """The pages (p50/p95 next to /healthz) and the exports at the current size."""
    session, ltik = browser
    base = {"ltik": ltik}
    url = gunicorn.url + "/admin/reports"
    first = session.get(url, params=base, timeout=120)
    if first.status_code != 200 or 'id="figures"' not in first.text:
        raise RuntimeError(f"GET /admin/reports answered {first.status_code}: {first.text[:300]}")
    session_gets(session, gunicorn.url + "/healthz", WARMUP * 2)
    session_gets(session, url, WARMUP, base)
    healthz, _ = session_gets(session, gunicorn.url + "/healthz", count)
    pages = {}
    for label, extra in PAGES.items():
        params = {**base, **{k: (v if v is not None else term_key) for k, v in extra.items()}}
        times, size = session_gets(session, url, count, params)
        pages[label] = (percentile(times, 50), percentile(times, 95), size)
    healthz_after, _ = session_gets(session, gunicorn.url + "/healthz", count)
    trivial = healthz + healthz_after
    exports = {label: timed_export(session, gunicorn, path, base) for label, path in EXPORTS.items()}
    queries = count_queries(env, session, "/admin/reports", base)
    return {"healthz_p50": percentile(trivial, 50), "healthz_p95": percentile(trivial, 95), "pages": pages,
            "exports": exports, "queries": queries}


def measure_reports(sizes=SIZES, count: int = 50, *, workers: int = 2, keep: bool = False) -> list[dict]:
    """The figures at each size (see the module's docstring); RuntimeError on any HTTP error."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-reports-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = None
    results = []
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        platform = platform_server.platform
        set_up_tool(env, platform, catalog=True)
        seeder = Seeder(platform)
        gunicorn = Gunicorn(env, port, workers, workdir / "gunicorn.log").start()
        browser = None
        for size in sizes:
            seconds = _in_app(env, lambda size=size: seeder.grow_to(size))
            print(f"seeded {size:,} educators in {COURSES} courses ({seconds:.1f} s)", flush=True)
            browser = browser or launch_admin(platform, seeder)
            figures = measure_size(env, gunicorn, browser, seeder.term_key, count)
            figures.update(educators=size, requests=count)
            report(figures)
            results.append(figures)
        return results
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="reports bench")


def verdict(figures: dict) -> bool:
    return all(p50 / figures["healthz_p50"] <= TARGET_RATIO for p50, _, _ in figures["pages"].values())


def report(figures: dict) -> None:
    trivial = figures["healthz_p50"]
    print(f"{figures['educators']:,} educators, {figures['requests']} GETs of each page:")
    print(f"{'':34}{'p50 ms':>10}{'p95 ms':>10}{'ratio':>8}")
    print(f"{'  trivial page  GET /healthz':34}{trivial * 1000:10.2f}{figures['healthz_p95'] * 1000:10.2f}")
    for label, (p50, p95, size) in figures["pages"].items():
        print(f"{'  ' + label:34}{p50 * 1000:10.2f}{p95 * 1000:10.2f}{p50 / trivial:7.1f}x   {size / 1024:.0f} KiB")
    for label, (seconds, size, lines, growth) in figures["exports"].items():
        print(f"{'  ' + label:34}{seconds * 1000:10.0f} ms, {lines:,} lines, {size / 1024:.0f} KiB, worker RSS "
              f"+{growth / 1024:.1f} MiB ({seconds / trivial:.0f}x /healthz)")
    queries = "/".join(str(n) for n in figures["queries"]) or "?"
    print(f"  SQL statements per report page (in-process): {queries}; pages within {TARGET_RATIO:.0f}x /healthz: "
          f"{'PASS' if verdict(figures) else 'MISS'}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports", description=__doc__)
    parser.add_argument("--educators", default=",".join(str(n) for n in SIZES), help="sizes (default 500,5000,20000)")
    parser.add_argument("--requests", type=int, default=50, help="timed GETs of each page (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.educators.split(",")]
    results = measure_reports(sizes, args.requests, workers=args.workers, keep=args.keep)
    return 0 if all(verdict(f) for f in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
