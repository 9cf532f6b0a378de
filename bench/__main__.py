"""`python -m bench [--launches N] [--concurrency C] [--workers W]`: see bench/__init__.py."""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from bench.launches import run_launches, run_pages
from bench.platform_server import PlatformServer, RequestCounter
from bench.tool_server import Gunicorn, flask, free_port, tool_environment

TARGET_RATIO = 3.0
ACCESS_LINE = re.compile(r'"[A-Z]+ (?P<path>[^ ?]+)[^"]*" \d{3} \S+ (?P<ms>\d+)ms')


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--launches", type=int, default=300, help="measured launches (and trivial pages)")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up launches (default: 5 per worker)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database)")
    return parser.parse_args(argv)


def _sigterm(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="mcb-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    tool_url = env["BASE_URL"]
    platform_server = gunicorn = None
    try:
        print(f"bench: temp dir {workdir}; database {env['DATABASE_URL'].split('@')[-1]}; "
              f"cache {'redis' if env.get('REDIS_URL') else 'filesystem'}", flush=True)
        flask(env, "db", "upgrade")
        flask(env, "keys", "ensure")
        platform_server = PlatformServer(tool_url).start()
        platform = platform_server.platform
        flask(env, "platforms", "add", "--issuer", platform.issuer, "--client-id", platform.client_id,
              "--login-url", platform.auth_url, "--token-url", platform.token_url,
              "--jwks-url", platform.jwks_url, "--deployment", platform.deployment_id, "--name", "Bench LMS")
        gunicorn = Gunicorn(env, port, args.workers, workdir / "gunicorn.log")
        gunicorn.start()  # assigned first: a Ctrl-C during start-up still stops it
        print(f"bench: gunicorn -c deploy/gunicorn.conf.py ({args.workers} sync workers, APP_ENV=production) "
              f"at {tool_url}; platform at {platform_server.url}", flush=True)
        return run(args, gunicorn, platform_server)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        return 130
    finally:
        if gunicorn is not None:
            gunicorn.stop()
        if platform_server is not None:
            platform_server.stop()
        if args.keep:
            print(f"bench: kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


SERVER_PATHS = {"/healthz": "healthz", "/lti/login": "login", "/lti/launch": "launch", "/lti/home": "landing"}


def server_side_times(access_log: Path, offset: int) -> dict[str, list[float]]:
    """Request times gunicorn measured (deploy/gunicorn.conf.py logs `%(M)sms`), per tool path."""
    times: dict[str, list[float]] = {}
    if not access_log.exists():
        return times
    with open(access_log, "rb") as handle:
        handle.seek(offset)
        for line in handle.read().decode(errors="replace").splitlines():
            match = ACCESS_LINE.search(line)
            if match and match["path"] in SERVER_PATHS:
                times.setdefault(SERVER_PATHS[match["path"]], []).append(float(match["ms"]))
    return {name: times[name] for name in SERVER_PATHS.values() if name in times}


def run(args, gunicorn: Gunicorn, platform_server: PlatformServer) -> int:
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
