"""`python -m bench.submission_page [--artifacts N] [--requests R]`: the educator's page with 30 artifacts.

The tool runs as production runs it (gunicorn, bench/tool_server.py); the independent platform launches
an educator on a bound activity. The educator's draft then receives N artifacts through the real HTTP
endpoints, a mix of files (`POST /artifacts/upload`, the raw script path: PDF, PNG, text, JPEG, MP4 and GIF
bodies whose first bytes match their names) and links (`POST /submission/links`, the form path). The
submission page (`GET /submission/?ltik=…`) is checked to show every one of them, then fetched R times
in a row by one client, next to the trivial page (/healthz) in the same run: p50/p95 as the client sees
them and as gunicorn logged them, and the page's size. The SQL statements one render runs are counted
in-process (Flask's test client on the same database, a `before_cursor_execute` listener).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests
from sqlalchemy import event

from bench.platform_server import PlatformServer
from bench.stats import access_log_offset, access_log_times, percentile
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from bench.upload_memory import _launch_educator

KiB = 1024
WARMUP = 5
TIMED_PATHS = {"/healthz": "healthz", "/submission/": "submission page"}


def _body(extension: str, size: int) -> bytes:
    """`size` bytes whose first bytes are what the extension promises (the tool checks content against names)."""
    heads = {
        "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
        "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        "mp4": (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomiso2",
        "gif": b"GIF89a\x01\x00\x01\x00",
    }
    if extension == "txt":
        line = b"Notes from the classroom: what worked, what I would change next time.\n"
        return (line * (size // len(line) + 1))[:size]
    head = heads[extension]
    return head + bytes(size - len(head))


FILE_KINDS = ("pdf", "png", "txt", "jpg", "mp4", "gif")


def plan_artifacts(count: int) -> list[dict]:
    """Three files for every two links, interleaved; unique titles so the page can be checked for each."""
    plan = []
    for i in range(count):
        title = f"Bench artifact {i + 1:02d}"
        if i % 5 in (2, 4):
            plan.append({"kind": "link", "title": title, "url": f"https://example.org/portfolio/{i + 1:02d}?view=1"})
        else:
            extension = FILE_KINDS[len(plan) % len(FILE_KINDS)]
            plan.append({"kind": "file", "title": title, "name": f"lesson evidence {i + 1:02d}.{extension}",
                         "body": _body(extension, (8 + 4 * i) * KiB)})
    return plan


def add_artifacts(tool_url: str, ltik: str, attempt_id: int, plan: list[dict]) -> None:
    """Each planned artifact through the tool's own endpoints; any answer but the documented one fails."""
    session = requests.Session()
    for item in plan:
        if item["kind"] == "file":
            response = session.post(
                tool_url + "/artifacts/upload",
                params={"attempt_id": attempt_id, "title": item["title"]},
                data=item["body"],
                headers={"Content-Type": "application/octet-stream", "X-Launch-Token": ltik,
                         "X-File-Name": quote(item["name"]), "Accept": "application/json"},
                timeout=60,
            )
            expected = 201
        else:
            response = session.post(
                tool_url + "/submission/links",
                data={"ltik": ltik, "attempt_id": attempt_id, "artifact_url": item["url"],
                      "artifact_title": item["title"]},
                allow_redirects=False,
                timeout=60,
            )
            expected = 303
        if response.status_code != expected:
            raise RuntimeError(f"adding {item['kind']} “{item['title']}” answered {response.status_code} "
                               f"(expected {expected}): {response.text[:300]}")
    session.close()


def session_gets(session: requests.Session, url: str, count: int, params: dict | None = None):
    """`count` GETs in a row over a keep-alive session (a browser's, with its cookies): (latencies, size of the last
    body); RuntimeError on any answer but 200."""
    latencies, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, params=params, timeout=120)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}: {response.text[:300]}")
        size = len(response.content)
    return latencies, size


def timed_gets(url: str, count: int, params: dict | None = None) -> tuple[list[float], int]:
    """`count` GETs in a row over one new keep-alive session: (latencies, size of the last body)."""
    with requests.Session() as session:
        return session_gets(session, url, count, params)


