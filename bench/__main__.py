"""`python -m bench [--only SECTIONS] [--quick] ...`: see bench/__init__.py.

Seven sections, in sequence, each with its own tool under gunicorn (or Flask's test client) and temporary data:
launches, submission (the educator's page with 30 artifacts), upload (a worker's memory during a 1 GiB
upload), progress (the instructor's view of 5,000 enrolled educators), queue (the assessor queue over 10,000
submitted attempts in 50 courses), release (1,000 decisions released at once until the LMS holds every
score) and badges (1,000 badges issued; the public verification page next to /healthz); then a summary of
the headline numbers. The exit status is non-zero when any section fails.
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
SECTIONS = ("launches", "submission", "upload", "progress", "queue", "release", "badges")
# (full, --quick) sizes
SIZES = {
    "launches": (300, 60),
    "page_requests": (50, 20),
    "artifacts": (30, 30),
    "upload_mib": (1024, 128),
    "educators": (5000, 1000),
    "progress_runs": (20, 5),
    "queue_attempts": (10_000, 2_000),
    "queue_requests": (100, 30),
    "release_assessments": (1_000, 200),
    "badges": (1_000, 200),
    "badge_requests": (200, 50),
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
    parser.add_argument("--educators", type=int, default=None, help="enrolled educators in the progress view; 5000")
    parser.add_argument("--progress-runs", type=int, default=None, help="timed requests per progress page; 20")
    parser.add_argument("--queue-attempts", type=int, default=None, help="submitted attempts in the queue; 10000")
    parser.add_argument("--queue-requests", type=int, default=None, help="timed GETs of the queue's first page; 100")
    parser.add_argument("--release-assessments", type=int, default=None, help="decisions released at once; 1000")
    parser.add_argument("--badges", type=int, default=None, help="badges issued in one transaction; 1000")
    parser.add_argument("--badge-requests", type=int, default=None, help="timed GETs of verification pages; 200")
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
    """The launch benchmark (unchanged): gunicorn, the platform, /healthz and whole launches in the same run."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    tool_url = env["BASE_URL"]
    platform_server = gunicorn = None
    try:
        print(f"bench: temp dir {workdir}; database {env['DATABASE_URL'].split('@')[-1]}; "
              f"cache {'redis' if env.get('REDIS_URL') else 'filesystem'}", flush=True)
        platform_server = PlatformServer(tool_url).start()
        platform = platform_server.platform
        set_up_tool(env, platform)
        gunicorn = Gunicorn(env, port, args.workers, workdir / "gunicorn.log")
        gunicorn.start()  # assigned first: a Ctrl-C during start-up still stops it
        print(f"bench: gunicorn -c deploy/gunicorn.conf.py ({args.workers} sync workers, APP_ENV=production) "
              f"at {tool_url}; platform at {platform_server.url}", flush=True)
        figures: dict = {}
        status = run(args, gunicorn, platform_server, figures)
        outcome.ok = status == 0
        outcome.rows = launch_rows(figures)
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=args.keep, label="bench")


