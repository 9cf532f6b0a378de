"""`python -m bench.progress_view [--educators N] [--runs R]`: the instructor's progress view on a large course.

Builds a temporary SQLite database (and, when DATABASE_URL is set, the same data in that database, removed
afterwards) holding one course with N enrolled educators in mixed states, bulk-inserted. Then times the
progress page and the CSV export through Flask's test client with a minted launch reference, and counts the
SQL statements each request runs (a SQLAlchemy `before_cursor_execute` listener): that count must not grow
with the roster.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert

SLUG = "self-assessment-growth"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
# What each educator's work looks like, round-robin: (attempts as (status, marking_status), ...)
MIXES = (
    (),  # enrolled, no attempt yet
    (("new", "notmarked"),),
    (("draft", "notmarked"),),
    (("submitted", "notmarked"),),
    (("submitted", "inmarking"),),
    (("submitted", "readyforrelease"),),
    (("submitted", "released"),),
    (("submitted", "released"), ("reopened", "notmarked")),
    (("submitted", "released"), ("draft", "notmarked")),
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def make_app(workdir: Path, database_url: str):
    from config.settings import normalise_database_url
    from lti_tool import create_app

    return create_app("testing", {
        "INSTANCE_PATH": str(workdir / "instance"),
        "LTI_KEYS_DIR": str(workdir / "keys"),
        "CACHE_DIR": str(workdir / "cache"),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
    })


def build_course(educators: int) -> dict:
    """One course, one bound activity, `educators` Learners all enrolled, in mixed states. Returns the ids."""
    from lti_tool.catalog.services import current_term, get_microcredential, load_catalog
    from lti_tool.core.models import utcnow
    from lti_tool.extensions import db
    from lti_tool.lti.models import Context, Deployment, LtiUser, Membership, Registration, ResourceLink
    from lti_tool.submissions.models import Attempt, Enrollment

    load_catalog()
    issuer = f"https://bench-{secrets.token_hex(4)}.lms.example"  # unique: a shared database may hold others
    registration = Registration(name="Bench LMS", issuer=issuer, client_id="bench", auth_login_url=issuer + "/auth",
                                auth_token_url=issuer + "/token")
    deployment = Deployment(registration=registration, deployment_id="1")
    # The roster counts as just read: the page then renders from the database, which is what is measured.
    context = Context(deployment=deployment, context_id="bench-course", title="Bench course",
                      memberships_url=issuer + "/memberships", roster_synced_at=utcnow())
    link = ResourceLink(context=context, resource_link_id="bench-activity", microcredential_slug=SLUG)
    instructor = LtiUser(registration=registration, sub="bench-instructor", name="Ira Instructor")
    db.session.add_all([link, instructor])
    db.session.flush()
    microcredential = get_microcredential(SLUG)
    term = current_term(START)

    db.session.execute(insert(LtiUser), [
        {"registration_id": registration.id, "sub": f"edu-{i:05d}", "given_name": f"Given{i % 97}",
         "family_name": f"Family{i:05d}", "name": f"Given{i % 97} Family{i:05d}", "email": f"edu{i}@school.example"}
        for i in range(educators)
    ])
    user_ids = list(db.session.scalars(
        db.select(LtiUser.id).where(LtiUser.registration_id == registration.id, LtiUser.sub.like("edu-%"))
        .order_by(LtiUser.sub)
    ))
    db.session.execute(insert(Membership), [{"context_id": context.id, "user_id": instructor.id,
                                             "roles": [INSTRUCTOR], "status": "Active"}]
                       + [{"context_id": context.id, "user_id": uid, "roles": [LEARNER], "status": "Active"}
                          for uid in user_ids])
    db.session.execute(insert(Enrollment), [
        {"user_id": uid, "microcredential_id": microcredential.id, "term_id": term.id, "resource_link_id": link.id}
        for uid in user_ids
    ])
    enrollment_ids = list(db.session.scalars(
        db.select(Enrollment.id).where(Enrollment.resource_link_id == link.id).order_by(Enrollment.user_id)
    ))
    attempts = []
    for i, enrollment_id in enumerate(enrollment_ids):
        moment = START + timedelta(minutes=i)
        for number, (status, marking) in enumerate(MIXES[i % len(MIXES)], start=1):
            attempts.append({
                "enrollment_id": enrollment_id, "number": number, "status": status, "marking_status": marking,
                "overview": "An overview of the work." if status != "new" else "",
                "reflection": "", "collaborators": "", "version": 1,
                "content_changed_at": moment + timedelta(days=number) if status != "new" else None,
                "submitted_at": moment + timedelta(days=number, hours=1) if status == "submitted" else None,
            })
    db.session.execute(insert(Attempt), attempts)
    db.session.commit()
    return {"registration_id": registration.id, "user_id": instructor.id, "deployment_id": deployment.id,
            "context_id": context.id, "resource_link_id": link.id, "attempts": len(attempts)}


def measure(app, ids: dict, runs: int) -> list[tuple]:
    """(label, p50 s, p95 s, queries per request, bytes) for the page, a sorted+filtered page and the CSV."""
    from lti_tool.extensions import db
    from lti_tool.lti.launch_context import LaunchContext, issue_launch_token

    launch = LaunchContext(launch_id="bench", user_id=ids["user_id"], deployment_id=ids["deployment_id"],
                           context_id=ids["context_id"], resource_link_id=ids["resource_link_id"],
                           duties=("instructor",))
    with app.app_context():
        ltik = issue_launch_token(launch)
        engine = db.engine
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    client = app.test_client()
    results = []
    for label, path, params in (
        ("progress page", "/progress/", {}),
        ("page, sorted by last modified, desc", "/progress/", {"sort": "last_modified", "dir": "desc"}),
        ("page, filtered to in assessment", "/progress/", {"status": "in_assessment"}),
        ("CSV export", "/progress/export.csv", {}),
    ):
        query = {"ltik": ltik, **params}
        for _ in range(2):  # warm-up: templates compiled, connections open
            assert client.get(path, query_string=query).status_code == 200
        times, counts = [], set()
        for _ in range(runs):
            statements.clear()
            began = time.perf_counter()
            response = client.get(path, query_string=query)
            times.append(time.perf_counter() - began)
            assert response.status_code == 200, response.status_code
            counts.add(len(statements))
        results.append((label, percentile(times, 50), percentile(times, 95), sorted(counts), len(response.data)))
    return results


def remove_course(ids: dict) -> None:
    """Leave a shared database as it was: the registration's rows go with it (foreign keys cascade)."""
    from lti_tool.extensions import db
    from lti_tool.lti.models import Registration

    db.session.execute(db.delete(Registration).where(Registration.id == ids["registration_id"]))
    db.session.commit()


