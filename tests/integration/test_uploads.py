"""Artifact files through real HTTP: type checked by content, size limits while streaming, who may read them."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from lti_tool.extensions import db
from lti_tool.submissions.models import Artifact
from tests.nothing_changed import nothing_changes

pytestmark = pytest.mark.usefixtures("running_term")  # uploads go into a draft of a running term

SLUG = "self-assessment-growth"
MiB = 1024 * 1024



@pytest.fixture
def upload_root(app) -> Path:
    return Path(app.extensions["storages"]["local"].root)


# -- what files look like -------------------------------------------------------------------------------
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00" + bytes(64)
MP4 = (24).to_bytes(4, "big") + b"ftypisom\x00\x00\x02\x00isomiso2" + bytes(4096)
WINDOWS_PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(56) + b"This program cannot be run in DOS mode.\r\n"
LINUX_PROGRAM = b"\x7fELF\x02\x01\x01\x00" + bytes(120)


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships/>')
        archive.writestr("word/document.xml", '<?xml version="1.0"?><w:document/>')
    return buffer.getvalue()


def _odt() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


ACCEPTED = [
    ("lesson-plan.pdf", PDF, "application/pdf"),
    ("board.png", PNG, "image/png"),
    ("lesson.mp4", MP4, "video/mp4"),
    ("plan.docx", _docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ("plan.odt", _odt(), "application/vnd.oasis.opendocument.text"),
    ("old-plan.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "application/msword"),
    ("notes.rtf", b"{\\rtf1\\ansi Notes}", "application/rtf"),
    ("notes.txt", "Réflexion: what my students said.\n".encode(), "text/plain"),
    ("chart.gif", b"GIF89a\x01\x00\x01\x00" + bytes(20), "image/gif"),
    ("photo.JPG", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(100), "image/jpeg"),
    ("clip.webm", b"\x1a\x45\xdf\xa3" + bytes(100), "video/webm"),
    ("talk.mov", (20).to_bytes(4, "big") + b"ftypqt  " + bytes(100), "video/quicktime"),
    ("voice.m4a", (20).to_bytes(4, "big") + b"ftypM4A " + bytes(100), "audio/mp4"),
    ("voice.mp3", b"ID3\x04\x00" + bytes(100), "audio/mpeg"),
    ("voice.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(100), "audio/wav"),
]


# -- an educator with a draft attempt -----------------------------------------------------------------------
@dataclass
class Educator:
    ltik: str
    attempt_id: int
    user_id: int


def launch_context_of(app, ltik: str):
    """The launch a reference names (signature checked; its age and browser are the views' business)."""
    from itsdangerous import URLSafeTimedSerializer

    from lti_tool.lti.launch_context import SALT, LaunchContext

    return LaunchContext.from_payload(URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT).loads(ltik))


def launch_educator(app, browser, sub: str | None = None, context_id: str = "course-1") -> Educator:
    """Launch as a learner on a bound activity, then enroll through the services (attempt 1, a draft)."""
    from lti_tool.catalog.services import current_term, get_microcredential
    from lti_tool.lti.models import LtiUser, ResourceLink
    from lti_tool.submissions.services import current_attempt, enroll

    plan = {"claims": {"sub": sub}} if sub else {}
    result = browser.launch(person="learner", custom={"microcredential": SLUG}, context_id=context_id, **plan)
    assert result.status_code == 200, result.text[:300]
    assert result.ltik
    with app.app_context():
        launch = launch_context_of(app, result.ltik)
        user = db.session.get(LtiUser, launch.user_id)
        link = db.session.get(ResourceLink, launch.resource_link_id)
        enrollment = enroll(user, get_microcredential(SLUG), current_term(), link)
        attempt = current_attempt(enrollment)
        db.session.commit()
        return Educator(ltik=result.ltik, attempt_id=attempt.id, user_id=user.id)