def launch_rows(f: dict) -> list[tuple[str, str]]:
    if not f:
        return [("launches", "warm-up failed")]
    return [
        ("launches/s (end to end)", f"{f['per_second']:.1f}  ({f['ok']} of {f['count']} succeeded)"),
        ("launch p50 / p95, end to end", f"{f['p50'] * 1000:.1f} / {f['p95'] * 1000:.1f} ms"),
        ("launch p50 / p95, tool share", f"{f['tool_p50'] * 1000:.1f} / {f['tool_p95'] * 1000:.1f} ms"),
        ("trivial page /healthz p50 / p95", f"{f['page_p50'] * 1000:.1f} / {f['page_p95'] * 1000:.1f} ms  "
                                            f"({f['page_per_second']:.0f}/s)"),
        ("tool share / trivial page, p50", f"{f['ratio']:.2f}x  (target <= {TARGET_RATIO:.0f}x: {f['verdict']})"),
        ("outbound calls, warm launches", f"{f['warm_outbound'] or 'none'}"),
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

    print(f"upload: {args.upload_mib} MiB streamed to one gunicorn sync worker", flush=True)
    f = measure_upload_peak_memory(args.upload_mib * MiB, keep=args.keep)
    report(f)
    outcome.ok = f["delta_mib"] <= UPLOAD_DELTA_LIMIT_MIB
    verdict = "PASS" if outcome.ok else "FAIL"
    print(f"{verdict}: worker RSS delta {f['delta_mib']:+.1f} MiB, limit {UPLOAD_DELTA_LIMIT_MIB} MiB")
    outcome.rows = [
        (f"upload {f['size_bytes'] / MiB:,.0f} MiB: worker peak RSS",
         f"{f['peak_rss_mib']:.1f} MiB (baseline {f['baseline_rss_mib']:.1f})"),
        ("  worker RSS delta", f"{f['delta_mib']:+.1f} MiB  (limit {UPLOAD_DELTA_LIMIT_MIB} MiB: {verdict})"),
        ("  throughput", f"{f['mb_per_second']:.0f} MB/s, {f['seconds']:.1f} s"),
    ]


def progress_section(args, outcome: Outcome) -> None:
    from bench.progress_view import measure_progress

    print(f"instructor progress view: {args.educators:,} enrolled educators, {args.progress_runs} runs per page "
          "(Flask test client, production code, testing settings)", flush=True)
    for database, results in measure_progress(args.educators, args.progress_runs, keep=args.keep).items():
        for label, p50, p95, counts, size in results:
            if label in ("progress page", "CSV export"):
                queries = "/".join(str(c) for c in counts)
                outcome.rows.append((f"{label}, {args.educators:,} educators ({database})",
                                     f"{p50 * 1000:.1f} / {p95 * 1000:.1f} ms  ({size / 1024:.0f} KiB, {queries} SQL)"))


def queue_section(args, outcome: Outcome) -> None:
    from bench.assessment_queue import TARGET_RATIO as QUEUE_RATIO
    from bench.assessment_queue import measure_queue, report, verdict

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


SECTION_RUNNERS = {
    "launches": (launch_section, "launches/s and p50/p95 against gunicorn on loopback, next to /healthz"),
    "submission": (submission_section, "the educator's submission page with 30 artifacts"),
    "upload": (upload_section, "peak gunicorn worker memory during a streamed upload"),
    "progress": (progress_section, "the instructor's progress view and CSV"),
    "queue": (queue_section, "the assessor queue's first page over 10,000 submitted attempts, next to /healthz"),
    "release": (release_section, "1,000 decisions released at once: time until the LMS holds every score"),
    "badges": (badges_section, "1,000 badges issued; the public verification page next to /healthz"),
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


SERVER_PATHS = {"/healthz": "healthz", "/lti/login": "login", "/lti/launch": "launch", "/lti/home": "landing"}


def server_side_times(access_log: Path, offset: int) -> dict[str, list[float]]:
    """Request times gunicorn measured (deploy/gunicorn.conf.py logs `%(M)sms`), per tool path."""
    return access_log_times(access_log, offset, SERVER_PATHS)


def run(args, gunicorn: Gunicorn, platform_server: PlatformServer, figures: dict | None = None) -> int:
    platform = platform_server.platform
    counter = platform_server.counter
    healthz = gunicorn.url + "/healthz"

    # Warm-up: every worker imports its templates, opens its connections, fetches the platform's keys.
    warmup = args.warmup if args.warmup is not None else 5 * args.workers
    run_pages(healthz, 10 * args.workers, args.concurrency)
    cold_timings, cold_failures, _ = run_launches(platform, warmup, args.concurrency)
    if cold_failures:
        print("bench: warm-up launches failed:\n  " + "\n  ".join(cold_failures[:5]), file=sys.stderr)
        return 1
    cold_outbound = RequestCounter.outbound(counter.snapshot())
    jwks_after_warmup = platform.jwks_requests
    before = counter.snapshot()
    access_log = gunicorn.log_path.with_suffix(".access.log")
    log_offset = access_log.stat().st_size if access_log.exists() else 0

    # Measured, in the same run: the trivial page, then whole launches.
    page_latencies, page_wall = run_pages(healthz, args.launches, args.concurrency)
    timings, failures, launch_wall = run_launches(platform, args.launches, args.concurrency)

    after = counter.snapshot()
    warm_outbound = RequestCounter.outbound(after - before)
    jwks_growth = platform.jwks_requests - jwks_after_warmup

    ok = len(timings)
    totals = [t.total for t in timings]
    tools = [t.tool for t in timings]
    page_p50 = percentile(page_latencies, 50)
    ratio = percentile(tools, 50) / page_p50 if ok else float("nan")
    ratio95 = percentile(tools, 95) / percentile(page_latencies, 95) if ok else float("nan")

    print()
    print(f"{args.launches} pages and {args.launches} launches, {args.concurrency} client threads, "
          f"{args.workers} gunicorn workers, after {warmup} warm-up launches")
    print(f"{'':34}{'per second':>12}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'trivial page  GET /healthz':34}{len(page_latencies) / page_wall:12.1f}"
          f"{ms(page_p50):>10}{ms(percentile(page_latencies, 95)):>10}")
    print(f"{'launch, end to end':34}{ok / launch_wall:12.1f}{ms(percentile(totals, 50)):>10}"
          f"{ms(percentile(totals, 95)):>10}")
    print(f"{'launch, tool share (3 requests)':34}{'':12}{ms(percentile(tools, 50)):>10}"
          f"{ms(percentile(tools, 95)):>10}")
    for step in ("login", "auth", "launch", "landing"):
        values = [t.steps[step] for t in timings]
        label = f"  {step}" + ("  (platform, not the tool)" if step == "auth" else "")
        print(f"{label:34}{'':12}{ms(percentile(values, 50)):>10}{ms(percentile(values, 95)):>10}")
    server = server_side_times(access_log, log_offset)
    if server:
        print("server side (gunicorn access log, whole ms):  " + "   ".join(
            f"{name} p50 {percentile(v, 50):.0f} / p95 {percentile(v, 95):.0f}" for name, v in server.items()))
    print()
    verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
    print(f"tool share / trivial page, p50: {ratio:.2f}x (p95: {ratio95:.2f}x)   "
          f"target <= {TARGET_RATIO:.0f}x: {verdict}")
    print(f"  per tool request (tool share / 3) / trivial page, p50: {ratio / 3:.2f}x  (information only)")
    cold = ", ".join(f"{p} x{n}" for p, n in sorted(cold_outbound.items())) or "none"
    warm = ", ".join(f"{p} x{n}" for p, n in sorted(warm_outbound.items())) or "none"
    print(f"outbound calls to the platform: warm-up {cold}; measured (warm) {warm}; "
          f"jwks_requests after warm-up {jwks_after_warmup}, growth {jwks_growth}")
    if figures is not None:
        figures.update(
            count=args.launches, ok=ok, per_second=ok / launch_wall, p50=percentile(totals, 50),
            p95=percentile(totals, 95), tool_p50=percentile(tools, 50), tool_p95=percentile(tools, 95),
            page_p50=page_p50, page_p95=percentile(page_latencies, 95),
            page_per_second=len(page_latencies) / page_wall, ratio=ratio, verdict=verdict,
            warm_outbound=warm if warm_outbound or jwks_growth else "",
        )
    status = 0
    if failures:
        print(f"FAIL: {len(failures)} of {args.launches} launches failed, e.g.:\n  " + "\n  ".join(failures[:5]))
        status = 1
    if warm_outbound or jwks_growth:
        print("FAIL: a warm launch made an outbound HTTP call")
        status = 1
    if status == 0:
        print("PASS: every launch succeeded; warm launches made no outbound call")
    return status


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"bench: {time.monotonic() - started:.1f}s")
    sys.exit(code)
