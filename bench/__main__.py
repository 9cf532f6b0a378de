"""`python -m bench [--only SECTIONS] [--quick] ...`: see bench/__init__.py.

Nine sections, in sequence, each with its own tool under gunicorn (or Flask's test client) and temporary data:
launches, submission (the educator's page with 30 artifacts), upload (a worker's memory during a 1 GiB
upload), progress (the instructor's view of courses of 500, 5,000 and 20,000 educators), queue (the assessor
queue over 10,000 submitted attempts in 50 courses, then one course of 500, 5,000 and 20,000), reports (the
organizations' report at 500, 5,000 and 20,000 educators, its CSV exports with the worker's memory), release
(1,000 decisions released at once until the LMS holds every score), badges (1,000 badges issued; the public
verification page next to /healthz) and migrate (`flask storage migrate --to s3` of 1,000 files: time, rate,
peak memory); then a summary of the headline numbers. The exit status is non-zero when any section fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bench.launches import run_launches, run_pages
from bench.platform_server import PlatformServer, RequestCounter
from bench.stats import ACCESS_LINE, access_log_times, ms, percentile  # noqa: F401  (ACCESS_LINE: kept importable)
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment

TARGET_RATIO = 3.0
UPLOAD_DELTA_LIMIT_MIB = 64
SECTIONS = ("launches", "submission", "upload", "progress", "queue", "reports", "release", "badges", "migrate")
# (full, --quick) sizes
SIZES = {
    "launches": (300, 60),
    "page_requests": (50, 20),
    "artifacts": (30, 30),
    "upload_mib": (1024, 128),
    "educators": ("500,5000,20000", "500,2000"),
    "progress_runs": (20, 5),
    "queue_attempts": (10_000, 2_000),
    "queue_requests": (100, 30),
    "queue_growth": ("500,5000,20000", "500,2000"),
    "report_educators": ("500,5000,20000", "500,2000"),
    "report_requests": (50, 20),
    "release_assessments": (1_000, 200),
    "badges": (1_000, 200),
    "badge_requests": (200, 50),
    "migrate_files": (1_000, 200),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, in this order: {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes: " + ", ".join(f"{k} {v[1]}" for k, v in SIZES.items() if v[0] != v[1]))
    parser.add_argument("--launches", type=int, default=None, help="measured launches (and trivial pages); 300")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up launches (default: 5 per worker)")
    parser.add_argument("--page-requests", type=int, default=None, help="timed GETs of the submission page; 50")
    parser.add_argument("--artifacts", type=int, default=None, help="artifacts on the submission page; 30")
    parser.add_argument("--upload-mib", type=int, default=None, help="size of the streamed upload in MiB; 1024")
    parser.add_argument("--educators", default=None, help="course sizes of the progress view; 500,5000,20000")
    parser.add_argument("--progress-runs", type=int, default=None, help="timed requests per progress page; 20")
    parser.add_argument("--queue-attempts", type=int, default=None, help="submitted attempts in the queue; 10000")
    parser.add_argument("--queue-requests", type=int, default=None, help="timed GETs of the queue's first page; 100")
    parser.add_argument("--queue-growth", default=None, help="one course's queue at these depths; 500,5000,20000")
    parser.add_argument("--report-educators", default=None, help="educators in the report; 500,5000,20000")
    parser.add_argument("--report-requests", type=int, default=None, help="timed GETs of each report page; 50")
    parser.add_argument("--release-assessments", type=int, default=None, help="decisions released at once; 1000")
    parser.add_argument("--badges", type=int, default=None, help="badges issued in one transaction; 1000")
    parser.add_argument("--badge-requests", type=int, default=None, help="timed GETs of verification pages; 200")
    parser.add_argument("--migrate-files", type=int, default=None, help="files moved by `storage migrate`; 1000")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders (logs, database)")
    args = parser.parse_args(argv)
    for name, (full, quick) in SIZES.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown or not args.sections:
        parser.error(f"--only: unknown section(s) {', '.join(unknown) or '(none given)'}; choose from "
                     f"{','.join(SECTIONS)}")
    args.sections = [name for name in SECTIONS if name in args.sections]
    return args


def _sigterm(signum, frame):
    raise KeyboardInterrupt


@dataclass
class Outcome:
    """What a section reports: passed or not, its headline rows (figure, value) for the summary."""

    name: str
    ok: bool = True
    rows: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None


def launch_section(args, outcome: Outcome) -> None:
    """This tool and the minimal pylti1p3 tool (bench/minimal_tool.py), each under gunicorn with the same settings
    and workers and its own instance of the independent platform, measured in the same run."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-bench-"))
    port, minimal_port = free_port(), free_port()
    env = tool_environment(workdir, port)
    platform_server = minimal_platform = gunicorn = minimal = None
    try:
        print(f"bench: temp dir {workdir}; database {env['DATABASE_URL'].split('@')[-1]}; "
              f"cache {'redis' if env.get('REDIS_URL') else 'filesystem'} (both tools)", flush=True)
        platform_server = PlatformServer(env["BASE_URL"]).start()
        set_up_tool(env, platform_server.platform, catalog=True)
        gunicorn = Gunicorn(env, port, args.workers, workdir / "gunicorn.log", config=COUNTING_CONFIG)
        gunicorn.start()  # assigned first: a Ctrl-C during start-up still stops it
        minimal_url = f"http://127.0.0.1:{minimal_port}"
        minimal_platform = PlatformServer(minimal_url).start()
        minimal = Gunicorn(minimal_environment(workdir, minimal_port, minimal_platform.platform, env), minimal_port,
                           args.workers, workdir / "minimal.log", config=COUNTING_CONFIG,
                           app="bench.minimal_tool:create_app()")
        minimal.start()
        print(f"bench: gunicorn -c {COUNTING_CONFIG} ({args.workers} sync workers each): this tool "
              f"(APP_ENV=production) at {gunicorn.url}, the minimal pylti1p3 tool at {minimal.url}", flush=True)
        figures: dict = {}
        servers = [Server("this tool", gunicorn, platform_server, {"microcredential": BENCH_SLUG}),
                   Server("minimal pylti1p3 tool", minimal, minimal_platform, None)]
        status = run(args, servers, figures)
        outcome.ok = status == 0
        outcome.rows = launch_rows(figures)
    finally:
        for stoppable in (minimal, minimal_platform):
            if stoppable is not None:
                stoppable.stop()
        tear_down(gunicorn, platform_server, workdir, keep=args.keep, label="bench")