@contextmanager
def _environment(env: dict):
    """The tool's environment for an in-process app, put back afterwards (later sections read os.environ)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def count_queries(env: dict, ltik: str) -> list[int]:
    """SQL statements per render of the page, in-process against the same database (after one warm-up)."""
    with _environment(env):
        from lti_tool import create_app
        from lti_tool.extensions import db

        app = create_app()
        with app.app_context():
            engine = db.engine
        statements: list[int] = []

        def count(*_args):
            statements.append(1)

        event.listen(engine, "before_cursor_execute", count)
        try:
            client = app.test_client()
            counts = []
            for round_ in range(3):
                statements.clear()
                response = client.get("/submission/", query_string={"ltik": ltik}, base_url=env["BASE_URL"])
                if response.status_code != 200:
                    raise RuntimeError(f"in-process GET /submission/ answered {response.status_code}")
                if round_:
                    counts.append(len(statements))
            return sorted(set(counts))
        finally:
            event.remove(engine, "before_cursor_execute", count)
            engine.dispose()


def measure_submission_page(artifacts: int = 30, count: int = 50, *, workers: int = 2, keep: bool = False) -> dict:
    """The figures of the section (see the module's docstring); RuntimeError on any HTTP error."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-submission-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = None
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        platform = platform_server.platform
        set_up_tool(env, platform, catalog=True)
        gunicorn = Gunicorn(env, port, workers, workdir / "gunicorn.log").start()
        _browser, ltik, attempt_id = _launch_educator(platform)

        plan = plan_artifacts(artifacts)
        began = time.perf_counter()
        add_artifacts(gunicorn.url, ltik, attempt_id, plan)
        created = time.perf_counter() - began

        page_url = gunicorn.url + "/submission/"
        page = requests.get(page_url, params={"ltik": ltik}, timeout=30)
        if page.status_code != 200:
            raise RuntimeError(f"GET /submission/ answered {page.status_code}: {page.text[:300]}")
        missing = [item["title"] for item in plan if item["title"] not in page.text]
        if missing:
            raise RuntimeError(f"the submission page does not show {len(missing)} of {len(plan)} artifacts, "
                               f"e.g. {missing[:3]}")

        timed_gets(gunicorn.url + "/healthz", WARMUP * workers)
        timed_gets(page_url, WARMUP * workers, {"ltik": ltik})  # every worker: templates compiled, connections
        access_log = gunicorn.log_path.with_suffix(".access.log")
        offset = access_log_offset(access_log)
        healthz, _ = timed_gets(gunicorn.url + "/healthz", count)
        latencies, size = timed_gets(page_url, count, {"ltik": ltik})
        time.sleep(0.2)  # the access log line is written after the response
        server = access_log_times(access_log, offset, TIMED_PATHS)
        queries = count_queries(env, ltik)
        files = sum(1 for item in plan if item["kind"] == "file")
        return {
            "artifacts": len(plan),
            "files": files,
            "links": len(plan) - files,
            "file_bytes": sum(len(item["body"]) for item in plan if item["kind"] == "file"),
            "created_seconds": created,
            "requests": count,
            "workers": workers,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "healthz_p50": percentile(healthz, 50),
            "healthz_p95": percentile(healthz, 95),
            "server": {name: (percentile(v, 50), percentile(v, 95), len(v)) for name, v in server.items()},
            "bytes": size,
            "queries": queries,
        }
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="submission bench")


def report(figures: dict) -> None:
    print(f"{figures['artifacts']} artifacts ({figures['files']} files, {figures['file_bytes'] / KiB:,.0f} KiB in all, "
          f"and {figures['links']} links) added through POST /artifacts/upload and POST /submission/links "
          f"in {figures['created_seconds']:.1f} s")
    print(f"{figures['requests']} GETs of each, in a row over one keep-alive connection, "
          f"{figures['workers']} gunicorn workers:")
    print(f"{'':38}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'trivial page  GET /healthz':38}{figures['healthz_p50'] * 1000:10.2f}"
          f"{figures['healthz_p95'] * 1000:10.2f}")
    print(f"{'submission page  GET /submission/':38}{figures['p50'] * 1000:10.2f}{figures['p95'] * 1000:10.2f}"
          f"   {figures['bytes'] / KiB:.1f} KiB ({figures['bytes']:,} bytes)")
    if figures["server"]:
        print("server side (gunicorn access log, whole ms):  " + "   ".join(
            f"{name} p50 {p50:.0f} / p95 {p95:.0f}" for name, (p50, p95, _n) in figures["server"].items()))
    ratio = figures["p50"] / figures["healthz_p50"]
    queries = "/".join(str(n) for n in figures["queries"]) or "?"
    print(f"submission page / trivial page, p50: {ratio:.1f}x;  {queries} SQL statements per render (in-process)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.submission_page", description=__doc__)
    parser.add_argument("--artifacts", type=int, default=30, help="files and links on the attempt (default 30)")
    parser.add_argument("--requests", type=int, default=50, help="timed GETs of the page (default 50)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database, files)")
    args = parser.parse_args(argv)
    report(measure_submission_page(args.artifacts, args.requests, workers=args.workers, keep=args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
