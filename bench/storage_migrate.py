"""`python -m bench.storage_migrate [--files N]`: time and memory of `flask storage migrate --to s3` for 1,000 files.

The tool is set up as production sets it up (its own CLI, bench/tool_server.py); the independent platform launches
an educator once (gunicorn, then stopped), and N files of mixed sizes (10-200 KiB, random bytes, so nothing
compresses) are kept on local disk through the tool's own storage and recorded as that educator's artifacts.
A real S3 endpoint (moto in server mode, tests/s3_server.py) gets a fresh bucket. Then the command runs as an
operator runs it, a process of its own, three times:
  1. the move: every file copied, verified and switched (elapsed seconds, files/s, MB/s, peak RSS);
  2. run again at once: nothing left to move;
  3. every row put back to "local" as an interruption before the switches would leave them, run again: each file
     found in the bucket with its size and SHA-256, switched, nothing copied (the cost of resuming).
Peak RSS is the child's own `ru_maxrss` (wait4), exact rather than sampled. moto runs on the same machine and
does most of the work of each PUT, so MB/s is a floor, not the tool's limit.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.platform_server import PlatformServer
from bench.tool_server import PROJECT_ROOT, Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from bench.upload_memory import _launch_educator

KiB = 1024
SIZES_KIB = (10, 200)
BATCH_SIZE = 100
SUMMARY = re.compile(r"([\d,]+) copied, ([\d,]+) already there, ([\d,]+) failed; .* in ([\d.]+) s")


def create_files(env: dict, attempt_id: int, count: int, seed: int = 11) -> int:
    """`count` artifacts with files on local disk, through the tool's storage and models; returns their bytes."""
    from config.settings import settings_from_environment
    from lti_tool import create_app
    from lti_tool.core.storage import storage
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Artifact, ArtifactKind

    app = create_app(env["APP_ENV"], {**settings_from_environment(env), "INSTANCE_PATH": env["INSTANCE_PATH"]})
    chooser = random.Random(seed)
    total = 0
    with app.app_context():
        for number in range(count):
            body = os.urandom(chooser.randint(*SIZES_KIB) * KiB)
            stored = storage("local").save(io.BytesIO(body), max_bytes=len(body))
            db.session.add(Artifact(attempt_id=attempt_id, kind=ArtifactKind.FILE, position=number,
                                    file_name=f"evidence-{number:04d}.pdf", content_type="application/pdf",
                                    storage_key=stored.key, storage_backend="local", size=stored.size,
                                    sha256=stored.sha256))
            total += stored.size
            if number % 200 == 199:
                db.session.commit()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return total


def put_rows_back_on_local(env: dict) -> None:
    """As if every switch had been lost: the objects stay in the bucket, the rows say "local" again."""
    from config.settings import settings_from_environment
    from lti_tool import create_app
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Artifact

    app = create_app(env["APP_ENV"], {**settings_from_environment(env), "INSTANCE_PATH": env["INSTANCE_PATH"]})
    with app.app_context():
        db.session.execute(db.update(Artifact).values(storage_backend="local"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def run_migrate(env: dict, log_path: Path) -> dict:
    """`flask --app wsgi storage migrate --to s3` as its own process: wall seconds (start-up included), the seconds
    its summary gives (the files only), peak RSS (MiB), its counts."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "storage", "migrate", "--to", "s3",
               "--batch-size", str(BATCH_SIZE)]
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    output = log_path.read_text()
    found = SUMMARY.search(output)
    if process.returncode != 0 or not found:
        raise RuntimeError(f"storage migrate exited with {process.returncode}:\n{output[-2000:]}")
    copied, already, failed = (int(n.replace(",", "")) for n in found.groups()[:3])
    return {"seconds": seconds, "work_seconds": float(found.group(4)), "peak_rss_mib": usage.ru_maxrss / 1024,
            "copied": copied, "already_there": already, "failed": failed, "output": output}


def measure_migrate(files: int = 1000, *, keep: bool = False) -> dict:
    """The figures of the section (see the module's docstring); RuntimeError when a run does not do its work."""
    from tests.s3_server import S3Server

    workdir = Path(tempfile.mkdtemp(prefix="mcb-migrate-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    platform_server = gunicorn = s3 = None
    try:
        platform_server = PlatformServer(env["BASE_URL"]).start()
        set_up_tool(env, platform_server.platform, catalog=True)
        gunicorn = Gunicorn(env, port, 1, workdir / "gunicorn.log").start()
        _browser, _ltik, attempt_id = _launch_educator(platform_server.platform)
        gunicorn.stop()
        gunicorn = None

        began = time.perf_counter()
        total_bytes = create_files(env, attempt_id, files)
        created = time.perf_counter() - began

        s3 = S3Server(log_path=workdir / "moto.log").start()
        bucket = "bench-migrate"
        client = s3.client()
        client.create_bucket(Bucket=bucket)
        env.update({name: str(value) for name, value in s3.settings(bucket).items()}, STORAGE_BACKEND="local")

        move = run_migrate(env, workdir / "migrate-1.log")
        if (move["copied"], move["failed"]) != (files, 0):
            raise RuntimeError(f"the move copied {move['copied']} of {files} files:\n{move['output'][-2000:]}")
        objects = sum(page.get("KeyCount", 0) for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket))
        if objects != files:
            raise RuntimeError(f"the bucket holds {objects} objects, not {files}")
        again = run_migrate(env, workdir / "migrate-2.log")
        put_rows_back_on_local(env)
        resumed = run_migrate(env, workdir / "migrate-3.log")
        if (again["copied"], resumed["copied"], resumed["already_there"]) != (0, 0, files):
            raise RuntimeError(f"a re-run copied files: {again['output'][-500:]}\n{resumed['output'][-500:]}")
        return {"files": files, "bytes": total_bytes, "created_seconds": created, "move": move, "again": again,
                "resumed": resumed, "database": env["DATABASE_URL"].split("://")[0]}
    finally:
        if s3 is not None:
            s3.stop()
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="migrate bench")


def report(f: dict) -> None:
    move, again, resumed = f["move"], f["again"], f["resumed"]
    print(f"{f['files']:,} files, {f['bytes'] / 1e6:.1f} MB ({SIZES_KIB[0]}-{SIZES_KIB[1]} KiB each) on local disk "
          f"(created in {f['created_seconds']:.1f} s); database {f['database']}; moto S3 on loopback; "
          f"--batch-size {BATCH_SIZE}")
    print(f"{'':40}{'process s':>10}{'files s':>10}{'files/s':>10}{'MB/s':>8}{'peak RSS MiB':>14}")
    for label, run in (("1. the move (all copied)", move), ("2. run again (nothing left)", again),
                       ("3. rows reset: verified, 0 copied", resumed)):
        work = max(run["work_seconds"], 1e-3)
        rate = (run["copied"] + run["already_there"]) / work
        mb = f["bytes"] / 1e6 / work if run["copied"] else 0.0
        print(f"{label:40}{run['seconds']:10.1f}{run['work_seconds']:10.1f}{rate:10.0f}{mb:8.1f}"
              f"{run['peak_rss_mib']:14.1f}")
        print(f"{'':40}{run['copied']:,} copied, {run['already_there']:,} already there, {run['failed']} failed")
    print("process s: the command's wall time, start-up included; files s: the time its summary gives (the files)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage_migrate", description=__doc__)
    parser.add_argument("--files", type=int, default=1000, help="stored files to move (default 1000)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database, files)")
    args = parser.parse_args(argv)
    report(measure_migrate(args.files, keep=args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
