"""Files in S3-compatible object storage, through real HTTP against a real S3 endpoint (moto in server mode).

Uploads land in the bucket (multipart beyond one part) with their size and SHA-256, nothing on local disk; the
tool's file links answer with a redirect to a short-lived presigned URL, from which the browser gets the bytes,
the content type and the Content-Disposition (inline for audio and video only), with Range requests for seeking;
objects are private; a refused upload leaves no object and no unfinished multipart upload; a bucket that is down
is a clear 503 with the person's text kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import re
import socket
import threading
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.integration.test_no_js_submission import _form, _main_form, _page, _post_main_form_with_file, _textareas
from tests.integration.test_uploads import (
    MP4,
    PDF,
    WINDOWS_PROGRAM,
    _token,
    artifacts,
    form_upload,
    launch_educator,
    lock_attempt,
    raw_upload,
    stored_files,
)
from tests.nothing_changed import nothing_changes

pytestmark = pytest.mark.usefixtures("running_term")

MiB = 1024 * 1024
PART = 5 * MiB  # S3's smallest part: a 12 MiB video goes up in three parts


@pytest.fixture
def bucket(s3_app, s3_settings, s3_server):
    """The test's bucket, looked into with a client of our own; uploads go in parts of 5 MiB."""
    saved = s3_app.config["S3_PART_SIZE"]
    s3_app.config["S3_PART_SIZE"] = PART
    s3_app.extensions["storages"].pop("s3", None)
    yield Bucket(s3_server.client(), s3_settings["S3_BUCKET"])
    s3_app.config["S3_PART_SIZE"] = saved


class Bucket:
    def __init__(self, client, name: str):
        self.client, self.name = client, name

    def keys(self) -> list[str]:
        return [item["Key"] for item in self.client.list_objects_v2(Bucket=self.name).get("Contents", [])]

    def unfinished_uploads(self) -> list:
        return self.client.list_multipart_uploads(Bucket=self.name).get("Uploads", [])

    def head(self, key: str) -> dict:
        return self.client.head_object(Bucket=self.name, Key=key)


@pytest.fixture
def upload_root(app):
    return app.extensions["storages"]["local"].root


@pytest.fixture
def educator(app, browser, catalog):
    return launch_educator(app, browser)


def video(size: int) -> bytes:
    """An MP4 of `size` bytes whose every 100-byte stretch differs (so a wrong range shows)."""
    body = bytearray(MP4)
    counter = 0
    while len(body) < size:
        body += hashlib.sha256(counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(body[:size])


def _uploaded(browser, tool_url, educator, name, body) -> dict:
    response = raw_upload(browser, tool_url, educator, name, body)
    assert response.status_code == 201, response.text
    return response.json()


def _redirect_of(browser, url: str, **headers) -> str:
    """Open a file link of the tool: a redirect, without a body, to where the bytes are."""
    response = browser.get(url, headers=headers, allow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.content == b""
    return response.headers["Location"]


# -- uploads land in the bucket ---------------------------------------------------------------------------------
def test_a_large_video_goes_up_in_parts_with_its_size_and_sha256(app, browser, live_tool, educator, bucket,
                                                                 upload_root, s3_server):
    body = video(12 * MiB + 123)
    local_before = stored_files(upload_root)
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson.mp4", iter([body[:3 * MiB], body[3 * MiB:]]))
    assert uploaded["sha256"] == hashlib.sha256(body).hexdigest()
    (artifact,) = artifacts(app, educator.attempt_id)
    assert artifact.storage_backend == "s3"
    assert bucket.keys() == [artifact.storage_key]
    head = bucket.head(artifact.storage_key)
    assert head["ContentLength"] == len(body) == artifact.size
    assert head["Metadata"]["sha256"] == artifact.sha256
    # three parts of a multipart upload (the S3 server's own log of requests), not one PUT of the whole
    log = s3_server.log_path.read_text()
    assert len(re.findall(rf"PUT /{bucket.name}/{artifact.storage_key}\?[^ ]*partNumber=\d", log)) == 3
    assert bucket.unfinished_uploads() == []
    assert stored_files(upload_root) == local_before


def test_a_form_upload_lands_in_the_bucket(app, browser, live_tool, educator, bucket, upload_root):
    local_before = stored_files(upload_root)
    response = form_upload(browser, live_tool.url, educator, "lesson-plan.pdf", PDF, title="Plan")
    assert response.status_code == 303
    (artifact,) = artifacts(app, educator.attempt_id)
    assert (artifact.storage_backend, artifact.file_name, artifact.title) == ("s3", "lesson-plan.pdf", "Plan")
    head = bucket.head(artifact.storage_key)
    assert (head["ContentLength"], head["Metadata"]["sha256"]) == (len(PDF), hashlib.sha256(PDF).hexdigest())
    assert stored_files(upload_root) == local_before


# -- downloads and playback: presigned URLs -------------------------------------------------------------------
def test_a_download_redirects_to_a_presigned_attachment(browser, live_tool, educator, bucket, s3_server):
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)
    location = _redirect_of(browser, live_tool.url + uploaded["download_url"])
    assert location.startswith(f"{s3_server.endpoint_url}/{bucket.name}/")
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="lesson-plan.pdf"'


def test_a_video_plays_inline_from_the_bucket_and_seeks_with_ranges(browser, live_tool, educator, bucket):
    body = video(300_000)
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson.mp4", body)
    location = _redirect_of(browser, live_tool.url + uploaded["play_url"], Range="bytes=100-199")
    whole = requests.get(location, timeout=10)
    assert whole.headers["Content-Disposition"] == 'inline; filename="lesson.mp4"'
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.content == body
    part = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=10)
    assert part.status_code == 206
    assert part.content == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    # the same video's download link is an attachment
    download = requests.get(_redirect_of(browser, live_tool.url + uploaded["download_url"]), timeout=10)
    assert download.headers["Content-Disposition"] == 'attachment; filename="lesson.mp4"'


