"""`python -m bench.upload_memory [--size BYTES] [--storage local|s3]`: a worker's memory during a 1 GiB upload.

The tool runs as production runs it (gunicorn, one sync worker, bench/tool_server.py); the independent
platform launches an educator on a bound activity; a generated MP4-looking body (an `ftyp` box, then
zeros, produced on the fly so the client stays flat too) streams to the raw upload endpoint
(`POST /artifacts/upload`) while the worker's VmRSS is read from /proc every 50 ms.
With `--storage s3` the file streams on to an S3 endpoint (moto in server mode on loopback, tests/s3_server.py) in
multipart parts of S3_PART_SIZE: only the web worker's memory is measured (moto keeps the object its own way).
The issue's target: the worker's memory stays flat (the delta is a few MiB, not the file's size).
"""

from __future__ import annotations

import argparse
import io
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import requests

from bench.platform_server import PlatformServer
from bench.tool_server import Gunicorn, free_port, set_up_tool, tear_down, tool_environment
from tests.platform.browser import PlatformBrowser, forms_in

GiB = 1024**3
MiB = 1024**2
SLUG = "self-assessment-growth"
SAMPLE_SECONDS = 0.05


class GeneratedVideo(io.RawIOBase):
    """`size` bytes that look like an MP4 (an ftyp box, then zeros), made as they are read: nothing is held."""

    HEADER = (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomiso2"

    def __init__(self, size: int):
        self.total = size
        self.position = 0
        self._zeros = bytes(MiB)

    def __len__(self) -> int:  # requests sends Content-Length from it
        return self.total

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        remaining = self.total - self.position
        size = remaining if size is None or size < 0 else min(size, remaining, MiB)
        if size <= 0:
            return b""
        start = self.position
        self.position += size
        if start < len(self.HEADER):
            head = self.HEADER[start : start + size]
            return head + self._zeros[: size - len(head)]
        return self._zeros[:size]


def rss_kib(pid: int) -> int:
    """A process's resident set size (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


class RssSampler(threading.Thread):
    """Reads VmRSS of one process every `interval` seconds until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(rss_kib(self.pid))
            self._stop_event.wait(self.interval)

    def stop(self) -> list[int]:
        self._stop_event.set()
        self.join()
        return self.samples


def _attempt_id(landing: requests.Response) -> int:
    """The attempt on the educator's submission page (the page enrolls them on the first visit)."""
    for form in forms_in(landing.text):
        if form["fields"].get("attempt_id"):
            return int(form["fields"]["attempt_id"])
    raise RuntimeError(f"no attempt_id on the landing page {landing.url} ({landing.status_code})")


def _launch_educator(platform) -> tuple[PlatformBrowser, str, int]:
    browser = PlatformBrowser(platform)
    result = browser.launch(person="learner", custom={"microcredential": SLUG})
    ltik = (parse_qs(urlsplit(result.url).query).get("ltik") or [None])[0]
    if result.status_code != 200 or not ltik:
        raise RuntimeError(f"launch ended at {result.url} with {result.status_code}: {result.text[:300]}")
    return browser, ltik, _attempt_id(result.response)


def measure_upload_peak_memory(size_bytes: int = GiB, *, keep: bool = False, storage: str = "local") -> dict:
    """Upload `size_bytes` to a gunicorn worker and report its RSS: baseline, peak, delta (MiB), seconds, MB/s."""
    workdir = Path(tempfile.mkdtemp(prefix="mcb-upload-bench-"))
    port = free_port()
    env = tool_environment(workdir, port)
    env["UPLOAD_MAX_BYTES_VIDEO"] = str(max(size_bytes, GiB))
    platform_server = gunicorn = s3_server = None
    try:
        if storage == "s3":
            from tests.s3_server import S3Server

            s3_server = S3Server(log_path=workdir / "moto.log").start()
            s3_server.client().create_bucket(Bucket=BUCKET)
            env.update(s3_server.settings(BUCKET))
            # moto on loopback takes a few MB/s: more than gunicorn's 60 s for the whole 1 GiB request
            env["GUNICORN_TIMEOUT"] = "1200"
        platform_server = PlatformServer(env["BASE_URL"]).start()
        platform = platform_server.platform
        set_up_tool(env, platform, catalog=True)
        gunicorn = Gunicorn(env, port, 1, workdir / "gunicorn.log").start()
        (worker,) = worker_pids(gunicorn.process.pid)

        browser, ltik, attempt_id = _launch_educator(platform)  # also warms the worker: imports, templates
        baseline = rss_kib(worker)
        sampler = RssSampler(worker)
        sampler.start()
        started = time.perf_counter()
        response = browser.session.post(
            gunicorn.url + "/artifacts/upload",
            params={"attempt_id": attempt_id, "title": "Benchmark video"},
            data=GeneratedVideo(size_bytes),
            headers={"Content-Type": "application/octet-stream", "X-Launch-Token": ltik,
                     "X-File-Name": quote("lesson recording.mp4"), "Accept": "application/json"},
            timeout=600,
        )
        seconds = time.perf_counter() - started
        samples = sampler.stop()
        if response.status_code != 201:
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:500]}")
        answer = response.json()
        if answer["size"] != size_bytes:
            raise RuntimeError(f"stored {answer['size']} bytes of {size_bytes}")
        if s3_server is not None:
            _check_in_bucket(s3_server.client(), size_bytes, answer["sha256"])
        peak = max(samples + [baseline])
        return {
            "storage": storage,
            "size_bytes": size_bytes,
            "baseline_rss_mib": baseline / 1024,
            "peak_rss_mib": peak / 1024,
            "delta_mib": (peak - baseline) / 1024,
            "seconds": seconds,
            "mb_per_second": size_bytes / 1e6 / seconds,
            "samples": len(samples),
            "sha256": answer["sha256"],
        }
    finally:
        tear_down(gunicorn, platform_server, workdir, keep=keep, label="upload bench")
        if s3_server is not None:
            s3_server.stop()