def run(name: str, workdir: Path, database_url: str, educators: int, runs: int, *, shared: bool) -> list[tuple]:
    """Build the course, measure, print; the figures of `measure` (label, p50 s, p95 s, queries, bytes)."""
    from flask_migrate import upgrade

    from lti_tool.extensions import db

    app = make_app(workdir, database_url)
    with app.app_context():
        upgrade()
        began = time.perf_counter()
        ids = build_course(educators)
        built = time.perf_counter() - began
    print(f"\n{name}: {educators:,} enrolled educators, {ids['attempts']:,} attempts, "
          f"built in {built:.1f} s; {runs} runs each", flush=True)
    try:
        results = measure(app, ids, runs)
        for label, p50, p95, counts, size in results:
            queries = "/".join(str(c) for c in counts)
            print(f"  {label:<38} p50 {p50 * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   "
                  f"{queries} SQL queries per request   {size / 1024:7.0f} KiB", flush=True)
        return results
    finally:
        with app.app_context():
            if shared:
                remove_course(ids)
            db.session.remove()
            db.engine.dispose()


def measure_progress(educators: int = 5000, runs: int = 20, *, keep: bool = False) -> dict[str, list[tuple]]:
    """SQLite, and the DATABASE_URL database when one is set: {database name: figures of `measure`}."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-bench-progress-"))
    figures = {}
    try:
        figures["SQLite"] = run("SQLite", workdir / "sqlite", f"sqlite:///{workdir / 'bench.sqlite'}", educators,
                                runs, shared=False)
        if os.environ.get("DATABASE_URL"):
            name = os.environ["DATABASE_URL"].split("://", 1)[0]
            figures[name] = run(name, workdir / "shared", os.environ["DATABASE_URL"], educators, runs, shared=True)
    finally:
        if keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.progress_view", description=__doc__)
    parser.add_argument("--educators", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    measure_progress(args.educators, args.runs, keep=args.keep)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