COUNTING_CONFIG = "bench/gunicorn_counting.py"
BENCH_SLUG = "self-assessment-growth"  # the educator lands on the submission page of this micro-credential


def minimal_environment(workdir: Path, port: int, platform, tool_env: dict) -> dict:
    """The minimal tool's settings: the platform it trusts, a fresh signing key, the tool's cache backend."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = workdir / "minimal-key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    env = dict(tool_env, GUNICORN_BIND=f"127.0.0.1:{port}", CACHE_DIR=str(workdir / "minimal-cache"),
               MINIMAL_ISSUER=platform.issuer, MINIMAL_CLIENT_ID=platform.client_id,
               MINIMAL_AUTH_URL=platform.auth_url, MINIMAL_TOKEN_URL=platform.token_url,
               MINIMAL_JWKS_URL=platform.jwks_url, MINIMAL_DEPLOYMENT_ID=platform.deployment_id,
               MINIMAL_KEY_FILE=str(key_file))
    return env


@dataclass
class Server:
    """One tool under test: its gunicorn, its platform, what its launches carry."""

    name: str
    gunicorn: Gunicorn
    platform_server: PlatformServer
    custom: dict | None
    pages: list[float] = field(default_factory=list)
    timings: list = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    page_wall: float = 0.0
    launch_wall: float = 0.0


def launch_rows(f: dict) -> list[tuple[str, str]]:
    if not f:
        return [("launches", "warm-up failed")]
    ours, minimal = f["this tool"], f["minimal pylti1p3 tool"]
    return [
        ("launch / trivial GET, p50: this tool", f"{ours['ratio']:.2f}x  ({ours['tool_p50'] * 1000:.1f} ms / "
                                                 f"{ours['page_p50'] * 1000:.2f} ms)"),
        ("launch / trivial GET, p50: minimal tool", f"{minimal['ratio']:.2f}x  ({minimal['tool_p50'] * 1000:.1f} ms / "
                                                    f"{minimal['page_p50'] * 1000:.2f} ms)"),
        ("  target: this tool's ratio <= the minimal tool's", f['verdict']),
        ("  server side (gunicorn's times), this tool / minimal",
         f"{ours.get('server_ratio', float('nan')):.2f}x / {minimal.get('server_ratio', float('nan')):.2f}x"),
        ("launch p50 / p95 at 4 clients, tool share",
         f"{ours['tool_p50'] * 1000:.1f} / {ours['tool_p95'] * 1000:.1f} ms  "
         f"(minimal: {minimal['tool_p50'] * 1000:.1f} / {minimal['tool_p95'] * 1000:.1f} ms)"),
        ("launch p50 / p95 at 4 clients, end to end", f"{ours['p50'] * 1000:.1f} / {ours['p95'] * 1000:.1f} ms"
                                                      f"  (minimal: {minimal['p50'] * 1000:.1f} / "
                                                      f"{minimal['p95'] * 1000:.1f} ms)"),
        ("per launch: SQL statements; cache writes / reads", f"{ours['sql']}; {ours['cache_writes']} / "
                                                              f"{ours['cache_reads']}  (minimal: {minimal['sql']}; "
                                                              f"{minimal['cache_writes']} / {minimal['cache_reads']})"),
        ("launches/s (end to end)", f"{ours['per_second']:.1f}  ({ours['ok']} of {ours['count']} succeeded; minimal "
                                    f"{minimal['per_second']:.1f})"),
        ("outbound calls, warm launches", f"{ours['warm_outbound'] or 'none'}  (minimal: "
                                          f"{minimal['warm_outbound'] or 'none'})"),
    ]


def submission_section(args, outcome: Outcome) -> None:
    from bench.submission_page import measure_submission_page, report

    print(f"submission page: {args.artifacts} artifacts, {args.page_requests} timed GETs, "
          f"gunicorn with {args.workers} sync workers", flush=True)
    f = measure_submission_page(args.artifacts, args.page_requests, workers=args.workers, keep=args.keep)
    report(f)
    queries = "/".join(str(n) for n in f["queries"]) or "?"
    outcome.rows = [
        (f"submission page, {f['artifacts']} artifacts, p50 / p95",
         f"{f['p50'] * 1000:.1f} / {f['p95'] * 1000:.1f} ms  ({f['requests']} GETs)"),
        ("  vs /healthz p50 / p95 (same run)",
         f"{f['healthz_p50'] * 1000:.1f} / {f['healthz_p95'] * 1000:.1f} ms  ({f['p50'] / f['healthz_p50']:.1f}x)"),
        ("  page size; SQL per render", f"{f['bytes'] / 1024:.1f} KiB; {queries} statements"),
    ]


def upload_section(args, outcome: Outcome) -> None:
    from bench.upload_memory import MiB, measure_upload_peak_memory, report

    for storage in ("local", "s3"):  # s3: moto in server mode on loopback, multipart parts of S3_PART_SIZE
        print(f"upload: {args.upload_mib} MiB streamed to one gunicorn sync worker, stored on {storage}", flush=True)
        f = measure_upload_peak_memory(args.upload_mib * MiB, keep=args.keep, storage=storage)
        report(f)
        ok = f["delta_mib"] <= UPLOAD_DELTA_LIMIT_MIB
        outcome.ok = outcome.ok and ok
        verdict = "PASS" if ok else "FAIL"
        print(f"{verdict}: worker RSS delta {f['delta_mib']:+.1f} MiB, limit {UPLOAD_DELTA_LIMIT_MIB} MiB")
        outcome.rows += [
            (f"upload {f['size_bytes'] / MiB:,.0f} MiB to {storage}: worker peak RSS",
             f"{f['peak_rss_mib']:.1f} MiB (baseline {f['baseline_rss_mib']:.1f})"),
            ("  worker RSS delta", f"{f['delta_mib']:+.1f} MiB  (limit {UPLOAD_DELTA_LIMIT_MIB} MiB: {verdict})"),
            ("  throughput", f"{f['mb_per_second']:.0f} MB/s, {f['seconds']:.1f} s"),
        ]


def progress_section(args, outcome: Outcome) -> None:
    from bench.progress_view import TARGET_RATIO as PROGRESS_RATIO
    from bench.progress_view import measure_progress, verdict

    sizes = [int(n) for n in str(args.educators).split(",")]
    print(f"instructor progress view: courses of {', '.join(f'{n:,}' for n in sizes)} educators, "
          f"{args.progress_runs} timed GETs per page, gunicorn with {args.workers} sync workers", flush=True)
    results = measure_progress(sizes, args.progress_runs, workers=args.workers, keep=args.keep)
    ratio, outcome.ok = verdict(results)
    for f in results:
        trivial = f["trivial"][0]
        pages = "; ".join(f"{label.split(' (')[0]} {p50 * 1000:.0f} ms ({p50 / trivial:.1f}x)"
                          for label, (p50, _p95, _size) in f["pages"].items())
        outcome.rows.append((f"progress, {f['educators']:,} educators, p50",
                             f"{pages}; /healthz {trivial * 1000:.1f} ms"))
        e = f["export"]
        outcome.rows.append((f"  CSV of {f['educators']:,}",
                             f"{e['seconds'] * 1000:.0f} ms ({e['seconds'] / trivial:.0f}x), "
                             f"worker RSS +{e['delta_mib']:.1f} MiB"))
    outcome.rows.append(("  pages / trivial p50 at the largest", f"{ratio:.1f}x (target <= {PROGRESS_RATIO:.0f}x: "
                                                                  f"{'PASS' if outcome.ok else 'MISS'})"))


def queue_section(args, outcome: Outcome) -> None:
    from bench.assessment_queue import TARGET_RATIO as QUEUE_RATIO
    from bench.assessment_queue import measure_queue, measure_queue_growth, report, verdict

    print(f"assessor queue: {args.queue_attempts:,} submitted attempts in 50 courses, {args.queue_requests} timed "
          f"GETs of the first page, gunicorn with {args.workers} sync workers", flush=True)
    f = measure_queue(args.queue_attempts, 50, args.queue_requests, workers=args.workers, keep=args.keep)
    report(f)
    ratio, outcome.ok = verdict(f)
    queries = "/".join(str(n) for n in f["queries"]) or "?"
    outcome.rows = [
        (f"assessor queue, {f['attempts']:,} attempts, first page p50 / p95",
         f"{f['p50'] * 1000:.1f} / {f['p95'] * 1000:.1f} ms  ({f['requests']} GETs; {queries} SQL per page)"),
        ("  vs /healthz p50 / p95 (same run)",
         f"{f['healthz_p50'] * 1000:.1f} / {f['healthz_p95'] * 1000:.1f} ms  ({ratio:.1f}x, target <= "
         f"{QUEUE_RATIO:.0f}x: {'PASS' if outcome.ok else 'MISS'})"),
    ]
    sizes = [int(n) for n in str(args.queue_growth).split(",")]
    print(f"assessor queue, one course at {', '.join(f'{n:,}' for n in sizes)} submitted attempts", flush=True)
    for g in measure_queue_growth(sizes, args.queue_requests, workers=args.workers, keep=args.keep):
        ratio, ok = verdict(g)
        outcome.ok = outcome.ok and ok
        outcome.rows.append((f"queue, one course of {g['attempts']:,}: p50 vs /healthz",
                             f"{g['p50'] * 1000:.1f} / {g['healthz_p50'] * 1000:.1f} ms  ({ratio:.1f}x: "
                             f"{'PASS' if ok else 'MISS'}; {'/'.join(str(n) for n in g['queries'])} SQL)"))


def reports_section(args, outcome: Outcome) -> None:
    from bench.reports import TARGET_RATIO as REPORT_RATIO
    from bench.reports import measure_reports, verdict

    sizes = [int(n) for n in str(args.report_educators).split(",")]
    print(f"organizations' report: {', '.join(f'{n:,}' for n in sizes)} educators in one micro-credential and term, "
          f"{args.report_requests} timed GETs per page, gunicorn with {args.workers} sync workers", flush=True)
    for f in measure_reports(sizes, args.report_requests, workers=args.workers, keep=args.keep):
        ok = verdict(f)
        outcome.ok = outcome.ok and ok
        trivial = f["healthz_p50"]
        pages = ", ".join(f"{p50 / trivial:.1f}x" for p50, _, _ in f["pages"].values())
        first = f["pages"]["report, first page"][0]
        outcome.rows.append((f"report, {f['educators']:,} educators: first page p50 vs /healthz",
                             f"{first * 1000:.1f} / {trivial * 1000:.1f} ms  (pages {pages}; target <= "
                             f"{REPORT_RATIO:.0f}x: {'PASS' if ok else 'MISS'})"))
        for label, (seconds, _size, lines, growth) in f["exports"].items():
            outcome.rows.append((f"  {label}", f"{seconds * 1000:.0f} ms, {lines:,} lines, worker RSS "
                                               f"+{growth / 1024:.1f} MiB"))


def release_section(args, outcome: Outcome) -> None:
    from bench.bulk_release import TARGET_SECONDS, measure_release, report, verdict

    print(f"bulk release: {args.release_assessments:,} decisions in one POST /assessment/release, then the outbox "
          "worker until the test platform holds every score", flush=True)
    f = measure_release(args.release_assessments, 10, workers=args.workers, keep=args.keep)
    report(f)
    outcome.ok = verdict(f)
    outcome.rows = [
        (f"bulk release of {f['assessments']:,}: every score in the LMS",
         f"{f['all_scores_seconds']:.1f} s  (target <= {TARGET_SECONDS:.0f} s: {'PASS' if outcome.ok else 'MISS'})"),
        ("  POST /assessment/release; worker rate",
         f"{f['post_seconds']:.1f} s; {f['send_rate']:.0f} scores/s"),
        ("  token requests; score POSTs", f"{f['token_requests']}; {f['score_posts']:,}"),
    ]


def badges_section(args, outcome: Outcome) -> None:
    from bench.badge_issuing import TARGET_SECONDS, measure_badges, report, verdict

    print(f"badges: {args.badges:,} badges issued as releases issue them, then {args.badge_requests} GETs of "
          f"verification pages (gunicorn, {args.workers} sync workers) next to /healthz", flush=True)
    f = measure_badges(args.badges, args.badge_requests, workers=args.workers, keep=args.keep)
    report(f)
    outcome.ok = verdict(f)
    outcome.rows = [
        (f"{f['badges']:,} badges: sign and store; bake PNG+SVG",
         f"{f['seconds']:.1f} s + {f['baking_seconds']:.1f} s = {f['total_seconds']:.1f} s  (target 1,000 in <= "
         f"{TARGET_SECONDS:.0f} s: {'PASS' if outcome.ok else 'MISS'})"),
        ("verification page p50 / p95 (live check)", f"{f['page_p50'] * 1000:.1f} / {f['page_p95'] * 1000:.1f} ms"),
        ("  vs /healthz p50 / p95 (same run)",
         f"{f['healthz_p50'] * 1000:.1f} / {f['healthz_p95'] * 1000:.1f} ms  "
         f"({f['page_p50'] / f['healthz_p50']:.1f}x)"),
    ]


def migrate_section(args, outcome: Outcome) -> None:
    from bench.storage_migrate import measure_migrate, report

    print(f"storage migrate: {args.migrate_files:,} files of 10-200 KiB from local disk to moto S3, the command as "
          "its own process, then run again twice", flush=True)
    f = measure_migrate(args.migrate_files, keep=args.keep)
    report(f)
    move, again, resumed = f["move"], f["again"], f["resumed"]
    outcome.rows = [
        (f"storage migrate, {f['files']:,} files ({f['bytes'] / 1e6:.0f} MB)",
         f"{move['work_seconds']:.1f} s ({move['seconds']:.1f} s with start-up), "
         f"{f['files'] / move['work_seconds']:.0f} files/s, {f['bytes'] / 1e6 / move['work_seconds']:.1f} MB/s, "
         f"peak RSS {move['peak_rss_mib']:.0f} MiB"),
        ("  run again: nothing left / rows reset, 0 copied",
         f"{again['work_seconds']:.1f} s / {resumed['work_seconds']:.1f} s  (peak RSS "
         f"{again['peak_rss_mib']:.0f} / {resumed['peak_rss_mib']:.0f} MiB)"),
    ]


SECTION_RUNNERS = {
    "launches": (launch_section, "launches/s and p50/p95 against gunicorn on loopback, next to /healthz"),
    "submission": (submission_section, "the educator's submission page with 30 artifacts"),
    "upload": (upload_section, "peak gunicorn worker memory during a streamed upload"),
    "progress": (progress_section, "the instructor's progress view and CSV at 500 / 5,000 / 20,000, next to /healthz"),
    "queue": (queue_section, "the assessor queue's first page over 10,000 submitted attempts, next to /healthz"),
    "reports": (reports_section, "the organizations' report at 500, 5,000 and 20,000 educators, next to /healthz"),
    "release": (release_section, "1,000 decisions released at once: time until the LMS holds every score"),
    "badges": (badges_section, "1,000 badges issued; the public verification page next to /healthz"),
    "migrate": (migrate_section, "`flask storage migrate --to s3` of 1,000 files: time, rate, peak memory, re-runs"),
}


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    print(f"bench: sections {', '.join(args.sections)}{' (--quick)' if args.quick else ''}; {load_note()}",
          flush=True)
    outcomes: list[Outcome] = []
    try:
        for number, name in enumerate(args.sections, start=1):
            runner, title = SECTION_RUNNERS[name]
            print(f"\n=== {number}/{len(args.sections)} {name}: {title} ===", flush=True)
            outcome = Outcome(name)
            outcomes.append(outcome)
            started = time.monotonic()
            try:
                runner(args, outcome)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # noqa: BLE001  (a failed section is reported; the others still run)
                outcome.ok = False
                outcome.error = f"{type(error).__name__}: {error}"
                traceback.print_exc()
                print(f"FAIL: {name}: {outcome.error}", flush=True)
            outcome.seconds = time.monotonic() - started
            print(f"--- {name}: {'PASS' if outcome.ok else 'FAIL'} in {outcome.seconds:.1f} s; {load_note()}",
                  flush=True)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    summary(outcomes)
    return 0 if all(outcome.ok for outcome in outcomes) else 1


def summary(outcomes: list[Outcome]) -> None:
    rows = [(o.name, figure, value) for o in outcomes for figure, value in o.rows]
    rows += [(o.name, "error", (o.error or "")[:100]) for o in outcomes if o.error]
    width = max([len(figure) for _, figure, _ in rows] + [20]) + 2
    print("\n=== summary ===")
    print(f"{'section':12}{'figure':{width}}value")
    for name, figure, value in rows:
        print(f"{name:12}{figure:{width}}{value}")
    print("sections: " + ", ".join(f"{o.name} {'PASS' if o.ok else 'FAIL'} ({o.seconds:.0f} s)" for o in outcomes))
    failed = [o.name for o in outcomes if not o.ok]
    print(f"FAIL: {', '.join(failed)}" if failed else "PASS: every section")


SERVER_PATHS = {"/healthz": "healthz", "/lti/login": "login", "/lti/launch": "launch", "/lti/home": "landing",
                "/submission/": "landing"}
ROUNDS = 3  # the measured work is split in rounds that alternate between the servers (same conditions for both)


def server_side_times(access_log: Path, offset: int) -> dict[str, list[float]]:
    """Request times gunicorn measured (deploy/gunicorn.conf.py logs `%(M)sms`), per tool path."""
    return access_log_times(access_log, offset, SERVER_PATHS)


def _median(values: list[int]) -> int | str:
    return sorted(values)[len(values) // 2] if values else "?"


def run(args, servers: list[Server], figures: dict | None = None) -> int:
    """Warm every server up, then measure trivial GETs and whole launches of each, round by round."""
    warmup = args.warmup if args.warmup is not None else 5 * args.workers
    before: dict[str, object] = {}
    offsets: dict[str, int] = {}
    for server in servers:  # every worker imports its templates, opens its connections, fetches the platform's keys
        run_pages(server.gunicorn.url + "/healthz", 10 * args.workers, args.concurrency)
        _, cold_failures, _ = run_launches(server.platform_server.platform, warmup, args.concurrency, server.custom)
        if cold_failures:
            print(f"bench: {server.name}: warm-up launches failed:\n  " + "\n  ".join(cold_failures[:5]),
                  file=sys.stderr)
            return 1
        before[server.name] = (server.platform_server.counter.snapshot(), server.platform_server.platform.jwks_requests)
        access_log = server.gunicorn.log_path.with_suffix(".access.log")
        offsets[server.name] = access_log.stat().st_size if access_log.exists() else 0

    per_round = max(1, args.launches // ROUNDS)
    for _ in range(ROUNDS):
        for server in servers:
            pages, wall = run_pages(server.gunicorn.url + "/healthz", per_round, args.concurrency)
            server.pages += pages
            server.page_wall += wall
            timings, failures, wall = run_launches(server.platform_server.platform, per_round, args.concurrency,
                                                   server.custom)
            server.timings += timings
            server.failures += failures
            server.launch_wall += wall

    status = 0
    results = {}
    print()
    print(f"{per_round * ROUNDS} trivial GETs and {per_round * ROUNDS} launches per server in {ROUNDS} alternating "
          f"rounds, {args.concurrency} client threads, {args.workers} gunicorn workers each, after {warmup} warm-up "
          f"launches each")
    print(f"{'':44}{'per second':>12}{'p50 ms':>10}{'p95 ms':>10}")
    for server in servers:
        timings = server.timings
        ok = len(timings)
        tools = [t.tool for t in timings]
        totals = [t.total for t in timings]
        page_p50 = percentile(server.pages, 50)
        counts = {name: [t.counts.get(name, 0) for t in timings] for name in ("sql", "cache_writes", "cache_reads")}
        snapshot, jwks_before = before[server.name]
        warm = RequestCounter.outbound(server.platform_server.counter.snapshot() - snapshot)
        jwks_growth = server.platform_server.platform.jwks_requests - jwks_before
        outbound = ", ".join(f"{p} x{n}" for p, n in sorted(warm.items()))
        landed = sorted({t.landing_path for t in timings})
        result = dict(
            count=per_round * ROUNDS, ok=ok, per_second=ok / server.launch_wall if server.launch_wall else 0.0,
            p50=percentile(totals, 50), p95=percentile(totals, 95),
            tool_p50=percentile(tools, 50), tool_p95=percentile(tools, 95),
            page_p50=page_p50, page_p95=percentile(server.pages, 95),
            ratio=percentile(tools, 50) / page_p50 if ok else float("nan"),
            ratio95=percentile(tools, 95) / percentile(server.pages, 95) if ok else float("nan"),
            sql=_median(counts["sql"]), cache_writes=_median(counts["cache_writes"]),
            cache_reads=_median(counts["cache_reads"]),
            sql_range=(min(counts["sql"], default=0), max(counts["sql"], default=0)),
            writes_range=(min(counts["cache_writes"], default=0), max(counts["cache_writes"], default=0)),
            warm_outbound=outbound + (f" jwks growth {jwks_growth}" if jwks_growth else ""),
            landed=landed,
        )
        results[server.name] = result
        print(f"{server.name}")
        print(f"{'  trivial page  GET /healthz':44}{len(server.pages) / server.page_wall:12.1f}"
              f"{ms(page_p50):>10}{ms(result['page_p95']):>10}")
        print(f"{'  launch, end to end':44}{result['per_second']:12.1f}{ms(result['p50']):>10}{ms(result['p95']):>10}")
        print(f"{'  launch, tool share':44}{'':12}{ms(result['tool_p50']):>10}{ms(result['tool_p95']):>10}")
        for step in ("login", "auth", "launch", "landing"):
            values = [t.steps[step] for t in timings]
            label = f"    {step}" + ("  (platform, not the tool)" if step == "auth" else "")
            print(f"{label:44}{'':12}{ms(percentile(values, 50)):>10}{ms(percentile(values, 95)):>10}")
        access_log = server.gunicorn.log_path.with_suffix(".access.log")
        server_times = server_side_times(access_log, offsets[server.name])
        if server_times:
            print("  server side (gunicorn access log, ms):  " + "   ".join(
                f"{name} p50 {percentile(v, 50):.2f} / p95 {percentile(v, 95):.2f}"
                for name, v in server_times.items()))
        steps = [name for name in ("login", "launch", "landing") if name in server_times]
        if "healthz" in server_times and steps:
            result["server_ratio"] = (sum(percentile(server_times[name], 50) for name in steps)
                                      / percentile(server_times["healthz"], 50))
            print(f"  server side: ({' + '.join(steps)}) / healthz, p50: {result['server_ratio']:.2f}x "
                  "(what gunicorn measured, without the clients' own time)")
        print(f"  launch (tool share) / trivial GET: p50 {result['ratio']:.2f}x, p95 {result['ratio95']:.2f}x")
        print(f"  per launch (median; min..max): SQL statements {result['sql']} ({result['sql_range'][0]}.."
              f"{result['sql_range'][1]}), cache writes {result['cache_writes']} ({result['writes_range'][0]}.."
              f"{result['writes_range'][1]}), cache reads {result['cache_reads']}")
        print(f"  landed on: {', '.join(landed)}; outbound calls on warm launches: {outbound or 'none'}"
              f"{f'; jwks growth {jwks_growth}' if jwks_growth else ''}")
        if server.failures:
            print(f"FAIL: {server.name}: {len(server.failures)} launches failed, e.g.:\n  "
                  + "\n  ".join(server.failures[:5]))
            status = 1
        if warm or jwks_growth:
            print(f"FAIL: {server.name}: a warm launch made an outbound HTTP call")
            status = 1
    ours, minimal = results[servers[0].name], results[servers[1].name]
    verdict = "PASS" if ours["ratio"] <= minimal["ratio"] else "MISS"
    print()
    print(f"launch / trivial GET, p50: this tool {ours['ratio']:.2f}x, minimal pylti1p3 tool {minimal['ratio']:.2f}x"
          f"   target (this tool's <= the minimal tool's): {verdict}")
    if "server_ratio" in ours and "server_ratio" in minimal:
        print(f"server side, p50: this tool {ours['server_ratio']:.2f}x, minimal pylti1p3 tool "
              f"{minimal['server_ratio']:.2f}x")
    if figures is not None:
        figures.update(results, verdict=verdict)
    if status == 0:
        print("PASS: every launch succeeded; warm launches made no outbound call")
    return status


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"bench: {time.monotonic() - started:.1f}s")
    sys.exit(code)
