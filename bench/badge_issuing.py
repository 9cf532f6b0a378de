"""`python -m bench.badge_issuing [--badges N] [--requests R]`: issuing badges, and the public verification page.

1. Issuing: N assessments (bulk-seeded by `bench.assessment_queue.seed_assessments`, all *Earned* and released)
   get their badges through `lti_tool.badges.issuing.earn`, the code the release runs: the recipient hashed, the
   OB 2.0 assertion, the OB 3.0 credential signed RS256, the badge row, the audit event and the email's outbox
   row — in one transaction, as a bulk release does. Then each badge's PNG and SVG are baked as a download
   bakes them (the tool stores the signed documents and bakes images when asked). Reported: both times and
   their sum. Target (issue 8): 1,000 badges signed, baked and stored in <= 10 s on this 2-CPU machine.
2. The public verification page (`/badges/<uuid>`, with its live check: signature, status list, expiry) under
   gunicorn as production runs it, timed with R GETs, next to R GETs of /healthz in the same run.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.assessment_queue import seed_in_process
from bench.platform_server import PlatformServer
from bench.stats import percentile
from bench.submission_page import _environment, timed_gets
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment

TARGET_SECONDS = 10.0


def issue_all(env: dict, assessment_ids: list[int]) -> tuple[float, float, list[str]]:
    """Mark the assessments *Earned* and released, time `earn` for every one (one commit), then time baking each
    badge's PNG and SVG as a download does: (issuing seconds, baking seconds, uuids)."""
    with _environment(env):
        from sqlalchemy import update
        from sqlalchemy.orm import selectinload

        from lti_tool import create_app
        from lti_tool.assessment.models import Assessment
        from lti_tool.badges import artwork, issuing
        from lti_tool.core.models import utcnow
        from lti_tool.extensions import db
        from lti_tool.submissions.models import Attempt, Enrollment

        app = create_app()
        with app.app_context():
            try:
                now = utcnow()
                db.session.execute(update(Assessment).where(Assessment.id.in_(assessment_ids))
                                   .values(decision="earned", released_at=now))
                db.session.commit()
                # Loaded as the release leaves them: with the attempt, enrollment and educator it just used.
                assessments = db.session.scalars(
                    db.select(Assessment).where(Assessment.id.in_(assessment_ids)).order_by(Assessment.id)
                    .options(selectinload(Assessment.attempt).selectinload(Attempt.enrollment)
                             .selectinload(Enrollment.user))).all()
                started = time.perf_counter()
                badges = [issuing.earn(assessment, now=now) for assessment in assessments]
                db.session.commit()
                seconds = time.perf_counter() - started
                started = time.perf_counter()
                for badge in badges:
                    artwork.baked_png(badge), artwork.baked_svg(badge)
                baking = time.perf_counter() - started
                return seconds, baking, [badge.uuid for badge in badges if badge.is_issued]
            finally:
                db.session.remove()
                db.engine.dispose()


def measure_badges(count: int = 1000, requests: int = 200, *, workers: int = 2, keep: bool = False) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="mcb-badge-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = None
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        platform = platform_server.platform
        set_up_tool(env, platform, catalog=True)
        per_course = -(-count // 10)
        seeded = seed_in_process(env, platform, courses=10, per_course=per_course, mix=("readyforrelease",),
                                 lineitems_base=platform_server.url + "/lineitems", double_blind_every=0)
        ids = seeded.assessment_ids[:count]
        print(f"seeded {len(ids):,} assessments in {seeded.seconds:.1f} s; issuing their badges", flush=True)
        seconds, baking, uuids = issue_all(env, ids)
        if len(uuids) != len(ids):
            raise RuntimeError(f"{len(ids) - len(uuids)} badges were not issued")
        gunicorn = Gunicorn(env, port, workers, workdir / "gunicorn.log").start()
        rng = random.Random(8)
        sample = [rng.choice(uuids) for _ in range(requests)]
        healthz = gunicorn.url + "/healthz"
        timed_gets(healthz, 20)
        for badge_uuid in sample[:20]:  # warm-up: templates, connections, the key cache
            timed_gets(f"{gunicorn.url}/badges/{badge_uuid}", 1)
        page_latencies = []
        for badge_uuid in sample:
            latencies, size = timed_gets(f"{gunicorn.url}/badges/{badge_uuid}", 1)
            page_latencies += latencies
        health_latencies, _ = timed_gets(healthz, requests)
        return {
            "badges": len(ids), "seconds": seconds, "per_badge_ms": seconds / len(ids) * 1000,
            "baking_seconds": baking, "total_seconds": seconds + baking,
            "page_p50": percentile(page_latencies, 50), "page_p95": percentile(page_latencies, 95),
            "healthz_p50": percentile(health_latencies, 50), "healthz_p95": percentile(health_latencies, 95),
            "requests": requests, "bytes": size,
        }
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="badge bench")


def verdict(figures: dict) -> bool:
    """Issuing and baking both images, per 1,000 badges, within the target."""
    return figures["total_seconds"] * 1000 / figures["badges"] <= TARGET_SECONDS


def report(f: dict) -> None:
    print(f"issued {f['badges']:,} badges in {f['seconds']:.2f} s ({f['per_badge_ms']:.1f} ms per badge: documents, "
          f"signature, rows, one commit); baked their PNG and SVG in {f['baking_seconds']:.2f} s; together "
          f"{f['total_seconds']:.2f} s (target 1,000 in <= {TARGET_SECONDS:.0f} s: {'PASS' if verdict(f) else 'MISS'})")
    print(f"verification page p50 / p95: {f['page_p50'] * 1000:.1f} / {f['page_p95'] * 1000:.1f} ms "
          f"({f['bytes'] / 1024:.1f} KiB); /healthz p50 / p95: {f['healthz_p50'] * 1000:.1f} / "
          f"{f['healthz_p95'] * 1000:.1f} ms; ratio p50 {f['page_p50'] / f['healthz_p50']:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--badges", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    report(measure_badges(args.badges, args.requests, keep=args.keep))
