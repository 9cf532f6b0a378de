"""`python -m loadtest [--users 200] [--instructors 5] [--minutes 3 | --quick] [--web-servers both|2|1]`.

For each number of web servers (both: two, then one): a fresh stack (cluster.Cluster: that many gunicorn web
servers as production runs them, two outbox workers, one moto S3 endpoint, the test platform over HTTP) on a
PostgreSQL schema of the run's own (dropped afterwards) and Redis; the course prepared (the sample catalog with its
term open now and no earner limit, the educators and instructors on the platform's roster); then Locust, headless
from Python: the educators and instructors of loadtest/locustfile.py, spawned at --spawn-rate a second, for the
minutes given once all are running. Reported per kind of step: requests, rps, p50/p95/p99 and failures (the status
and body head of the first ones), the peak of PostgreSQL connections (sampled every second), Redis memory before and
after (per thousand launches), the load average. The markdown table is printed and written to --out.

Needs DATABASE_URL (PostgreSQL) and REDIS_URL, e.g.
  DATABASE_URL=postgresql://mcb:mcb@127.0.0.1:5432/mcb REDIS_URL=redis://127.0.0.1:6379/0 make loadtest
The exit status is 1 when any step failed or a kind of step never ran.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import gevent
import locust  # noqa: F401  (first: Locust patches the standard library for gevent when it is imported)
import redis
import yaml
from locust.env import Environment

from cluster import Cluster
from cluster.schemas import own_schema
from config.settings import PROJECT_ROOT
from loadtest.locustfile import KINDS, Course, CoursePerson, Educator, Instructor
from loadtest.report import Run, markdown
from tests.platform.platform import PEOPLE, ROLE, ROLES, Person

SLUG = "self-assessment-growth"
CONTEXT_ID = "loadtest-course"
RESOURCE_LINK_ID = "loadtest-activity"
FINISHING_SECONDS = 60  # after the minutes of load, the longest wait for the last educators' submissions


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200, help="simulated educators (default 200)")
    parser.add_argument("--instructors", type=int, default=5, help="simulated instructors (default 5)")
    parser.add_argument("--minutes", type=float, default=3.0, help="minutes of load once all are running (3)")
    parser.add_argument("--quick", action="store_true", help="half a minute of load instead")
    parser.add_argument("--web-servers", choices=("both", "2", "1"), default="both",
                        help="two web servers, one, or both in turn (default)")
    parser.add_argument("--web-concurrency", type=int, default=2 * (os.cpu_count() or 1) + 1,
                        help="gunicorn sync workers per web server (default: deploy/gunicorn.conf.py's, 2 per CPU + 1)")
    parser.add_argument("--outbox-workers", type=int, default=2, help="`flask worker` processes (default 2)")
    parser.add_argument("--spawn-rate", type=float, default=10.0, help="people starting per second (10)")
    parser.add_argument("--autosave-every", default="3,7", help="seconds between an educator's autosaves (3,7)")
    parser.add_argument("--progress-every", default="10,20", help="seconds between an instructor's views (10,20)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the markdown report (default artifacts/loadtest-<UTC time>.md, a git-ignored folder)")
    parser.add_argument("--json", type=Path, default=None, help="the figures as JSON as well")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (every process's log)")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes = 0.5
    args.autosave_every = _seconds_range(parser, "--autosave-every", args.autosave_every)
    args.progress_every = _seconds_range(parser, "--progress-every", args.progress_every)
    if args.users < 1 or args.instructors < 0 or args.minutes <= 0:
        parser.error("--users must be at least 1, --instructors at least 0, --minutes more than 0")
    return args


def _seconds_range(parser, name: str, text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        parser.error(f"{name}: two numbers of seconds, e.g. 3,7 (got {text!r})")
    if not 0 < low <= high:
        parser.error(f"{name}: 0 < first <= second (got {text!r})")
    return low, high


def services_from_environment() -> tuple[str, str]:
    """DATABASE_URL (PostgreSQL) and REDIS_URL, or a clear message and exit status 2."""
    database_url, redis_url = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql")) or not redis_url.startswith("redis"):
        sys.exit("The load test runs the tool as production does: set DATABASE_URL to a PostgreSQL database and "
                 "REDIS_URL to a Redis database, e.g.\n"
                 "  DATABASE_URL=postgresql://mcb:mcb@127.0.0.1:5432/mcb REDIS_URL=redis://127.0.0.1:6379/0 "
                 "make loadtest\n(the run works in a schema of its own, dropped afterwards; Redis keys expire).")
    return database_url, redis_url


# -- preparation ----------------------------------------------------------------------------------------------
def open_term_catalog(workdir: Path, today: date) -> Path:
    """The sample catalog with its term open for enrollment and submissions around `today`, and no earner limit
    (the sample's 100 would turn the 101st educator away)."""
    catalog = yaml.safe_load((PROJECT_ROOT / "config" / "catalog.yaml").read_text())
    for term in catalog["terms"]:
        term.update(enrollment_opens_at=str(today - timedelta(days=30)),
                    enrollment_closes_at=str(today + timedelta(days=60)),
                    recommended_submission_at=str(today + timedelta(days=90)),
                    final_deadline_at=str(today + timedelta(days=120)), earner_limit=None)
    path = workdir / "loadtest-catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, sort_keys=False, allow_unicode=True))
    return path


def enrol_people(platform, educators: int, instructors: int, run: str) -> tuple[list[str], list[str]]:
    """The course on the platform: its people (launchable by key) and its roster (NRPS). The keys of the educators
    and of the instructors."""
    def person(key: str, role: str, given: str, family: str) -> dict:
        PEOPLE[key] = Person(f"{key}-{run}", given, family, f"{key}@school.example")
        ROLES[key] = [ROLE + role]
        return {"user_id": PEOPLE[key].sub, "name": PEOPLE[key].name, "given_name": given, "family_name": family,
                "email": PEOPLE[key].email, "roles": [ROLE + role], "status": "Active"}

    educator_keys = [f"loadtest-educator-{i:04d}" for i in range(educators)]
    instructor_keys = [f"loadtest-instructor-{i:02d}" for i in range(instructors)]
    members = [person(key, "Learner", "Educator", f"Number {i:04d}") for i, key in enumerate(educator_keys)]
    members += [person(key, "Instructor", "Instructor", f"Number {i:02d}") for i, key in enumerate(instructor_keys)]
    platform.services.add_members(CONTEXT_ID, members, context={"id": CONTEXT_ID, "label": "LOAD-1",
                                                                "title": "Load test course"})
    return educator_keys, instructor_keys


# -- measuring ------------------------------------------------------------------------------------------------
def redis_memory(redis_url: str) -> dict:
    """used_memory of the whole Redis server, and the bytes and keys of this database alone (MEMORY USAGE)."""
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(count=1000))
        return {"used_memory": client.info("memory")["used_memory"], "keys": len(keys),
                "key_bytes": sum(client.memory_usage(key) or 0 for key in keys)}
    finally:
        client.close()