def test_a_pdf_shown_on_a_page_downloads_from_the_bucket(app, browser, live_tool, educator, bucket):
    """Inline from the bucket's origin a PDF would lose the sandboxing CSP the tool gives it: only audio and video
    play inline from a bucket."""
    from lti_tool.submissions.file_links import file_url

    _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)
    (artifact,) = artifacts(app, educator.attempt_id)
    with app.test_request_context():
        from tests.integration.test_uploads import launch_context_of

        inline_link = file_url(launch_context_of(app, educator.ltik), artifact, "own", inline=True)
    shown = requests.get(_redirect_of(browser, live_tool.url + inline_link), timeout=10)
    assert shown.headers["Content-Disposition"].startswith("attachment;")


def test_the_presigned_url_lives_storage_url_lifetime(app, browser, live_tool, educator, bucket, monkeypatch):
    """moto does not enforce a presigned URL's expiry (it still answers 200 after it): what is checked is the
    lifetime the URL is signed with (X-Amz-Expires, covered by the signature) and its signing time."""
    monkeypatch.setitem(app.config, "STORAGE_URL_LIFETIME", 7)
    app.extensions["storages"].pop("s3", None)
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)
    query = parse_qs(urlsplit(_redirect_of(browser, live_tool.url + uploaded["download_url"])).query)
    assert query["X-Amz-Expires"] == ["7"]
    signed_at = time.mktime(time.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")) - time.timezone
    assert abs(signed_at - time.time()) < 60
    assert "X-Amz-Signature" in query


def test_objects_are_private(browser, live_tool, educator, bucket, s3_server):
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)
    location = _redirect_of(browser, live_tool.url + uploaded["download_url"])
    unsigned = location.split("?", 1)[0]
    assert requests.get(unsigned, timeout=10).status_code == 403
    grants = bucket.client.get_object_acl(Bucket=bucket.name, Key=urlsplit(unsigned).path.split("/", 2)[2])
    assert all("AllUsers" not in str(grant["Grantee"]) for grant in grants["Grants"])


def test_another_persons_link_is_refused_before_any_redirect(app, browser, live_tool, catalog, bucket):
    from tests.platform.browser import PlatformBrowser

    ada = launch_educator(app, browser)
    adas = _uploaded(browser, live_tool.url, ada, "lesson-plan.pdf", PDF)
    other_browser = PlatformBrowser(browser.platform)
    bob = launch_educator(app, other_browser, sub="user-learner-2")
    bobs = _uploaded(other_browser, live_tool.url, bob, "bobs.pdf", PDF)
    for token in (_token(bobs["download_url"]), _token(adas["download_url"]) + "x", bob.ltik):
        refused = other_browser.get(f"{live_tool.url}/files/{adas['id']}", params={"t": token},
                                    allow_redirects=False)
        assert refused.status_code == 404
        assert "Location" not in refused.headers