BUCKET = "upload-bench"


def _check_in_bucket(client, size_bytes: int, sha256: str) -> None:
    (item,) = client.list_objects_v2(Bucket=BUCKET)["Contents"]
    head = client.head_object(Bucket=BUCKET, Key=item["Key"])
    if (head["ContentLength"], head["Metadata"].get("sha256")) != (size_bytes, sha256):
        raise RuntimeError(f"the bucket holds {head['ContentLength']} bytes, sha256 {head['Metadata']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.upload_memory", description=__doc__)
    parser.add_argument("--size", type=int, default=GiB, help="bytes to upload (default 1 GiB)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database, file)")
    parser.add_argument("--storage", choices=("local", "s3"), default="local", help="where the file goes")
    args = parser.parse_args(argv)
    report(measure_upload_peak_memory(args.size, keep=args.keep, storage=args.storage))
    return 0


def report(figures: dict) -> None:
    where = "an S3 bucket (moto), multipart" if figures["storage"] == "s3" else "local disk"
    print(f"upload of {figures['size_bytes'] / MiB:,.0f} MiB to one gunicorn sync worker, stored on {where} "
          f"(raw body, POST /artifacts/upload), VmRSS sampled every {SAMPLE_SECONDS * 1000:.0f} ms "
          f"({figures['samples']} samples):")
    print(f"  worker RSS baseline {figures['baseline_rss_mib']:.1f} MiB, peak {figures['peak_rss_mib']:.1f} MiB, "
          f"delta {figures['delta_mib']:+.1f} MiB")
    print(f"  {figures['seconds']:.1f} s, {figures['mb_per_second']:.0f} MB/s (client, loopback, SHA-256 and "
          f"{'the S3 requests' if figures['storage'] == 's3' else 'fsync'} included)")


if __name__ == "__main__":
    raise SystemExit(main())
