"""Storage: backends by name; on local disk random keys, SHA-256 while writing, limits while streaming, nothing
left behind on refusal."""

from __future__ import annotations

import hashlib
import io
import re

import pytest

from lti_tool.core.storage import FileTooLarge, LocalStorage, StorageUnavailable, StoredFile, format_size, storage

MiB = 1024 * 1024


class Trickle(io.RawIOBase):
    """A network-like stream that answers every read with at most `step` bytes."""

    def __init__(self, data: bytes, step: int = 1000):
        self.data, self.position, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = self.step if size < 0 else min(size, self.step)
        piece = self.data[self.position : self.position + size]
        self.position += len(piece)
        return piece


@pytest.fixture
def local(tmp_path) -> LocalStorage:
    return LocalStorage(tmp_path / "uploads")


def files_in(local: LocalStorage) -> list:
    return [path for path in local.root.rglob("*") if path.is_file()]


def test_save_keeps_the_bytes_under_a_random_key_with_their_sha256(local):
    data = b"%PDF-1.4\n" + bytes(3 * MiB + 17)
    stored = local.save(io.BytesIO(data), max_bytes=10 * MiB)
    assert isinstance(stored, StoredFile)
    assert re.fullmatch(r"[0-9a-f]{2}/[0-9a-f]{30}", stored.key)
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert local.exists(stored.key) and local.size(stored.key) == len(data)
    with local.open(stored.key) as handle:
        assert handle.read() == data
    assert (local.root / stored.key).stat().st_mode & 0o777 == 0o640
    assert files_in(local) == [local.root / stored.key]  # no temporary file left


def test_two_saves_of_the_same_bytes_get_two_keys(local):
    first = local.save(io.BytesIO(b"same"), max_bytes=100)
    second = local.save(io.BytesIO(b"same"), max_bytes=100)
    assert first.key != second.key and first.sha256 == second.sha256


def test_a_stream_over_the_limit_is_refused_and_nothing_is_kept(local):
    with pytest.raises(FileTooLarge) as refused:
        local.save(Trickle(bytes(2 * MiB + 1), step=64 * 1024), max_bytes=2 * MiB)
    assert refused.value.status == 413
    assert files_in(local) == []


def test_exactly_the_limit_is_accepted(local):
    assert local.save(io.BytesIO(bytes(MiB)), max_bytes=MiB).size == MiB


def test_the_first_chunk_check_sees_a_whole_chunk_even_from_a_trickling_stream(local):
    seen = []
    local.save(Trickle(bytes(3 * MiB)), max_bytes=4 * MiB, first_chunk_check=lambda head: seen.append(len(head)))
    assert seen == [MiB]


def test_a_refusing_first_chunk_check_keeps_nothing(local):
    def refuse(head):
        raise ValueError("not what it says")

    with pytest.raises(ValueError, match="not what it says"):
        local.save(io.BytesIO(b"MZ" + bytes(100)), max_bytes=MiB, first_chunk_check=refuse)
    assert files_in(local) == []


def test_an_empty_stream_shows_the_check_an_empty_chunk(local):
    seen = []
    stored = local.save(io.BytesIO(b""), max_bytes=MiB, first_chunk_check=seen.append)
    assert seen == [b""] and stored.size == 0


def test_delete_is_idempotent(local):
    stored = local.save(io.BytesIO(b"x"), max_bytes=10)
    local.delete(stored.key)
    local.delete(stored.key)
    assert not local.exists(stored.key)


@pytest.mark.parametrize("key", ["../secret", "ab/../../etc/passwd", "/etc/passwd", "AB/CDEF", "", "ab/cd"])
def test_only_keys_it_made_are_accepted(local, key):
    with pytest.raises(ValueError, match="not a storage key"):
        local.open(key)
    with pytest.raises(ValueError, match="not a storage key"):
        local.delete(key)


def test_the_app_uses_the_configured_backend(app_context, app):
    assert isinstance(storage(), LocalStorage)
    assert storage().root.name == "uploads"
    assert str(storage().root).startswith(app.instance_path)


def test_an_unknown_backend_is_refused_at_start(tmp_path):
    from lti_tool import create_app

    with pytest.raises(ValueError, match="STORAGE_BACKEND"):
        create_app("testing", {"INSTANCE_PATH": str(tmp_path), "LTI_KEYS_DIR": str(tmp_path / "keys"),
                               "SECRET_KEY": "x", "STORAGE_BACKEND": "tape"})


def test_s3_without_a_bucket_stops_production_from_starting(tmp_path):
    from lti_tool import create_app
    from lti_tool.core.storage import StorageNotConfigured

    with pytest.raises(StorageNotConfigured, match="STORAGE_BACKEND=s3 needs S3_BUCKET"):
        create_app("production", {"INSTANCE_PATH": str(tmp_path), "LTI_KEYS_DIR": str(tmp_path / "keys"),
                                  "SECRET_KEY": "x", "BASE_URL": "https://mcb.example.edu", "STORAGE_BACKEND": "s3",
                                  "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}"})