def test_a_file_kept_on_local_disk_is_still_served_after_the_switch(app, browser, live_tool, educator, s3_settings,
                                                                    monkeypatch):
    """Each file is read from the backend recorded with it: switching STORAGE_BACKEND does not lose older files."""
    uploaded = _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)  # still local
    for name, value in s3_settings.items():
        monkeypatch.setitem(app.config, name, value)
    monkeypatch.setitem(app.extensions["storages"], "s3", None)  # built for this bucket, forgotten afterwards
    del app.extensions["storages"]["s3"]
    response = browser.get(live_tool.url + uploaded["download_url"], allow_redirects=False)
    assert response.status_code == 200
    assert response.content == PDF
    (artifact,) = artifacts(app, educator.attempt_id)
    assert artifact.storage_backend == "local"


def test_replacing_a_local_file_after_the_switch_deletes_it_from_local_disk(app, browser, live_tool, educator,
                                                                           upload_root, s3_settings, s3_server,
                                                                           monkeypatch):
    first = _uploaded(browser, live_tool.url, educator, "first.pdf", PDF)  # still local
    (old,) = artifacts(app, educator.attempt_id)
    assert (upload_root / old.storage_key).exists()
    for name, value in s3_settings.items():
        monkeypatch.setitem(app.config, name, value)
    monkeypatch.setitem(app.extensions["storages"], "s3", None)  # built for this bucket, forgotten afterwards
    del app.extensions["storages"]["s3"]
    replaced = raw_upload(browser, live_tool.url, educator, "second.pdf", PDF, path=f"/artifacts/{first['id']}/replace")
    assert replaced.status_code == 200
    (new,) = artifacts(app, educator.attempt_id)
    assert new.storage_backend == "s3"
    assert not (upload_root / old.storage_key).exists()
    assert Bucket(s3_server.client(), s3_settings["S3_BUCKET"]).keys() == [new.storage_key]


def test_removing_and_replacing_delete_the_objects(app, browser, live_tool, educator, bucket):
    first = _uploaded(browser, live_tool.url, educator, "first.pdf", PDF)
    (artifact,) = artifacts(app, educator.attempt_id)
    old_key = artifact.storage_key
    replaced = raw_upload(browser, live_tool.url, educator, "second.pdf", PDF + b"%2",
                          path=f"/artifacts/{first['id']}/replace")
    assert replaced.status_code == 200
    (artifact,) = artifacts(app, educator.attempt_id)
    assert artifact.storage_backend == "s3"
    assert bucket.keys() == [artifact.storage_key] != [old_key]
    removed = browser.post(f"{live_tool.url}/artifacts/{first['id']}/remove", data={"ltik": educator.ltik},
                           allow_redirects=False)
    assert removed.status_code == 303
    assert bucket.keys() == []


