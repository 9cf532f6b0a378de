"""`python -m bench.assessment_queue [--attempts N] [--courses C] [--requests R]`: the assessor queue, 10,000 deep.

The tool runs as production runs it (gunicorn, bench/tool_server.py) on a temporary SQLite database (or
DATABASE_URL), the independent platform in-process. The data is what 10,000 educators in 50 courses leave
behind once they submitted (bulk-inserted through SQLAlchemy core into the tool's own tables, the rows as the
services write them: learners with their memberships, enrollments, submitted attempts, one assessment each
with its pseudonym and 14-business-day due date, the scorings and audit-log rows of the marking state each is
in). An organization assessor (an admin's grant for each micro-credential, so every course is in scope)
launches from the platform and lands on the queue; its first page (50 rows, oldest first) is then fetched R
times in a row next to the trivial page (/healthz) in the same run: p50/p95 as the client sees them and as
gunicorn logged them. The SQL statements one render runs are counted in-process (Flask's test client on the
same database, a `before_cursor_execute` listener). Target (issue 7): the queue's p50 within 10× /healthz.

`measure_queue_growth` does the same for one course holding 500, 5,000 and 20,000 submitted attempts (a fresh
tool each): the queue must cost the same per page whatever its depth.

`seed_assessments` is shared with bench/bulk_release.py.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import event, insert

from bench.platform_server import PlatformServer
from bench.stats import access_log_offset, access_log_times, percentile
from bench.submission_page import _environment, session_gets
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from tests.platform.browser import PlatformBrowser
from tests.platform.platform import PEOPLE

TARGET_RATIO = 10.0
WARMUP = 5
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
SINGLE = "self-assessment-growth"  # one assessor decides
DOUBLE_BLIND = "feedback-to-promote-learning"  # two independent assessors (double-blind in config/catalog.yaml)
ASSESSOR = "org-assessor"  # the platform's person who launches: in no course role, assessor by the admin's grant
# The marking states of the submitted attempts, round-robin (out of 20): 60 % not marked yet, 15 % being
# scored, 10 % decided and ready for release, 15 % released.
QUEUE_MIX = ("notmarked",) * 12 + ("inmarking",) * 3 + ("readyforrelease",) * 2 + ("released",) * 3
TIMED_PATHS = {"/healthz": "healthz", "/assessment/": "assessment queue"}


@dataclass
class Seeded:
    registration_id: int
    deployment_id: int
    assessor_id: int
    contexts: list[tuple[int, str, str]]  # (id, LMS context id, LMS resource link id)
    assessment_ids: list[int] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    overdue: int = 0
    seconds: float = 0.0


def _pseudonyms(count: int, rng: random.Random) -> list[str]:
    from lti_tool.assessment.services import PSEUDONYM_ALPHABET, PSEUDONYM_LENGTH

    codes: set[str] = set()
    while len(codes) < count:
        codes.add("".join(rng.choice(PSEUDONYM_ALPHABET) for _ in range(PSEUDONYM_LENGTH)))
    return sorted(codes, key=lambda _: rng.random())


def _ids(model, rows: list[dict]) -> list[int]:
    """Insert `rows` in one executemany; their new ids in the order given."""
    from lti_tool.extensions import db

    if not rows:
        return []
    return list(db.session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), rows))


def _levels_for(microcredential, index: int) -> tuple[dict, dict]:
    """Every criterion at the required level (earned), except every third attempt: one criterion below (not yet)."""
    required = microcredential.required_level_key
    below = next(level.key for level in microcredential.levels if not microcredential.meets_required_level(level.key))
    levels = {c.key: required for c in microcredential.criteria}
    feedback = {c.key: f"Clear evidence for {c.title.lower()}." for c in microcredential.criteria}
    if index % 3 == 0:
        first = microcredential.criteria[0].key
        levels[first] = below
        feedback[first] = "The plan names a goal but not how progress will be seen; add one measure you will check."
    return levels, feedback


def seed_assessments(platform, *, courses: int, per_course: int, mix: tuple[str, ...], lineitems_base: str | None,
                     double_blind_every: int = 5, seed: int = 7) -> Seeded:
    """`courses` × `per_course` submitted attempts with their assessments, in the app context of the tool.

    Course i is bound to the double-blind micro-credential when i % double_blind_every == double_blind_every - 1
    (0: never), else to the single-assessor one. The platform's organization assessor gets a grant for both.
    """
    from lti_tool.assessment import rubric
    from lti_tool.assessment.models import Assessment, AssessmentEvent, AssessorGrant, Scoring
    from lti_tool.assessment.services import due_date
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, Deployment, LtiUser, Membership, Registration, ResourceLink
    from lti_tool.submissions.models import Attempt, Enrollment, EnrollmentQuota

    began = time.perf_counter()
    rng = random.Random(seed)
    now = utcnow()
    registration = db.session.scalar(db.select(Registration).where(Registration.issuer == platform.issuer))
    deployment = db.session.scalar(db.select(Deployment).where(Deployment.registration_id == registration.id,
                                                               Deployment.deployment_id == platform.deployment_id))
    single, double = get_microcredential(SINGLE), get_microcredential(DOUBLE_BLIND)
    term = current_term(now)

    # People: the organization assessor who launches (the platform's person), three colleagues who score too,
    # and an admin who granted them all.
    person = PEOPLE[ASSESSOR]
    staff = [{"registration_id": registration.id, "issuer": registration.issuer, "sub": person.sub, "name": person.name,
              "given_name": person.given_name, "family_name": person.family_name, "email": person.email,
              "last_launch_at": now}]
    staff += [{"registration_id": registration.id, "issuer": registration.issuer,
               "sub": f"bench-assessor-{i}", "name": f"Colleague {i}",
               "given_name": "Colleague", "family_name": str(i), "email": f"assessor{i}@org.example",
               "last_launch_at": now} for i in range(1, 4)]
    staff += [{"registration_id": registration.id, "issuer": registration.issuer,
               "sub": "bench-admin", "name": "Org Admin", "given_name": "Org",
               "family_name": "Admin", "email": "admin@org.example", "last_launch_at": now}]
    assessor_id, *colleagues, admin_id = _ids(LtiUser, staff)
    db.session.execute(insert(AssessorGrant), [
        {"registration_id": registration.id, "user_id": uid, "microcredential_id": mc.id, "is_active": True,
         "granted_by_id": admin_id}
        for uid in (assessor_id, *colleagues) for mc in (single, double)
    ])

    # Courses: one context and one activity each, bound to a micro-credential, the roster just read.
    course_rows, link_rows, course_mcs = [], [], []
    for c in range(courses):
        lms_id = f"bench-course-{c:02d}"
        course_rows.append({"deployment_id": deployment.id, "context_id": lms_id, "title": f"Cohort {c + 1:02d}",
                            "label": f"PL-{c + 1:02d}", "memberships_url": f"{platform.base_url}/memberships/{lms_id}",
                            "lineitems_url": f"{lineitems_base}/{lms_id}" if lineitems_base else None,
                            "roster_synced_at": now})
        blind = double_blind_every and c % double_blind_every == double_blind_every - 1
        course_mcs.append(double if blind else single)
    context_ids = _ids(Context, course_rows)
    for c, context_id in enumerate(context_ids):
        link_rows.append({"context_id": context_id, "resource_link_id": f"bench-activity-{c:02d}",
                          "title": "Micro-credential activity", "microcredential_slug": course_mcs[c].slug})
    link_ids = _ids(ResourceLink, link_rows)

    # Educators: per_course learners in every course, enrolled, each with one submitted attempt.
    total = courses * per_course
    user_rows, course_of = [], []
    for c in range(courses):
        for i in range(per_course):
            n = c * per_course + i
            user_rows.append({"registration_id": registration.id, "issuer": registration.issuer,
                              "sub": f"edu-{n:05d}", "given_name": f"Given{n % 97}",
                              "family_name": f"Family{n:05d}", "name": f"Given{n % 97} Family{n:05d}",
                              "email": f"edu{n}@school.example", "last_launch_at": now - timedelta(days=2)})
            course_of.append(c)
    user_ids = _ids(LtiUser, user_rows)
    db.session.execute(insert(Membership), [
        {"context_id": context_ids[c], "user_id": uid, "roles": [LEARNER], "status": "Active"}
        for uid, c in zip(user_ids, course_of, strict=True)
    ])
    enrollment_ids = _ids(Enrollment, [
        {"user_id": uid, "microcredential_id": course_mcs[c].id, "term_id": term.id, "resource_link_id": link_ids[c]}
        for uid, c in zip(user_ids, course_of, strict=True)
    ])
    for mc in {single.id: single, double.id: double}.values():
        enrolled = sum(1 for c in course_of if course_mcs[c].id == mc.id)
        if enrolled:
            db.session.execute(insert(EnrollmentQuota), [{"microcredential_id": mc.id, "term_id": term.id,
                                                          "enrolled_count": enrolled}])

    # Submission times spread over the last 60 days, interleaved across courses (the queue is oldest first).
    order = list(range(total))
    rng.shuffle(order)
    span = timedelta(days=60)
    submitted = [None] * total
    for rank, n in enumerate(order):
        submitted[n] = now - span + span * rank / total
    states = _by_rank([mix[rank % len(mix)] for rank in range(total)], order)  # states mixed along the queue
    attempt_ids = _ids(Attempt, [
        {"enrollment_id": enrollment_ids[n], "number": 1, "status": "submitted", "marking_status": states[n],
         "overview": "My goal this term, the plan to reach it and how I will know.",
         "reflection": "What changed for my students, and what I would do differently.",
         "collaborated": False, "collaborators": "", "version": 7,
         "content_changed_at": submitted[n] - timedelta(minutes=5), "submitted_at": submitted[n]}
        for n in range(total)
    ])

    pseudonyms = _pseudonyms(total, rng)
    assessment_rows = []
    for n in range(total):
        mc = course_mcs[course_of[n]]
        row = {"attempt_id": attempt_ids[n], "registration_id": registration.id,
               "context_id": context_ids[course_of[n]], "microcredential_id": mc.id, "educator_id": user_ids[n],
               "pseudonym": pseudonyms[n],
               "attempt_number": 1, "submitted_at": submitted[n], "due_at": due_date(submitted[n]),
               "is_double_blind": mc.double_blind, "needs_review": mc.review_before_release,
               "created_at": submitted[n], "updated_at": submitted[n]}
        if states[n] in ("readyforrelease", "released"):
            levels, _ = _levels_for(mc, n)
            row.update(decision=rubric.decision_for(mc, levels).value, decided_at=submitted[n] + timedelta(days=3))
            if states[n] == "released":
                row.update(score_maximum=1.0, score_given=rubric.score_for(mc, levels, 1.0),
                           released_at=submitted[n] + timedelta(days=4), released_by_id=colleagues[0])
        assessment_rows.append(row)
    assessment_ids = _ids(Assessment, assessment_rows)

    scorings, events = [], []
    for n, assessment_id in enumerate(assessment_ids):
        mc, state, at = course_mcs[course_of[n]], states[n], submitted[n]
        events.append({"assessment_id": assessment_id, "actor_id": None, "action": "submitted", "from_status": None,
                       "to_status": "notmarked", "details": {"attempt": 1, "returned_to_previous_assessor": False},
                       "at": at})
        if state == "notmarked":
            continue
        first, second = colleagues[n % 3], colleagues[(n + 1) % 3]
        levels, feedback = _levels_for(mc, n)
        decision = rubric.decision_for(mc, levels).value
        slots = [("first", first)] + ([("second", second)] if mc.double_blind and state != "inmarking" else [])
        for slot, who in slots:
            claimed = at + timedelta(days=1)
            if state == "inmarking":  # a draft: half the levels chosen; some claims ran out already
                expires = now + timedelta(minutes=60) if n % 2 else now - timedelta(minutes=30)
                scorings.append({"assessment_id": assessment_id, "slot": slot, "assessor_id": who,
                                 "status": "inprogress", "levels": dict(list(levels.items())[:2]), "feedback": {},
                                 "version": 2, "claimed_at": claimed, "claim_expires_at": expires})
            else:
                scorings.append({"assessment_id": assessment_id, "slot": slot, "assessor_id": who,
                                 "status": "complete", "levels": levels, "feedback": feedback, "decision": decision,
                                 "version": 3, "claimed_at": claimed, "completed_at": claimed + timedelta(hours=2)})
            events.append({"assessment_id": assessment_id, "actor_id": who, "action": "claimed",
                           "from_status": "notmarked", "to_status": "inmarking", "details": {"slot": slot},
                           "at": claimed})
        if state in ("readyforrelease", "released"):
            events.append({"assessment_id": assessment_id, "actor_id": first, "action": "decided",
                           "from_status": "inmarking", "to_status": "readyforrelease",
                           "details": {"decision": decision}, "at": at + timedelta(days=3)})
        if state == "released":
            events.append({"assessment_id": assessment_id, "actor_id": colleagues[0], "action": "released",
                           "from_status": "readyforrelease", "to_status": "released",
                           "details": {"decision": decision}, "at": at + timedelta(days=4)})
    if scorings:
        db.session.execute(insert(Scoring), scorings)
    db.session.execute(insert(AssessmentEvent), events)
    db.session.commit()
    analyze()

    counts: dict[str, int] = {}
    for state in states:
        counts[state] = counts.get(state, 0) + 1
    overdue = sum(1 for row in assessment_rows if row.get("released_at") is None and row["due_at"] < now)
    return Seeded(registration_id=registration.id, deployment_id=deployment.id, assessor_id=assessor_id,
                  contexts=[(context_ids[c], course_rows[c]["context_id"], link_rows[c]["resource_link_id"])
                            for c in range(courses)],
                  assessment_ids=assessment_ids, states=counts, overdue=overdue,
                  seconds=time.perf_counter() - began)


BULK_TABLES = ("lti_user", "lti_membership", "lti_context", "lti_resource_link", "submission_enrollment",
               "submission_attempt", "assessment_assessment", "assessment_scoring", "assessment_event", "badge_badge")


def analyze() -> None:
    """PostgreSQL: statistics for the bulk-inserted tables now, as autovacuum would give them a production database
    (without them the planner takes 20,000 rows for a few hundred and picks nested loops)."""
    from sqlalchemy import text

    from lti_tool.extensions import db

    if db.engine.dialect.name == "postgresql":
        for table in BULK_TABLES:
            db.session.execute(text(f"ANALYZE {table}"))
        db.session.commit()


def _by_rank(states_by_rank: list[str], order: list[int]) -> list[str]:
    """The state of each attempt n, given the states in submission order (`order[rank] = n`)."""
    states = [""] * len(order)
    for rank, n in enumerate(order):
        states[n] = states_by_rank[rank]
    return states


def seed_in_process(env: dict, platform, **kwargs) -> Seeded:
    """`seed_assessments` with the tool's own app and settings, against the database gunicorn uses."""
    with _environment(env):
        from lti_tool import create_app
        from lti_tool.extensions import db

        app = create_app()
        with app.app_context():
            try:
                return seed_assessments(platform, **kwargs)
            finally:
                db.session.remove()
                db.engine.dispose()


