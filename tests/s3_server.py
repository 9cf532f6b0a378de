"""A real S3 endpoint on loopback for the tests and benches: moto in server mode, in its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ACCESS_KEY_ID = "testing"  # moto accepts any credentials; these only have to be the same everywhere
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


class S3ServerUnavailable(RuntimeError):
    """moto could not be started (not installed, or it did not answer in time)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class S3Endpoint:
    """An S3-compatible server on 127.0.0.1 at a free port, in its own process group: `.endpoint_url`,
    `.settings(bucket)`, `.client()`; `.stop()` and `.start()` again on the same port. A kind of server says how it
    starts (`command`), where it answers (`probe_path`) and its credentials."""

    label = "an S3 server"
    probe_path = "/"
    access_key_id = ACCESS_KEY_ID
    secret_access_key = SECRET_ACCESS_KEY

    def __init__(self, port: int | None = None, *, log_path: Path | None = None):
        self.port = port or _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict:
        return dict(os.environ)

    def start(self, timeout: float = 30) -> S3Endpoint:
        command = self.command()
        try:
            with open(self.log_path or os.devnull, "ab") as log:  # the process keeps its own copy of the file
                self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                env=self.environment(), start_new_session=True)
        except OSError as error:
            raise S3ServerUnavailable(f"{self.label} could not be started: {error}") from error
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise S3ServerUnavailable(f"{self.label} exited at once (code {code})")
            if self.is_answering():
                return self
            time.sleep(0.1)
        self.stop()
        raise S3ServerUnavailable(f"{self.label} did not answer on {self.endpoint_url} within {timeout:.0f} s")

    def is_answering(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint_url + self.probe_path, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def settings(self, bucket: str) -> dict:
        """The tool's settings for a bucket of this server."""
        return {"STORAGE_BACKEND": "s3", "S3_ENDPOINT_URL": self.endpoint_url, "S3_BUCKET": bucket,
                "S3_REGION": REGION, "S3_ACCESS_KEY_ID": self.access_key_id,
                "S3_SECRET_ACCESS_KEY": self.secret_access_key, "S3_ADDRESSING_STYLE": "path"}

    def client(self):
        """A boto3 client of this server, for a test's own look into the bucket."""
        import boto3

        return boto3.session.Session().client("s3", endpoint_url=self.endpoint_url, region_name=REGION,
                                              aws_access_key_id=self.access_key_id,
                                              aws_secret_access_key=self.secret_access_key)

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


class S3Server(S3Endpoint):
    """`moto_server` (a bucket "going down" and coming back is `.stop()` then `.start()`; moto starts empty)."""

    label = "moto_server"
    probe_path = "/moto-api/"

    def command(self) -> list[str]:
        return _moto_command() + ["-H", "127.0.0.1", "-p", str(self.port)]

    def environment(self) -> dict:
        return {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}


def _moto_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("moto_server")
    if beside_python.exists():
        return [str(beside_python)]
    return [sys.executable, "-m", "moto.server"]


def empty_bucket(client, bucket: str) -> None:
    """Delete every object and unfinished multipart upload of a bucket, then the bucket."""
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def started_or_skipped(server: S3Endpoint) -> S3Endpoint:
    """The server started for a test session; the tests that need it skip when it cannot start, unless
    REQUIRE_S3=1 (CI), where that is an error."""
    import pytest

    try:
        return server.start()
    except S3ServerUnavailable as error:
        if os.environ.get("REQUIRE_S3") == "1":
            raise
        pytest.skip(f"no S3 endpoint ({server.label}): {error}")