# -- refusals leave nothing in the bucket ---------------------------------------------------------------------
def test_a_file_over_its_limit_after_some_parts_leaves_no_object_and_no_parts(app, browser, live_tool, educator,
                                                                             bucket, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES_VIDEO", 7 * MiB)  # one part goes up before it is refused
    body = video(12 * MiB)
    chunks = (body[start:start + MiB] for start in range(0, len(body), MiB))  # no Content-Length: read to learn
    with nothing_changes(app):
        response = raw_upload(browser, live_tool.url, educator, "lesson.mp4", chunks)
    assert response.status_code == 413
    assert "larger than 7 MiB" in response.json()["message"]
    assert bucket.keys() == []
    assert bucket.unfinished_uploads() == []


def test_an_upload_whose_attempt_is_submitted_meanwhile_leaves_no_object(app, browser, live_tool, educator, bucket):
    body = video(12 * MiB)

    def submitted_in_another_tab_while_uploading():
        for start in range(0, len(body), MiB):
            if start == 7 * MiB:  # the first part is in the bucket: the file is being kept
                deadline = time.monotonic() + 30
                while not bucket.unfinished_uploads():
                    assert time.monotonic() < deadline, "the upload never started"
                    time.sleep(0.05)
                lock_attempt(app, educator.attempt_id)
            yield body[start:start + MiB]

    response = raw_upload(browser, live_tool.url, educator, "lesson.mp4", submitted_in_another_tab_while_uploading())
    assert response.status_code == 409, response.text
    assert "submitted" in response.json()["message"]
    assert artifacts(app, educator.attempt_id) == []
    assert bucket.keys() == []  # stored, then deleted when the request's transaction rolled back
    assert bucket.unfinished_uploads() == []


@pytest.mark.parametrize("how", ["raw", "form"])
def test_a_disguised_file_leaves_no_object(app, browser, live_tool, educator, bucket, how):
    with nothing_changes(app):
        if how == "raw":
            response = raw_upload(browser, live_tool.url, educator, "report.pdf", WINDOWS_PROGRAM)
        else:
            response = form_upload(browser, live_tool.url, educator, "report.pdf", WINDOWS_PROGRAM)
    assert response.status_code == 400
    assert "looks like a Windows program" in unescape(response.text)
    assert bucket.keys() == []
    assert bucket.unfinished_uploads() == []


# -- the bucket is down -------------------------------------------------------------------------------------------
def test_a_bucket_that_is_down_is_a_clear_503_and_the_text_is_handed_back(app, browser, live_tool, catalog, bucket,
                                                                         s3_server):
    page = _page(browser)
    educator_ltik = _main_form(page)["fields"]["ltik"]
    attempt_id = int(_main_form(page)["fields"]["attempt_id"])
    s3_server.stop()
    with nothing_changes(app):
        refused = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                            overview="An hour of writing", reflection="Written before the upload")
        raw = browser.post(f"{live_tool.url}/artifacts/upload", params={"attempt_id": attempt_id}, data=PDF, headers={
            "Content-Type": "application/octet-stream", "X-Launch-Token": educator_ltik, "X-File-Name": "plan.pdf"})
        ready = browser.get(f"{live_tool.url}/readyz")
    assert refused.status_code == 503
    assert "File storage is not reachable" in refused.text
    assert "cannot be reached at the moment" in unescape(refused.text)
    _form(refused, "keep-text-form")
    assert _textareas(refused.text) == {"overview": "An hour of writing", "reflection": "Written before the upload"}
    assert raw.status_code == 503
    assert raw.json()["error"] == "File storage is not reachable"
    assert "Please try again in a few minutes" in raw.json()["hint"]
    assert ready.status_code == 503
    assert "the S3 bucket for files does not answer" in ready.text
    assert artifacts(app, attempt_id) == []