def launch_other(browser, person: str, context_id: str = "course-1") -> str:
    """The launch reference of someone else; their landing page (other modules' work) does not matter here."""
    result = browser.launch(person=person, custom={"microcredential": SLUG}, context_id=context_id)
    assert result.ltik, result.text[:300]
    return result.ltik


def raw_upload(browser, tool_url: str, educator: Educator, name: str, body, *, title: str | None = None,
               attempt_id: int | None = None, path: str = "/artifacts/upload"):
    """What the page's script does: the file as the body, streamed."""
    params = {"attempt_id": attempt_id or educator.attempt_id}
    if title:
        params["title"] = title
    return browser.post(tool_url + path, params=params, data=body, headers={
        "Content-Type": "application/octet-stream",
        "X-Launch-Token": educator.ltik,
        "X-File-Name": quote(name),
        "Accept": "application/json",
    })


def form_upload(browser, tool_url: str, educator: Educator, name: str, body: bytes, *, title: str = "",
                browser_type: str = "application/pdf", path: str = "/artifacts/upload"):
    """What a browser without script sends: a multipart form with the file input `artifact_file`."""
    return browser.post(
        tool_url + path,
        data={"ltik": educator.ltik, "attempt_id": str(educator.attempt_id), "artifact_title": title},
        files={"artifact_file": (name, body, browser_type)},
        allow_redirects=False,
    )


def message_of(response) -> str:
    """The refusal as the person reads it: JSON for a script, the error page for a form."""
    if response.headers["Content-Type"].startswith("application/json"):
        return response.json()["message"]
    return response.text


def stored_files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def artifacts(app, attempt_id: int) -> list[Artifact]:
    with app.app_context():
        rows = db.session.scalars(
            db.select(Artifact).where(Artifact.attempt_id == attempt_id).order_by(Artifact.position)
        ).all()
        db.session.expunge_all()
        return rows


def lock_attempt(app, attempt_id: int) -> None:
    """As if submitted (the submit page is another module's; its rules are tested there)."""
    from lti_tool.core.models import utcnow
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        attempt.status = "submitted"
        attempt.submitted_at = utcnow()
        db.session.commit()


@pytest.fixture
def educator(app, browser, catalog) -> Educator:
    return launch_educator(app, browser)


# -- refused: content that is not what its name says ------------------------------------------------------
def test_a_windows_program_renamed_pdf_is_refused_with_the_file_named(app, browser, live_tool, educator,
                                                                      upload_root):
    before = stored_files(upload_root)
    with nothing_changes(app):
        response = raw_upload(browser, live_tool.url, educator, "report.pdf", WINDOWS_PROGRAM)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["message"] == "“report.pdf” is not a PDF file: its content looks like a Windows program."
    assert answer["error"]
    assert stored_files(upload_root) == before
    assert artifacts(app, educator.attempt_id) == []


def test_a_linux_program_renamed_png_is_refused_through_the_form(app, browser, live_tool, educator, upload_root):
    before = stored_files(upload_root)
    with nothing_changes(app):
        response = form_upload(browser, live_tool.url, educator, "photo.png", LINUX_PROGRAM, browser_type="image/png")
    assert response.status_code == 400
    assert "“photo.png” is not a PNG image: its content looks like a Linux program." in response.text
    assert stored_files(upload_root) == before
    assert artifacts(app, educator.attempt_id) == []