class Sampler:
    """Reads a number every `interval` seconds in a greenlet, until stopped: the samples."""

    def __init__(self, read, interval: float = 1.0):
        self.read, self.interval, self.samples = read, interval, []
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            self.samples.append(self.read())
            gevent.sleep(self.interval)

    def stop(self) -> list:
        self.greenlet.kill()
        return self.samples


def run_once(args, web_servers: int, database_url: str, redis_url: str) -> Run:
    """One stack, one course, one Locust run: the figures."""
    run_name = uuid.uuid4().hex[:6]
    seconds = args.minutes * 60
    with own_schema(database_url, "loadtest") as schema_url, work_folder(args.keep) as workdir:
        settings = {"CATALOG_FILE": str(open_term_catalog(workdir, datetime.now(UTC).date()))}
        print(f"\n== {web_servers} web server(s): starting the stack", flush=True)
        started = time.monotonic()
        with Cluster(workdir, database_url=schema_url, redis_url=redis_url, web_servers=web_servers,
                     workers=args.outbox_workers, storage="s3", web_concurrency=args.web_concurrency,
                     settings=settings) as cluster:
            educators, instructors = enrol_people(cluster.platform, args.users, args.instructors, run_name)
            course = Course(platform=cluster.platform, web_urls=list(cluster.web_urls), on_host=cluster.on_host,
                            educators=educators, instructors=instructors, context_id=CONTEXT_ID,
                            resource_link_id=RESOURCE_LINK_ID, slug=SLUG, submit_after=(0.6 * seconds, 0.95 * seconds),
                            autosave_every=args.autosave_every, progress_every=args.progress_every)
            print(f"   ready in {time.monotonic() - started:.0f} s; {args.users} educators and {args.instructors} "
                  f"instructors, {args.minutes:g} min of load after ramp-up", flush=True)
            redis_before = redis_memory(redis_url)
            figures = swarm(course, args, seconds, cluster)
            figures.redis_before, figures.redis_after = redis_before, redis_memory(redis_url)
            figures.web_servers, figures.web_concurrency = web_servers, args.web_concurrency
            figures.outbox_workers = args.outbox_workers
            figures.scores_received = sum(len(scores) for scores in cluster.platform.services.scores.values())
            return figures