@pytest.fixture
def hanging_bucket(s3_app, bucket):
    """An S3 endpoint that accepts connections and never answers, with timeouts of a second or so."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # the listening socket closed: the test is over
            while True:
                held.append(server.accept()[0])  # reads nothing, answers nothing

    threading.Thread(target=accept, daemon=True).start()
    settings = {"S3_ENDPOINT_URL": f"http://127.0.0.1:{server.getsockname()[1]}", "S3_CONNECT_TIMEOUT": 0.5,
                "S3_READ_TIMEOUT": 1.0, "S3_MAX_ATTEMPTS": 2}
    saved = {name: s3_app.config.get(name) for name in settings}
    s3_app.config.update(settings)
    s3_app.extensions["storages"].pop("s3", None)
    yield held
    s3_app.config.update(saved)
    s3_app.extensions["storages"].pop("s3", None)
    server.close()
    for connection in held:
        connection.close()


def test_a_bucket_that_never_answers_is_a_503_within_the_timeouts_and_the_text_is_handed_back(
        app, browser, live_tool, catalog, hanging_bucket):
    page = _page(browser)
    attempt_id = int(_main_form(page)["fields"]["attempt_id"])
    started = time.monotonic()
    refused = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                        overview="An hour of writing", reflection="Written before the upload")
    upload_seconds = time.monotonic() - started
    started = time.monotonic()
    ready = browser.get(f"{live_tool.url}/readyz")
    ready_seconds = time.monotonic() - started
    assert hanging_bucket  # the tool did connect: the bucket held its request
    assert refused.status_code == 503 and upload_seconds < 10  # 2 attempts x (0.5 + 1) s and the page
    assert _textareas(refused.text) == {"overview": "An hour of writing", "reflection": "Written before the upload"}
    assert ready.status_code == 503 and ready_seconds < 3  # one try, 0.5 s to connect and to read
    assert "the S3 bucket for files does not answer" in ready.text
    assert artifacts(app, attempt_id) == []


class _RefusesEverything(http.server.BaseHTTPRequestHandler):
    """An S3 endpoint answering every request with an error code the tool has no special case for."""

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AuthorizationHeaderMalformed</Code>"
                b"<Message>the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message></Error>")
        self.send_response(400)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _refuse

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def refusing_bucket(s3_app, bucket):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RefusesEverything)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = s3_app.config["S3_ENDPOINT_URL"]
    s3_app.config["S3_ENDPOINT_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    s3_app.extensions["storages"].pop("s3", None)
    yield
    s3_app.config["S3_ENDPOINT_URL"] = saved
    s3_app.extensions["storages"].pop("s3", None)
    server.shutdown()
    server.server_close()


def test_any_error_the_bucket_answers_is_a_clear_503_and_the_text_is_handed_back(
        app, browser, live_tool, catalog, refusing_bucket):
    page = _page(browser)
    attempt_id = int(_main_form(page)["fields"]["attempt_id"])
    refused = _post_main_form_with_file(browser, page, ("plan.pdf", PDF, "application/pdf"),
                                        overview="An hour of writing", reflection="Written before the upload")
    ready = browser.get(f"{live_tool.url}/readyz")
    assert refused.status_code == 503
    assert "File storage is not reachable" in refused.text
    assert _textareas(refused.text) == {"overview": "An hour of writing", "reflection": "Written before the upload"}
    assert ready.status_code == 503
    assert ready.json()["problems"] == ["the S3 bucket for files does not answer"]
    assert artifacts(app, attempt_id) == []


def test_readyz_asks_the_bucket(app, browser, live_tool, bucket):
    assert browser.get(f"{live_tool.url}/readyz").status_code == 200
    bucket.client.delete_bucket(Bucket=bucket.name)
    gone = browser.get(f"{live_tool.url}/readyz")
    assert gone.status_code == 503
    assert gone.json()["problems"] == ["the S3 bucket for files does not answer"]
    bucket.client.create_bucket(Bucket=bucket.name)  # for the fixture's clean-up



def test_a_resubmission_shares_the_file_kept_in_the_bucket(app, browser, live_tool, educator, bucket):
    from lti_tool.extensions import db
    from lti_tool.submissions.models import Attempt
    from lti_tool.submissions.services import copy_attempt

    _uploaded(browser, live_tool.url, educator, "lesson-plan.pdf", PDF)
    with app.app_context():
        copy = copy_attempt(db.session.get(Attempt, educator.attempt_id))
        db.session.commit()
        copied_id = copy.id
    (original,), (copied,) = artifacts(app, educator.attempt_id), artifacts(app, copied_id)
    assert (copied.storage_backend, copied.storage_key) == ("s3", original.storage_key)


# -- the assessor's scoring page ------------------------------------------------------------------------------
@pytest.mark.usefixtures("running_term")
@pytest.mark.parametrize("kept_in", ["local", "s3"])
def test_an_assessor_sees_a_pdf_in_a_frame_only_when_the_tool_serves_it(app, platform, request, kept_in):
    """A bucket answers every PDF as an attachment: the scoring page offers it as a download, with no frame that
    would only start one; a PDF on local disk is shown in the page's viewer as before."""
    from tests.assessment_road import assessment_ids, launch_assessor, open_assessment, submit_work

    if kept_in == "s3":
        request.getfixturevalue("bucket")
    submit_work(platform)
    assessor = launch_assessor(platform)
    page = open_assessment(assessor, assessment_ids(app)[0])
    assert page.status_code == 200
    frames = re.findall(r'<iframe src="([^"]+)"', page.text)
    (download,) = re.findall(r'<a href="([^"]+)">Download Artifact 2', page.text)
    answer = assessor.browser.get(assessor.tool + unescape(download), allow_redirects=False)
    if kept_in == "s3":
        assert frames == []
        assert answer.status_code == 303
        fetched = requests.get(answer.headers["Location"], timeout=10)
        assert fetched.headers["Content-Disposition"].startswith("attachment;")
        assert fetched.content.startswith(b"%PDF")
    else:
        assert len(frames) == 1
        shown = assessor.browser.get(assessor.tool + unescape(frames[0]))
        assert shown.status_code == 200 and shown.headers["Content-Disposition"].startswith("inline;")
        assert answer.status_code == 200 and answer.headers["Content-Disposition"].startswith("attachment;")