@pytest.mark.parametrize(("name", "body", "reason"), [
    ("lesson.mp4", b"#!/bin/sh\nrm -rf ~\n", "a script"),
    ("notes.txt", b"#!/usr/bin/env python\nimport os\n", "a script"),
    ("notes.txt", b"MZ\x90\x00" + bytes(60), "a Windows program"),
    ("plan.docx", b"<!DOCTYPE html><script>alert(1)</script>", "a web page"),
    ("plan.odt", _docx(), "a ZIP archive"),
    ("voice.mp3", PDF, "a PDF file"),
])
def test_other_disguises_are_refused(app, browser, live_tool, educator, name, body, reason):
    with nothing_changes(app):
        response = raw_upload(browser, live_tool.url, educator, name, body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(f"“{name}” is not ")
    assert response.json()["message"].endswith(f"its content looks like {reason}.")
    assert artifacts(app, educator.attempt_id) == []


@pytest.mark.parametrize("name", ["setup.exe", "page.html", "drawing.svg", "archive.zip", "noextension"])
def test_a_type_outside_the_allow_list_is_refused(app, browser, live_tool, educator, name):
    with nothing_changes(app):
        response = raw_upload(browser, live_tool.url, educator, name, PDF)
    assert response.status_code == 400
    assert f"“{name}” cannot be added" in response.json()["message"]
    assert artifacts(app, educator.attempt_id) == []


@pytest.mark.parametrize(("raw_name", "kept"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("..\\..\\windows\\system32\\evil.pdf", "evil.pdf"),
    ("/absolute/path/My Report (final).pdf", "My_Report_final.pdf"),
    ("Отчёт.pdf", "file.pdf"),
    ("x" * 400 + ".pdf", "x" * 251 + ".pdf"),
])
def test_a_path_in_the_file_name_is_neutralised(app, browser, live_tool, educator, upload_root, raw_name, kept):
    response = raw_upload(browser, live_tool.url, educator, raw_name, PDF)
    assert response.status_code == 201, response.text
    assert response.json()["file_name"] == kept
    (artifact,) = artifacts(app, educator.attempt_id)
    assert artifact.file_name == kept
    stored = upload_root / artifact.storage_key
    assert stored.is_file() and stored.parent.parent == upload_root
    assert kept.split(".")[0] not in artifact.storage_key  # stored under a random name, never the person's
    assert not (upload_root.parent / "etc").exists()


# -- refused: size ---------------------------------------------------------------------------------------
def _chunks(head: bytes, total: int, chunk: int = 64 * 1024):
    yield head
    sent = len(head)
    while sent < total:
        piece = min(chunk, total - sent)
        sent += piece
        yield bytes(piece)


@pytest.mark.parametrize("how", ["declared", "chunked", "form"])
def test_an_oversize_file_is_refused_and_nothing_is_kept(app, browser, live_tool, educator, upload_root,
                                                         small_limits, how):
    before = stored_files(upload_root)
    body = PDF + bytes(MiB + MiB // 2)  # over the documents' limit, under the largest body any upload may send
    with nothing_changes(app):
        if how == "declared":
            response = raw_upload(browser, live_tool.url, educator, "big.pdf", body)
        elif how == "chunked":  # no Content-Length: only counting while streaming can catch it
            response = raw_upload(browser, live_tool.url, educator, "big.pdf", _chunks(PDF, len(body)))
        else:
            response = form_upload(browser, live_tool.url, educator, "big.pdf", body)
    assert response.status_code == 413
    assert "“big.pdf” is larger than 1 MiB, the limit for documents and images." in message_of(response)
    assert stored_files(upload_root) == before
    assert artifacts(app, educator.attempt_id) == []


def test_a_form_document_over_its_limit_is_refused_while_the_form_is_parsed(app, browser, live_tool, educator,
                                                                          upload_root, small_limits, monkeypatch):
    """A form's body may reach the video limit, but a document is refused once past the documents' limit: nothing
    more of it is written (the spool keeps what it took, within a chunk of the limit, and closes at once); the parser
    reads on, writing nothing, for up to 64 MiB (`uploads.SKIP_AFTER_REFUSAL`), so that the rest of the form — the
    text sent along after the file — still arrives for the refusal page to hand back."""
    from lti_tool.submissions import artifact_views, uploads

    spools: list[uploads.LimitedSpool] = []

    def recording_factory(**part):
        spool = uploads.form_file_stream(**part)
        spools.append(spool)
        return spool

    monkeypatch.setattr(artifact_views, "form_file_stream", recording_factory)
    before = stored_files(upload_root)
    body = PDF + bytes(int(1.8 * MiB))  # over the documents' 1 MiB, under the videos' 2 MiB
    with nothing_changes(app):
        response = form_upload(browser, live_tool.url, educator, "thesis.pdf", body)
    assert response.status_code == 413
    assert "“thesis.pdf” is larger than 1 MiB, the limit for documents and images." in response.text
    (spool,) = spools
    assert spool.limit == MiB
    assert MiB < spool.received <= MiB + 256 * 1024  # the parser stopped within a chunk of the limit
    assert spool.closed  # the temporary file is gone at once
    assert stored_files(upload_root) == before
    assert artifacts(app, educator.attempt_id) == []


def test_a_form_file_outside_the_allow_list_is_refused_before_its_content(app, browser, live_tool, educator,
                                                                         monkeypatch):
    from lti_tool.submissions import artifact_views, uploads

    spools = []
    monkeypatch.setattr(artifact_views, "form_file_stream",
                        lambda **part: spools.append(part) or uploads.form_file_stream(**part))
    with nothing_changes(app):
        response = form_upload(browser, live_tool.url, educator, "setup.exe", WINDOWS_PROGRAM,
                               browser_type="application/octet-stream")
    assert response.status_code == 400
    assert "“setup.exe” cannot be added" in response.text
    assert [part["filename"] for part in spools] == ["setup.exe"]
    assert artifacts(app, educator.attempt_id) == []


def test_video_has_its_own_larger_limit(app, browser, live_tool, educator, small_limits):
    accepted = raw_upload(browser, live_tool.url, educator, "lesson.mp4", _chunks(MP4, int(1.5 * MiB)))
    assert accepted.status_code == 201, accepted.text
    with nothing_changes(app):
        refused = raw_upload(browser, live_tool.url, educator, "long.mp4", _chunks(MP4, 3 * MiB))
    assert refused.status_code == 413
    assert "limit for video and audio files" in refused.json()["message"]
    assert len(artifacts(app, educator.attempt_id)) == 1


def test_only_the_upload_endpoint_accepts_bodies_over_the_form_limit(app, browser, live_tool, educator):
    size = app.config["MAX_CONTENT_LENGTH"] + MiB
    response = raw_upload(browser, live_tool.url, educator, "lesson.mp4", _chunks(MP4, size, chunk=MiB))
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    with nothing_changes(app):
        elsewhere = browser.post(live_tool.url + "/lti/bind", data={"ltik": educator.ltik, "filler": "x" * size})
    assert elsewhere.status_code == 413


@pytest.mark.parametrize("how", ["raw", "form"])
def test_an_empty_file_is_refused(app, browser, live_tool, educator, upload_root, how):
    before = stored_files(upload_root)
    with nothing_changes(app):
        if how == "raw":
            response = raw_upload(browser, live_tool.url, educator, "empty.pdf", b"")
        else:
            response = form_upload(browser, live_tool.url, educator, "empty.pdf", b"")
    assert response.status_code == 400
    assert "“empty.pdf” is empty." in message_of(response)
    assert stored_files(upload_root) == before


# -- accepted ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "body", "content_type"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_allowed_files_are_kept_with_their_sha256(app, browser, live_tool, educator, upload_root, name, body,
                                                  content_type):
    response = raw_upload(browser, live_tool.url, educator, name, body, title="My example")
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["file_name"] == name
    assert answer["size"] == len(body)
    assert answer["content_type"] == content_type
    assert answer["sha256"] == hashlib.sha256(body).hexdigest()
    (artifact,) = artifacts(app, educator.attempt_id)
    assert (artifact.title, artifact.sha256, artifact.content_type) == ("My example", answer["sha256"], content_type)
    stored = upload_root / artifact.storage_key
    assert stored.read_bytes() == body
    assert stored.stat().st_mode & 0o777 == 0o640  # never executable

    downloaded = browser.get(live_tool.url + answer["download_url"])
    assert downloaded.status_code == 200
    assert hashlib.sha256(downloaded.content).hexdigest() == answer["sha256"]


def test_the_plain_form_adds_a_file_and_returns_to_the_submission_page(app, browser, live_tool, educator):
    response = form_upload(browser, live_tool.url, educator, "lesson-plan.pdf", PDF, title="Week 3 plan",
                           browser_type="application/x-msdownload")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/submission/"
    query = parse_qs(location.query)
    assert set(query) == {"ltik", "notice"} and query["notice"] == ["artifact-added"]  # a fresh ltik each answer
    (artifact,) = artifacts(app, educator.attempt_id)
    assert (artifact.file_name, artifact.title, artifact.content_type) == ("lesson-plan.pdf", "Week 3 plan",
                                                                           "application/pdf")
    assert artifact.sha256 == hashlib.sha256(PDF).hexdigest()
    with app.app_context():
        from lti_tool.submissions.models import Attempt

        assert db.session.get(Attempt, educator.attempt_id).status == "draft"


# -- who may read and change a file ---------------------------------------------------------------------
def _uploaded(browser, tool_url, educator, name="lesson-plan.pdf", body=PDF) -> dict:
    response = raw_upload(browser, tool_url, educator, name, body)
    assert response.status_code == 201, response.text
    return response.json()


def test_an_educator_cannot_reach_another_educators_file_or_attempt(app, browser, live_tool, catalog, upload_root):
    from tests.platform.browser import PlatformBrowser

    ada = launch_educator(app, browser)
    mine = _uploaded(browser, live_tool.url, ada)
    other_browser = PlatformBrowser(browser.platform)
    bob = launch_educator(app, other_browser, sub="user-learner-2")
    assert bob.user_id != ada.user_id

    url = f"{live_tool.url}/artifacts/{mine['id']}"
    bobs = _uploaded(other_browser, live_tool.url, bob)  # Bob's own link, tried on Ada's file
    assert other_browser.get(f"{live_tool.url}/files/{mine['id']}", params={"t": _token(bobs["download_url"])}
                             ).status_code == 404
    before = stored_files(upload_root)
    with nothing_changes(app):
        assert other_browser.post(f"{url}/remove", data={"ltik": bob.ltik}).status_code == 404
        assert raw_upload(other_browser, live_tool.url, bob, "x.pdf", PDF, path=f"/artifacts/{mine['id']}/replace"
                          ).status_code == 404
        into_adas = raw_upload(other_browser, live_tool.url, bob, "planted.pdf", PDF, attempt_id=ada.attempt_id)
    assert into_adas.status_code == 404
    assert stored_files(upload_root) == before
    assert [a.file_name for a in artifacts(app, ada.attempt_id)] == ["lesson-plan.pdf"]
    assert [a.file_name for a in artifacts(app, bob.attempt_id)] == ["lesson-plan.pdf"]


def _token(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)["t"]
    return token


def test_reading_a_file_needs_its_link(app, browser, live_tool, educator):
    """Who receives a link is tested in test_file_links; without a valid one nothing is read."""
    uploaded = _uploaded(browser, live_tool.url, educator)
    url = f"{live_tool.url}/files/{uploaded['id']}"
    assert browser.get(url).status_code == 404  # no link at all
    assert browser.get(url, params={"t": _token(uploaded["download_url"]) + "x"}).status_code == 404  # forged
    assert browser.get(url, params={"t": educator.ltik}).status_code == 404  # a launch reference is no file link
    assert browser.get(url, params={"t": _token(uploaded["download_url"])}).status_code == 200


def test_an_instructor_cannot_upload_into_a_learners_attempt(app, browser, live_tool, educator):
    instructor = Educator(ltik=launch_other(browser, "instructor"), attempt_id=educator.attempt_id, user_id=0)
    with nothing_changes(app):
        response = raw_upload(browser, live_tool.url, instructor, "lesson-plan.pdf", PDF)
    assert response.status_code == 403
    assert artifacts(app, educator.attempt_id) == []


def test_a_download_is_an_attachment_that_cannot_run(browser, live_tool, educator):
    uploaded = _uploaded(browser, live_tool.url, educator, name="../report.pdf")
    response = browser.get(live_tool.url + uploaded["download_url"])
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=report.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_a_video_plays_inline_with_range_requests(browser, live_tool, educator):
    uploaded = _uploaded(browser, live_tool.url, educator, name="lesson.mp4", body=MP4)
    assert uploaded["play_url"]
    whole = browser.get(live_tool.url + uploaded["play_url"])
    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Content-Disposition"].startswith("inline")
    assert whole.headers["Accept-Ranges"] == "bytes"
    part = browser.get(live_tool.url + uploaded["play_url"], headers={"Range": "bytes=4-11"})
    assert part.status_code == 206
    assert part.content == b"ftypisom"
    assert part.headers["Content-Range"] == f"bytes 4-11/{len(MP4)}"
    assert part.headers["X-Content-Type-Options"] == "nosniff"


def test_only_video_and_audio_can_be_played(browser, live_tool, educator):
    uploaded = _uploaded(browser, live_tool.url, educator)
    assert uploaded["play_url"] is None


# -- remove and replace ----------------------------------------------------------------------------------
def test_removing_a_file_from_a_draft_deletes_it_after_the_commit(app, browser, live_tool, educator, upload_root):
    uploaded = _uploaded(browser, live_tool.url, educator)
    (artifact,) = artifacts(app, educator.attempt_id)
    stored = upload_root / artifact.storage_key
    assert stored.exists()
    response = browser.post(f"{live_tool.url}/artifacts/{uploaded['id']}/remove", data={"ltik": educator.ltik},
                            allow_redirects=False)
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query)["notice"] == ["artifact-removed"]
    assert artifacts(app, educator.attempt_id) == []
    assert not stored.exists()


