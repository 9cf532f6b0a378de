"""A presigned URL dies after STORAGE_URL_LIFETIME seconds, against a real S3 endpoint that enforces it: s3rver.

moto (the endpoint of test_s3_storage.py) answers a presigned URL long after its X-Amz-Expires; s3rver refuses it
with 403 AccessDenied "Request has expired" — but s3rver does not verify V4 signatures, so only the expiry is
proven here, not the signing. The tool's own file link lives longer (LTI_DOWNLOAD_URL_MAX_AGE): opened again, it
signs a new presigned URL that works.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.integration.test_s3_storage import PART, MiB, _redirect_of, _uploaded, video
from tests.integration.test_uploads import PDF, artifacts, launch_educator
from tests.s3_server import started_or_skipped
from tests.s3rver_server import S3rverServer

pytestmark = pytest.mark.usefixtures("running_term")

LIFETIME = 2  # seconds a presigned URL lives here (X-Amz-Date is whole seconds: fetched at once, >= 1 s to spare)


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory):
    """s3rver on loopback for the session; skipped when node or s3rver is missing, unless REQUIRE_S3=1."""
    server = started_or_skipped(S3rverServer(log_path=tmp_path_factory.mktemp("s3rver") / "s3rver.log"))
    yield server
    server.stop()


@pytest.fixture
def bucket(app, s3rver, monkeypatch):
    """The session's app keeping new files in a fresh bucket of s3rver, presigned URLs living LIFETIME seconds."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    client = s3rver.client()
    client.create_bucket(Bucket=name)
    for setting, value in {**s3rver.settings(name), "STORAGE_URL_LIFETIME": LIFETIME, "S3_PART_SIZE": PART}.items():
        monkeypatch.setitem(app.config, setting, value)
    app.extensions["storages"].pop("s3", None)  # built again, for this bucket
    yield name
    app.extensions["storages"].pop("s3", None)
    for item in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
def educator(app, browser, catalog):
    return launch_educator(app, browser)


def test_a_presigned_url_expires_and_the_file_link_signs_a_new_one(browser, live_tool, educator, bucket, s3rver):
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)
    file_link = live_tool.url + uploaded["download_url"]
    presigned = _redirect_of(browser, file_link)
    assert presigned.startswith(f"{s3rver.endpoint_url}/{bucket}/")
    assert parse_qs(urlsplit(presigned).query)["X-Amz-Expires"] == [str(LIFETIME)]

    at_once = requests.get(presigned, timeout=10)
    assert at_once.status_code == 200
    assert at_once.content == PDF

    time.sleep(LIFETIME + 1.5)
    expired = requests.get(presigned, timeout=10)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text
    assert "Request has expired" in expired.text
    assert expired.content != PDF

    renewed = _redirect_of(browser, file_link)  # the tool's link lives minutes: a new URL, signed now
    assert renewed != presigned
    again = requests.get(renewed, timeout=10)
    assert again.status_code == 200
    assert again.content == PDF


def test_a_video_goes_up_in_parts_and_plays_with_ranges_from_s3rver(app, browser, live_tool, educator, bucket,
                                                                    s3rver):
    """The backend against a second S3 implementation: multipart upload, SHA-256 metadata, ranged playback."""
    body = video(6 * MiB + 321)  # two parts of the fixture's 5 MiB
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson.mp4", iter([body[:MiB], body[MiB:]]))
    assert uploaded["sha256"] == hashlib.sha256(body).hexdigest()
    (artifact,) = artifacts(app, educator.attempt_id)
    assert artifact.storage_backend == "s3"
    head = s3rver.client().head_object(Bucket=bucket, Key=artifact.storage_key)
    assert (head["ContentLength"], head["Metadata"]["sha256"]) == (len(body), artifact.sha256)
    # two parts of a multipart upload (s3rver's own log of requests), not one PUT of the whole
    log = s3rver.log_path.read_text()
    assert len(re.findall(rf'Stored part \d+ of \w+ in bucket "{bucket}"', log)) == 2
    location = _redirect_of(browser, live_tool.url + uploaded["play_url"])
    part = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.content == body[100:200]
    assert part.headers["Content-Type"] == "video/mp4"
    assert part.headers["Content-Disposition"] == 'inline; filename="lesson.mp4"'