def launch_assessor(platform, seeded: Seeded) -> tuple[PlatformBrowser, str, str]:
    """The organization assessor launches from the first course and lands on the queue: (browser, ltik, url)."""
    _, lms_context, lms_link = seeded.contexts[0]
    browser = PlatformBrowser(platform)
    result = browser.launch(person=ASSESSOR, context_id=lms_context, resource_link_id=lms_link)
    if result.status_code != 200 or not result.ltik or "/assessment/" not in result.url:
        raise RuntimeError(f"the assessor's launch ended at {result.url} with {result.status_code}: "
                           f"{result.text[:300]}")
    return browser, result.ltik, result.url


def count_queries(env: dict, session: requests.Session, path: str, params: dict, rounds: int = 3) -> list[int]:
    """SQL statements per request, in-process (the tool's app, the same database, the browser's cookies)."""
    with _environment(env):
        from lti_tool import create_app
        from lti_tool.extensions import db

        app = create_app()
        with app.app_context():
            engine = db.engine
        statements: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            statements.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            client = app.test_client(use_cookies=False)
            cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in session.cookies)
            counts = []
            for round_ in range(rounds):
                statements.clear()
                response = client.get(path, query_string=params, base_url=env["BASE_URL"],
                                      headers={"Cookie": cookies})
                if response.status_code != 200:
                    raise RuntimeError(f"in-process GET {path} answered {response.status_code}")
                if round_:
                    counts.append(len(statements))
            return sorted(set(counts))
        finally:
            event.remove(engine, "before_cursor_execute", count)
            engine.dispose()