def test_replacing_keeps_the_place_and_caption_and_deletes_the_old_file(app, browser, live_tool, educator,
                                                                        upload_root):
    first = raw_upload(browser, live_tool.url, educator, "first.pdf", PDF, title="First").json()
    _uploaded(browser, live_tool.url, educator, name="second.png", body=PNG)
    old = artifacts(app, educator.attempt_id)[0]
    old_file = upload_root / old.storage_key

    response = form_upload(browser, live_tool.url, educator, "better.docx", _docx(),
                           path=f"/artifacts/{first['id']}/replace")
    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["Location"]).query)["notice"] == ["artifact-replaced"]
    replaced, second = artifacts(app, educator.attempt_id)
    assert (replaced.file_name, replaced.title, replaced.position) == ("better.docx", "First", old.position)
    assert second.file_name == "second.png"
    assert not old_file.exists()
    assert (upload_root / replaced.storage_key).read_bytes() == _docx()

    renamed = raw_upload(browser, live_tool.url, educator, "best.pdf", PDF, title="Final plan",
                         path=f"/artifacts/{replaced.id}/replace")
    assert renamed.status_code == 200, renamed.text
    assert [(a.file_name, a.title) for a in artifacts(app, educator.attempt_id)] == [
        ("best.pdf", "Final plan"), ("second.png", "")]