@contextmanager
def work_folder(keep: bool):
    """A temporary folder for the stack's files and logs: removed afterwards, unless kept or the run failed."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-loadtest-"))
    try:
        yield workdir
    except BaseException:
        print(f"   the logs are kept in {workdir}", file=sys.stderr)
        raise
    if keep:
        print(f"   kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def swarm(course: Course, args, seconds: float, cluster) -> Run:
    """Locust, headless: every person spawned, then `seconds` of load; the stats per kind."""
    CoursePerson.course = course
    Educator.fixed_count, Instructor.fixed_count = args.users, args.instructors
    Educator.people, Instructor.people = itertools.count(), itertools.count()
    environment = Environment(user_classes=[Educator, Instructor])
    runner = environment.create_local_runner()
    generator_cpu: list[float] = []
    environment.events.usage_monitor.add_listener(lambda cpu_usage, **_: generator_cpu.append(cpu_usage))
    connections = Sampler(cluster.database_connections)
    load_before = os.getloadavg()
    began = time.monotonic()
    runner.start(args.users + args.instructors, spawn_rate=args.spawn_rate)
    runner.spawning_greenlet.join()
    ramp_up = time.monotonic() - began
    print(f"   all {runner.user_count} running after {ramp_up:.0f} s", flush=True)
    gevent.sleep(seconds)
    finishing = time.monotonic()
    while course.submissions < args.users and time.monotonic() - finishing < FINISHING_SECONDS:
        gevent.sleep(0.5)  # the educators still at work submit (an overloaded stack falls behind its schedule)
    runner.quit()
    runner.greenlet.join()
    wall, finishing = time.monotonic() - began, time.monotonic() - finishing
    samples = connections.stop()
    return Run.from_stats(environment.stats, KINDS, wall_seconds=wall, ramp_up_seconds=ramp_up,
                          finishing_seconds=finishing, submissions=course.submissions,
                          errors=list(course.errors), exceptions=_exceptions(runner), launches=course.launches,
                          connections=samples, generator_cpu=generator_cpu, load_before=load_before,
                          load_average=os.getloadavg())


def _exceptions(runner) -> list[str]:
    """Exceptions a person's code raised outside a step (a bug of the load test itself)."""
    return [f"{entry['count']}× {entry['msg']}\n{entry['traceback']}" for entry in runner.exceptions.values()]


def main(argv=None) -> int:
    args = parse_args(argv)
    database_url, redis_url = services_from_environment()
    logging.getLogger("locust").setLevel(logging.WARNING)
    servers = {"both": (2, 1), "2": (2,), "1": (1,)}[args.web_servers]
    runs = [run_once(args, n, database_url, redis_url) for n in servers]
    report = markdown(runs, args, cpus=os.cpu_count())
    print("\n" + report)
    out = args.out or PROJECT_ROOT / "artifacts" / f"loadtest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out}")
    if args.json:
        args.json.write_text(json.dumps([run.as_dict() for run in runs], indent=2))
    return 0 if all(run.is_clean for run in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