def measure_queue(attempts: int = 10_000, courses: int = 50, count: int = 100, *, workers: int = 2,
                  keep: bool = False) -> dict:
    """The figures of the section (see the module's docstring); RuntimeError on any HTTP error."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-queue-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = None
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        platform = platform_server.platform
        set_up_tool(env, platform, catalog=True)
        per_course = -(-attempts // courses)
        seeded = seed_in_process(env, platform, courses=courses, per_course=per_course, mix=QUEUE_MIX,
                                 lineitems_base=platform_server.url + "/lineitems")
        print(f"seeded {len(seeded.assessment_ids):,} submitted attempts in {courses} courses in "
              f"{seeded.seconds:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in seeded.states.items())
              + f"; {seeded.overdue:,} overdue", flush=True)
        gunicorn = Gunicorn(env, port, workers, workdir / "gunicorn.log").start()
        browser, ltik, landed = launch_assessor(platform, seeded)
        browser._loopback_cookies_are_secure_contexts()
        session = browser.session  # launch references are bound to the browser that launched

        queue_url = gunicorn.url + "/assessment/"
        page = session.get(queue_url, params={"ltik": ltik}, timeout=60)
        if page.status_code != 200:
            raise RuntimeError(f"GET /assessment/ answered {page.status_code}: {page.text[:300]}")
        rows = page.text.count("<tr data-assessment-id=")
        open_total = sum(v for k, v in seeded.states.items() if k != "released")
        if rows != 50 or f'id="total-count">{open_total}<' not in page.text:
            raise RuntimeError(f"the queue shows {rows} rows (expected 50) or not the total {open_total}")
        session_gets(session, gunicorn.url + "/healthz", WARMUP * workers)
        session_gets(session, queue_url, WARMUP * workers, {"ltik": ltik})  # every worker: templates, connections
        access_log = gunicorn.log_path.with_suffix(".access.log")
        offset = access_log_offset(access_log)
        healthz, _ = session_gets(session, gunicorn.url + "/healthz", count)
        latencies, size = session_gets(session, queue_url, count, {"ltik": ltik})
        healthz_after, _ = session_gets(session, gunicorn.url + "/healthz", count)  # the trivial page, around the queue
        extra = {}
        for label, params in (("overdue only", {"overdue": "1"}), ("page 100", {"page": "100"}),
                              ("single micro-credential", {"state": "all", "microcredential": "1"})):
            times, _ = session_gets(session, queue_url, max(10, count // 5), {"ltik": ltik, **params})
            extra[label] = (percentile(times, 50), percentile(times, 95))
        time.sleep(0.2)  # the access log line is written after the response
        server = access_log_times(access_log, offset, TIMED_PATHS)
        queries = count_queries(env, session, "/assessment/", {"ltik": ltik})
        trivial = healthz + healthz_after
        return {
            "attempts": len(seeded.assessment_ids), "courses": courses, "states": seeded.states,
            "overdue": seeded.overdue, "seed_seconds": seeded.seconds, "open_total": open_total,
            "requests": count, "workers": workers, "landed": landed.split("?")[0],
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "healthz_p50": percentile(trivial, 50), "healthz_p95": percentile(trivial, 95),
            "server": {name: (percentile(v, 50), percentile(v, 95), len(v)) for name, v in server.items()},
            "bytes": size, "queries": queries, "extra": extra,
        }
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="queue bench")


GROWTH_SIZES = (500, 5_000, 20_000)


def measure_queue_growth(sizes=GROWTH_SIZES, count: int = 50, *, workers: int = 2, keep: bool = False) -> list[dict]:
    """`measure_queue` for one course at each size (one micro-credential, one assessor's grant)."""
    results = []
    for size in sizes:
        figures = measure_queue(size, 1, count, workers=workers, keep=keep)
        report_growth(figures)
        results.append(figures)
    return results


def report_growth(figures: dict) -> None:
    ratio, ok = verdict(figures)
    queries = "/".join(str(n) for n in figures["queries"]) or "?"
    extra = "; ".join(f"{label} {p50 * 1000:.1f} ms" for label, (p50, _p95) in figures["extra"].items())
    print(f"one course, {figures['attempts']:,} attempts: first page p50 {figures['p50'] * 1000:.1f} ms / p95 "
          f"{figures['p95'] * 1000:.1f} ms, /healthz p50 {figures['healthz_p50'] * 1000:.1f} ms: {ratio:.1f}x (target "
          f"<= {TARGET_RATIO:.0f}x: {'PASS' if ok else 'MISS'}); {extra}; {queries} SQL per page", flush=True)


def verdict(figures: dict) -> tuple[float, bool]:
    ratio = figures["p50"] / figures["healthz_p50"]
    return ratio, ratio <= TARGET_RATIO


def report(figures: dict) -> None:
    print(f"{figures['attempts']:,} submitted attempts in {figures['courses']} courses "
          f"({figures['open_total']:,} not released, {figures['overdue']:,} overdue); the organization assessor "
          f"landed on {figures['landed']}")
    print(f"{figures['requests']} GETs of each, in a row over one keep-alive connection, "
          f"{figures['workers']} gunicorn workers (/healthz before and after the queue):")
    print(f"{'':40}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'trivial page  GET /healthz':40}{figures['healthz_p50'] * 1000:10.2f}"
          f"{figures['healthz_p95'] * 1000:10.2f}")
    print(f"{'queue, first page  GET /assessment/':40}{figures['p50'] * 1000:10.2f}{figures['p95'] * 1000:10.2f}"
          f"   {figures['bytes'] / 1024:.1f} KiB")
    for label, (p50, p95) in figures["extra"].items():
        print(f"{'  queue, ' + label:40}{p50 * 1000:10.2f}{p95 * 1000:10.2f}")
    if figures["server"]:
        print("server side (gunicorn access log, whole ms):  " + "   ".join(
            f"{name} p50 {p50:.0f} / p95 {p95:.0f}" for name, (p50, p95, _n) in figures["server"].items()))
    ratio, ok = verdict(figures)
    queries = "/".join(str(n) for n in figures["queries"]) or "?"
    print(f"queue / trivial page, p50: {ratio:.1f}x (target <= {TARGET_RATIO:.0f}x: {'PASS' if ok else 'MISS'}); "
          f"{queries} SQL statements per render (in-process)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.assessment_queue", description=__doc__)
    parser.add_argument("--attempts", type=int, default=10_000, help="submitted attempts (default 10,000)")
    parser.add_argument("--courses", type=int, default=50, help="courses they are spread over (default 50)")
    parser.add_argument("--requests", type=int, default=100, help="timed GETs of the first page (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--growth", default=None, metavar="SIZES",
                        help="instead: one course at each of these sizes, e.g. 500,5000,20000")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    args = parser.parse_args(argv)
    if args.growth:
        sizes = [int(n) for n in args.growth.split(",")]
        results = measure_queue_growth(sizes, args.requests, workers=args.workers, keep=args.keep)
        return 0 if all(verdict(f)[1] for f in results) else 1
    figures = measure_queue(args.attempts, args.courses, args.requests, workers=args.workers, keep=args.keep)
    report(figures)
    return 0 if verdict(figures)[1] else 1


if __name__ == "__main__":
    raise SystemExit(main())