def test_a_refused_replacement_keeps_the_old_file(app, browser, live_tool, educator, upload_root):
    uploaded = _uploaded(browser, live_tool.url, educator)
    before = stored_files(upload_root)
    with nothing_changes(app):
        response = raw_upload(browser, live_tool.url, educator, "report.pdf", WINDOWS_PROGRAM,
                              path=f"/artifacts/{uploaded['id']}/replace")
    assert response.status_code == 400
    assert stored_files(upload_root) == before
    assert [a.file_name for a in artifacts(app, educator.attempt_id)] == ["lesson-plan.pdf"]


def test_nothing_changes_after_submit(app, browser, live_tool, educator, upload_root):
    uploaded = _uploaded(browser, live_tool.url, educator)
    lock_attempt(app, educator.attempt_id)
    before = stored_files(upload_root)

    with nothing_changes(app):
        added = raw_upload(browser, live_tool.url, educator, "late.pdf", PDF)
        removed = browser.post(f"{live_tool.url}/artifacts/{uploaded['id']}/remove", data={"ltik": educator.ltik})
        replaced = form_upload(browser, live_tool.url, educator, "late.pdf", PDF,
                               path=f"/artifacts/{uploaded['id']}/replace")
    assert (added.status_code, removed.status_code, replaced.status_code) == (409, 409, 409)
    assert "submitted" in added.json()["message"]
    assert stored_files(upload_root) == before
    assert [a.file_name for a in artifacts(app, educator.attempt_id)] == ["lesson-plan.pdf"]
    assert browser.get(live_tool.url + uploaded["download_url"]).status_code == 200  # still readable


