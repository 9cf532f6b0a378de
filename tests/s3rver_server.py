"""A second real S3 endpoint on loopback for the tests: s3rver (npm, node_modules/s3rver), in its own process group.

moto does not enforce a presigned URL's X-Amz-Expires (it answers 200 long after); s3rver does: once X-Amz-Date +
X-Amz-Expires is past it answers 403 AccessDenied "Request has expired". It does NOT verify V4 signatures (any
well-formed one of a known access key passes), so it proves expiry, not signing. Its only credentials are
S3RVER/S3RVER.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from tests.s3_server import S3Endpoint, S3ServerUnavailable

ACCESS_KEY_ID = "S3RVER"  # s3rver's built-in account; other keys are refused with InvalidAccessKeyId
SECRET_ACCESS_KEY = "S3RVER"
SCRIPT = Path(__file__).resolve().parent.parent / "node_modules" / "s3rver" / "bin" / "s3rver.js"


class S3rverServer(S3Endpoint):
    """`node node_modules/s3rver/bin/s3rver.js`, its data in a temporary directory; with `log_path`, a line per
    request there."""

    label = "s3rver"
    access_key_id = ACCESS_KEY_ID
    secret_access_key = SECRET_ACCESS_KEY

    def __init__(self, *, log_path: Path | None = None):
        super().__init__(log_path=log_path)
        self.directory: str | None = None

    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None or not SCRIPT.exists():
            raise S3ServerUnavailable(f"s3rver needs node and {SCRIPT} (npm ci)")
        self.directory = tempfile.mkdtemp(prefix="s3rver-")
        return [node, str(SCRIPT), "--address", "127.0.0.1", "--port", str(self.port),
                "--directory", self.directory] + ([] if self.log_path else ["--silent"])  # a log of requests

    def stop(self) -> None:
        super().stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