def test_a_backend_is_asked_for_by_name_and_built_once(app_context, app):
    from lti_tool.core.storage import StorageNotConfigured

    assert storage("local") is storage() is storage("local")
    assert storage().name == "local"
    with pytest.raises(StorageNotConfigured, match="needs S3_BUCKET"):
        storage("s3")  # this app has no bucket: files recorded as kept in S3 cannot be read, and it says why
    with pytest.raises(StorageNotConfigured, match="'tape'"):
        storage("tape")


def test_put_writes_under_the_given_key_and_replaces(local):
    key = "ab/" + "c" * 30
    first = local.put(key, Trickle(b"first version"))
    assert first == StoredFile(key=key, size=13, sha256=hashlib.sha256(b"first version").hexdigest())
    second = local.put(key, io.BytesIO(b"second"))
    with local.open(key) as kept:
        assert (second.size, kept.read()) == (6, b"second")
    assert local.sha256_of(key) is None  # the database keeps it; callers hash `open(key)`
    assert local.download_url(key, file_name="a.pdf", content_type="application/pdf", inline=False) is None
    assert oct((local.root / key).stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in (local.root / "ab").iterdir()] == ["c" * 30]  # no temporary file left
    with pytest.raises(ValueError, match="not a storage key"):
        local.put("../escape", io.BytesIO(b"x"))


@pytest.mark.parametrize(("kind", "name", "header"), [
    ("attachment", "lesson-plan.pdf", 'attachment; filename="lesson-plan.pdf"'),
    ("inline", "clip.mp4", 'inline; filename="clip.mp4"'),
    ("attachment", "résumé final.pdf", "attachment; filename=\"resume final.pdf\"; "
                                       "filename*=UTF-8''r%C3%A9sum%C3%A9%20final.pdf"),
    ("attachment", 'say "hi".txt', "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"),
    ("attachment", "日本.pdf", "attachment; filename=\"file.pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.pdf"),
    ("attachment", "отчёт", "attachment; filename=\"file\"; filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82"),
])
def test_content_disposition_names_any_file_as_rfc_6266_says(kind, name, header):
    from lti_tool.core.s3_storage import content_disposition

    assert content_disposition(kind, name) == header


@pytest.mark.parametrize(("size", "label"), [(1024**3, "1 GiB"), (50 * MiB, "50 MiB"), (1536, "1.5 KiB"),
                                             (12, "12 bytes")])
def test_sizes_read_as_people_say_them(size, label):
    assert format_size(size) == label


# -- a file follows the fate of the transaction that records it ---------------------------------------------
def test_after_commit_runs_on_commit_and_the_other_on_rollback(app_context):
    from lti_tool.core.transactions import after_commit
    from lti_tool.extensions import db

    calls = []
    db.session.execute(db.text("SELECT 1"))
    after_commit(lambda: calls.append("committed"), on_rollback=lambda: calls.append("rolled back"))
    with db.session.begin_nested():  # a savepoint is not the end
        db.session.execute(db.text("SELECT 1"))
    assert calls == []
    db.session.commit()
    assert calls == ["committed"]

    db.session.execute(db.text("SELECT 1"))
    after_commit(lambda: calls.append("committed again"), on_rollback=lambda: calls.append("rolled back"))
    db.session.rollback()
    db.session.commit()
    assert calls == ["committed", "rolled back"]


# -- file names ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "kept"), [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    ("C:\\Users\\ada\\Lesson Plan.DOCX", "Lesson_Plan.DOCX"),
    ("Ünterricht.pdf", "Unterricht.pdf"),
    ("日本語.png", "file.png"),
])
def test_file_names_lose_their_path_and_keep_their_type(app_context, raw, kept):
    from lti_tool.submissions.uploads import clean_file_name

    assert clean_file_name(raw)[0] == kept


@pytest.mark.parametrize("raw", ["", "../", "evil.exe", ".pdf", "report.pdf.exe", "page.html"])
def test_names_without_an_allowed_type_are_refused(app_context, raw):
    from lti_tool.submissions.uploads import UploadRefused, clean_file_name

    with pytest.raises(UploadRefused):
        clean_file_name(raw)


def test_a_download_url_without_credentials_to_sign_it_is_storage_unavailable(app_context, monkeypatch, tmp_path):
    from lti_tool.core.s3_storage import S3Storage

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3Storage.from_config({"S3_BUCKET": "files", "S3_ENDPOINT_URL": "http://127.0.0.1:9"})
    with pytest.raises(StorageUnavailable):
        store.download_url("ab/" + "c" * 30, file_name="a.pdf", content_type="application/pdf", inline=False)