# -- versions: every artifact change moves the attempt's version on ------------------------------------------
def _version(app, attempt_id: int) -> int:
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        return db.session.get(Attempt, attempt_id).version


def test_adding_replacing_and_removing_a_file_each_move_the_version_on(app, browser, live_tool, educator):
    start = _version(app, educator.attempt_id)
    added = raw_upload(browser, live_tool.url, educator, "plan.pdf", PDF)
    assert added.status_code == 201
    assert added.json()["version"] == _version(app, educator.attempt_id) == start + 1

    replaced = raw_upload(browser, live_tool.url, educator, "plan.png", PNG,
                          path=f"/artifacts/{added.json()['id']}/replace")
    assert replaced.status_code == 200
    assert replaced.json()["version"] == _version(app, educator.attempt_id) == start + 2

    form = form_upload(browser, live_tool.url, educator, "notes.pdf", PDF)
    assert form.status_code == 303 and _version(app, educator.attempt_id) == start + 3

    removed = browser.post(f"{live_tool.url}/artifacts/{added.json()['id']}/remove", data={"ltik": educator.ltik},
                           headers={"Accept": "application/json"})
    assert removed.json() == {"removed": added.json()["id"], "version": start + 4}
    assert _version(app, educator.attempt_id) == start + 4


def test_an_autosave_based_on_the_version_before_an_upload_is_refused_with_its_text(app, browser, live_tool,
                                                                                    educator):
    """The page's script adopts the upload's version (mine + 1) and saves again; the tool never takes old text."""
    start = _version(app, educator.attempt_id)
    added = raw_upload(browser, live_tool.url, educator, "plan.pdf", PDF)
    autosave = f"{live_tool.url}/submission/autosave"
    headers = {"X-Launch-Token": educator.ltik, "Accept": "application/json"}
    with nothing_changes(app):
        stale = browser.post(autosave, headers=headers, data={"attempt_id": educator.attempt_id, "version": start,
                                                              "overview": "Typed while it uploaded"})
    assert stale.status_code == 409
    assert stale.json()["error"] == "stale" and stale.json()["values"] == {"overview": "Typed while it uploaded"}

    again = browser.post(autosave, headers=headers, data={"attempt_id": educator.attempt_id,
                                                          "version": added.json()["version"],
                                                          "overview": "Typed while it uploaded"})
    assert again.status_code == 200 and again.json()["version"] == start + 2


def test_replacing_keeps_the_artifact_its_place_and_caption_through_the_service(app, educator):
    from lti_tool.core.storage import StoredFile
    from lti_tool.submissions import services
    from lti_tool.submissions.models import Attempt

    with app.app_context():
        attempt = db.session.get(Attempt, educator.attempt_id)
        first = services.add_link_artifact(attempt, "https://example.org/a", "Kept caption")
        services.add_link_artifact(attempt, "https://example.org/b")
        before = attempt.version
        stored = StoredFile(key="ab/new-key", size=12, sha256="0" * 64)
        old_key = services.replace_file_artifact(first, stored, "new.pdf", "application/pdf")
        assert old_key is None  # a link had no stored file
        assert (first.kind, first.url, first.file_name, first.title, first.position) == (
            "file", None, "new.pdf", "Kept caption", 0)
        assert attempt.version == before + 1
        services.replace_file_artifact(first, stored, "newer.pdf", "application/pdf", "New caption")
        assert first.title == "New caption" and first.position == 0
        db.session.rollback()
