"""`flask storage migrate --to s3`: files uploaded through the tool move to a real S3 endpoint (moto), verified.

Files are uploaded over real HTTP to local disk, moved by the command (in this process, or as its own process
where a test interrupts it), and then downloaded through the tool again: a redirect to the bucket, same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from lti_tool.core.storage import storage
from lti_tool.extensions import db
from lti_tool.submissions.models import Artifact
from tests.integration.test_uploads import MP4, PDF, PNG, launch_educator, raw_upload
from tests.nothing_changed import nothing_changes

pytestmark = pytest.mark.usefixtures("running_term")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KiB = 1024


@pytest.fixture
def s3_beside_local(app, s3_settings):
    """The session's app with a bucket configured while new files still go to local disk (before a move)."""
    settings = {**s3_settings, "STORAGE_BACKEND": "local"}
    saved = {name: app.config.get(name) for name in settings}
    app.config.update(settings)
    app.extensions["storages"].pop("s3", None)
    yield s3_settings
    app.config.update(saved)
    app.extensions["storages"].pop("s3", None)


@pytest.fixture
def bucket(s3_server, s3_beside_local):
    return Bucket(s3_server.client(), s3_beside_local["S3_BUCKET"])


class Bucket:
    """A look into the bucket with a client of its own (not the tool's)."""

    def __init__(self, client, name: str):
        self.client, self.name = client, name

    def objects(self) -> dict[str, dict]:
        listed = self.client.list_objects_v2(Bucket=self.name).get("Contents", [])
        return {item["Key"]: {"size": item["Size"], "etag": item["ETag"], "modified": item["LastModified"]}
                for item in listed}

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


def _bodies() -> list[tuple[str, bytes]]:
    """Files of mixed kinds and sizes, each different (two of them beyond one 1 MiB read)."""
    return [
        ("plan.pdf", PDF + b"% one\n"),
        ("board.png", PNG + os.urandom(40 * KiB)),
        ("lesson.mp4", MP4 + os.urandom(1536 * KiB)),
        ("notes.pdf", PDF + os.urandom(1100 * KiB)),
        ("empty-ish.pdf", PDF),
        ("other.pdf", PDF + b"% two\n"),
    ]


@pytest.fixture
def uploaded(app, browser, live_tool, catalog, s3_beside_local) -> dict[int, dict]:
    """Six files uploaded through the tool to local disk: artifact id -> the upload's answer and the bytes sent."""
    educator = launch_educator(app, browser)
    files = {}
    for name, body in _bodies():
        response = raw_upload(browser, live_tool.url, educator, name, body)
        assert response.status_code == 201, response.text
        files[response.json()["id"]] = {**response.json(), "body": body}
    assert _backends(app) == dict.fromkeys(files, "local")
    return files


def _backends(app) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(db.select(Artifact.id, Artifact.storage_backend).order_by(Artifact.id)).all()
        db.session.remove()
    return dict(rows)


def _keys(app) -> dict[int, str]:
    with app.app_context():
        rows = db.session.execute(db.select(Artifact.id, Artifact.storage_key)).all()
        db.session.remove()
    return dict(rows)


def _local_path(app, key: str) -> Path:
    with app.app_context():
        return Path(storage("local").root) / key


def migrate(app, *args: str):
    return app.test_cli_runner().invoke(args=["storage", "migrate", *args])


def _downloads_from_the_bucket(browser, live_tool, file: dict, endpoint_url: str) -> None:
    redirect = browser.get(live_tool.url + file["download_url"], allow_redirects=False)
    assert redirect.status_code == 303, redirect.text[:300]
    assert redirect.headers["Location"].startswith(endpoint_url)
    got = browser.get(redirect.headers["Location"])  # the presigned URL, fetched as a browser would
    assert got.status_code == 200 and got.content == file["body"]


# -- the move ------------------------------------------------------------------------------------------------------
def test_every_uploaded_file_moves_to_the_bucket_verified_and_is_served_from_there(
        app, browser, live_tool, uploaded, bucket, s3_beside_local):
    keys = _keys(app)
    result = migrate(app, "--to", "s3", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "moving 6 file(s)" in result.output
    assert "4/6 files" in result.output and "6/6 files" in result.output  # progress after each commit
    assert "6 copied, 0 already there, 0 failed" in result.output
    assert "Set STORAGE_BACKEND=s3" in result.output  # new uploads still go to local disk

    assert _backends(app) == dict.fromkeys(uploaded, "s3")
    objects = bucket.objects()
    assert set(objects) == set(keys.values())
    for artifact_id, file in uploaded.items():
        key = keys[artifact_id]
        stored = bucket.read(key)
        assert stored == file["body"]
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(file["body"]).hexdigest()
        head = bucket.client.head_object(Bucket=bucket.name, Key=key)
        assert head["Metadata"]["sha256"] == hashlib.sha256(file["body"]).hexdigest()
        assert _local_path(app, key).read_bytes() == file["body"]  # the source is kept
        _downloads_from_the_bucket(browser, live_tool, file, s3_beside_local["S3_ENDPOINT_URL"])

    # Run again: nothing is left to move and nothing is copied (the objects are the same ones).
    time.sleep(1.1)  # a copy made now would carry a later LastModified
    again = migrate(app, "--to", "s3")
    assert again.exit_code == 0, again.output
    assert "moving 0 file(s)" in again.output and "0 copied, 0 already there, 0 failed" in again.output
    assert bucket.objects() == objects


def test_files_move_back_to_local_disk(app, browser, live_tool, uploaded, bucket):
    assert migrate(app, "--to", "s3").exit_code == 0
    keys = _keys(app)
    kept_id, *other_ids = sorted(uploaded)
    for artifact_id in other_ids:
        _local_path(app, keys[artifact_id]).unlink()  # a new host: its disk holds one file (checked by its bytes)

    result = migrate(app, "--to", "local", "--batch-size", "5")
    assert result.exit_code == 0, result.output
    assert "5 copied, 1 already there, 0 failed" in result.output
    assert "every stored file is on local, where new uploads go (STORAGE_BACKEND=local)" in result.output
    assert _backends(app) == dict.fromkeys(uploaded, "local")
    for artifact_id, file in uploaded.items():
        assert _local_path(app, keys[artifact_id]).read_bytes() == file["body"]
        got = browser.get(live_tool.url + file["download_url"], allow_redirects=False)
        assert got.status_code == 200 and got.content == file["body"]  # served by the tool itself again


# -- failures: reported, left where they are ---------------------------------------------------------------------
def test_a_changed_file_and_a_missing_file_are_reported_and_stay_on_local_disk(
        app, browser, live_tool, uploaded, bucket):
    keys = _keys(app)
    changed_id, missing_id, *moved_ids = sorted(uploaded)
    changed = _local_path(app, keys[changed_id])
    body = bytearray(changed.read_bytes())
    body[-2] ^= 0xFF  # the same size, one byte different
    changed.write_bytes(bytes(body))
    _local_path(app, keys[missing_id]).unlink()

    result = migrate(app, "--to", "s3", "--batch-size", "2")
    assert result.exit_code == 1, result.output
    assert "4 copied, 0 already there, 2 failed" in result.output
    assert (f"not moved: artifact {changed_id} ({keys[changed_id]}): the local file is not the one uploaded: "
            f"{len(body)} bytes with SHA-256 {hashlib.sha256(body).hexdigest()}, recorded {len(body)} bytes with "
            f"SHA-256 {hashlib.sha256(uploaded[changed_id]['body']).hexdigest()}") in result.output
    assert f"not moved: artifact {missing_id} ({keys[missing_id]}): the file is missing from local storage" in (
        result.output)
    assert "some files were not moved" in result.output and "Set STORAGE_BACKEND" not in result.output

    assert _backends(app) == {changed_id: "local", missing_id: "local", **dict.fromkeys(moved_ids, "s3")}
    assert set(bucket.objects()) == {keys[i] for i in moved_ids}  # no copy of the changed file is kept
    for artifact_id in moved_ids:
        _downloads_from_the_bucket(browser, live_tool, uploaded[artifact_id], bucket.client.meta.endpoint_url)

    # Put right (the file restored from a backup), a run moves it alone.
    changed.write_bytes(uploaded[changed_id]["body"])
    _local_path(app, keys[missing_id]).write_bytes(uploaded[missing_id]["body"])
    again = migrate(app, "--to", "s3")
    assert again.exit_code == 0, again.output
    assert "2 copied, 0 already there, 0 failed" in again.output
    assert _backends(app) == dict.fromkeys(uploaded, "s3")


def test_a_file_the_target_disk_cannot_take_is_reported_and_the_others_move(app, uploaded, bucket):
    keys = _keys(app)
    assert migrate(app, "--to", "s3").exit_code == 0
    blocked = sorted(uploaded)[3]
    folder = _local_path(app, keys[blocked]).parent
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    folder.write_bytes(b"a file where the folder should be")  # as a full or broken disk would, for this file only
    refused = {i for i in uploaded if _local_path(app, keys[i]).parent == folder}

    try:
        result = migrate(app, "--to", "local")
    finally:
        folder.unlink()
        folder.mkdir()
    assert result.exit_code == 1, result.output
    assert f"0 copied, {len(uploaded) - len(refused)} already there, {len(refused)} failed" in result.output
    assert "NotADirectoryError" in result.output
    assert _backends(app) == {i: ("s3" if i in refused else "local") for i in uploaded}


def test_a_dry_run_counts_and_changes_nothing(app, uploaded, bucket):
    size = sum(len(file["body"]) for file in uploaded.values())
    with nothing_changes(app):
        result = migrate(app, "--to", "s3", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"dry run: 6 file(s), {size / 1e6:,.1f} MB, would be moved to s3; nothing changed" in result.output
    assert bucket.objects() == {}


def test_a_target_without_its_settings_is_refused_before_anything_is_read(app):
    with nothing_changes(app):
        result = migrate(app, "--to", "s3", "--dry-run")
    assert result.exit_code == 1
    assert "Error: s3 storage is not configured: STORAGE_BACKEND=s3 needs S3_BUCKET" in result.output


def test_the_bucket_down_stops_the_move_with_a_clear_error_and_nothing_switched(app, uploaded, bucket, s3_server):
    s3_server.stop()
    with nothing_changes(app):
        result = migrate(app, "--to", "s3")
    assert result.exit_code == 1, result.output
    assert "0 copied, 0 already there, 0 failed" in result.output
    assert "stopped: storage stopped answering" in result.output
    assert "some files were not moved" in result.output


# -- interrupted for real, then run again --------------------------------------------------------------------------
def _command_environment(app, settings: dict) -> dict:
    """The test app's database, upload folder and bucket, for `flask --app wsgi` in a process of its own."""
    with app.app_context():
        upload_dir = str(storage("local").root)
    return {**os.environ, **{name: str(value) for name, value in settings.items()},
            "APP_ENV": "testing", "SECRET_KEY": app.config["SECRET_KEY"], "INSTANCE_PATH": app.instance_path,
            "LTI_KEYS_DIR": app.config["LTI_KEYS_DIR"], "CACHE_DIR": str(app.config.get("CACHE_DIR") or ""),
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "UPLOAD_DIR": upload_dir,
            "STORAGE_BACKEND": "local"}


class WritesHeldBack:
    """Another connection holding the artifact table's write lock: the command copies, then waits to switch."""

    def __init__(self, app):
        self.engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        self.connection = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            self.transaction = self.connection.begin()
            self.connection.execute(sa.text("LOCK TABLE submission_artifact IN EXCLUSIVE MODE"))  # reads still pass
        else:
            self.connection.exec_driver_sql("BEGIN IMMEDIATE")  # SQLite: readers pass, writers wait
            self.transaction = None

    def release(self, *, commit: bool = False) -> None:
        if self.transaction is not None:
            (self.transaction.commit if commit else self.transaction.rollback)()
        else:
            self.connection.exec_driver_sql("COMMIT" if commit else "ROLLBACK")
        self.connection.close()
        self.engine.dispose()


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_an_interrupted_move_finishes_when_run_again_without_copying_anything_twice(
        app, uploaded, bucket, s3_beside_local, tmp_path):
    keys = _keys(app)
    first_batch = [keys[i] for i in sorted(uploaded)[:2]]
    held = WritesHeldBack(app)
    try:
        with open(tmp_path / "migrate.log", "wb") as log:
            command = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "storage", "migrate", "--to", "s3", "--batch-size",
                 "2"], cwd=PROJECT_ROOT, env=_command_environment(app, s3_beside_local), stdout=log,
                stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: len(bucket.objects()) >= 2)  # the first batch is copied and verified ...
            time.sleep(0.5)
            assert set(bucket.objects()) == set(first_batch)  # ... and its rows wait to be switched
            os.kill(command.pid, signal.SIGKILL)  # the machine goes down
        finally:
            command.kill()
            command.wait(timeout=30)
    finally:
        held.release()
    assert _backends(app) == dict.fromkeys(uploaded, "local")  # nothing was switched
    copied_before = bucket.objects()

    time.sleep(1.1)  # a copy made now would carry a later LastModified
    result = migrate(app, "--to", "s3", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "4 copied, 2 already there, 0 failed" in result.output
    assert _backends(app) == dict.fromkeys(uploaded, "s3")
    objects = bucket.objects()
    assert {key: objects[key] for key in first_batch} == copied_before  # the same objects, not copied again
    for artifact_id, file in uploaded.items():
        assert bucket.read(keys[artifact_id]) == file["body"]


def test_a_file_removed_during_the_move_leaves_no_copy_in_the_bucket(app, uploaded, bucket, s3_beside_local,
                                                                     tmp_path):
    keys = _keys(app)
    removed_id = sorted(uploaded)[2]
    held = WritesHeldBack(app)
    try:
        with open(tmp_path / "migrate.log", "wb") as log:
            command = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "storage", "migrate", "--to", "s3"],
                cwd=PROJECT_ROOT, env=_command_environment(app, s3_beside_local), stdout=log,
                stderr=subprocess.STDOUT)
        _wait_for(lambda: len(bucket.objects()) == len(uploaded))  # copied, waiting to switch
        # Meanwhile the educator removes one (the removal's own file clean-up is the views' business).
        held.connection.execute(sa.text("DELETE FROM submission_artifact WHERE id = :id"), {"id": removed_id})
    finally:
        held.release(commit=True)
    assert command.wait(timeout=60) == 0, (tmp_path / "migrate.log").read_text()
    assert "6 copied, 0 already there, 0 failed" in (tmp_path / "migrate.log").read_text()
    assert _backends(app) == {i: "s3" for i in uploaded if i != removed_id}
    assert set(bucket.objects()) == {keys[i] for i in uploaded if i != removed_id}


def _run_while_writes_held_back(app, settings: dict, log_path: Path, bucket: Bucket, copies: int, change) -> str:
    """Run the move as its own process; once it has made `copies` copies and waits to switch, `change` the rows."""
    held = WritesHeldBack(app)
    try:
        with open(log_path, "wb") as log:
            command = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "storage", "migrate", "--to", "s3"],
                cwd=PROJECT_ROOT, env=_command_environment(app, settings), stdout=log, stderr=subprocess.STDOUT)
        _wait_for(lambda: len(bucket.objects()) == copies)
        change(held.connection)
    finally:
        held.release(commit=True)
    assert command.wait(timeout=60) == 0, log_path.read_text()
    return log_path.read_text()


def test_a_shared_file_stays_in_the_bucket_when_one_of_its_rows_is_removed_during_the_move(
        app, browser, live_tool, uploaded, bucket, s3_beside_local, tmp_path):
    keys = _keys(app)
    kept_id = sorted(uploaded)[0]
    with app.app_context():  # a resubmission's copy: another row naming the same file
        shared_id = db.session.execute(sa.text(
            "INSERT INTO submission_artifact (attempt_id, kind, position, title, file_name, storage_key, "
            "storage_backend, content_type, size, sha256, created_at) SELECT attempt_id, kind, position + 100, title, "
            "file_name, storage_key, storage_backend, content_type, size, sha256, created_at "
            "FROM submission_artifact WHERE id = :id RETURNING id"), {"id": kept_id}).scalar_one()
        db.session.commit()
        db.session.remove()

    def remove_the_copy(connection):
        connection.execute(sa.text("DELETE FROM submission_artifact WHERE id = :id"), {"id": shared_id})

    output = _run_while_writes_held_back(app, s3_beside_local, tmp_path / "migrate.log", bucket, len(uploaded),
                                         remove_the_copy)
    assert "6 copied, 1 already there, 0 failed" in output
    assert _backends(app) == dict.fromkeys(uploaded, "s3")
    assert set(bucket.objects()) == {keys[i] for i in uploaded}
    _downloads_from_the_bucket(browser, live_tool, uploaded[kept_id], s3_beside_local["S3_ENDPOINT_URL"])


def test_a_file_replaced_during_the_move_stays_on_local_disk_and_moves_when_run_again(
        app, browser, live_tool, uploaded, bucket, s3_beside_local, tmp_path):
    keys = _keys(app)
    replaced_id = sorted(uploaded)[1]
    new_body = PDF + b"% the replacement\n"
    with app.app_context():
        replacement = storage("local").save(io.BytesIO(new_body), max_bytes=len(new_body))

    def replace(connection):
        connection.execute(sa.text("UPDATE submission_artifact SET storage_key = :key, size = :size, sha256 = :sha "
                                   "WHERE id = :id"), {"key": replacement.key, "size": replacement.size,
                                                        "sha": replacement.sha256, "id": replaced_id})

    output = _run_while_writes_held_back(app, s3_beside_local, tmp_path / "migrate.log", bucket, len(uploaded),
                                         replace)
    assert "6 copied, 0 already there, 0 failed" in output
    assert _backends(app) == {i: ("local" if i == replaced_id else "s3") for i in uploaded}
    assert set(bucket.objects()) == {keys[i] for i in uploaded if i != replaced_id}  # the old file's copy is gone
    got = browser.get(live_tool.url + uploaded[replaced_id]["download_url"])
    assert got.status_code == 200 and got.content == new_body

    result = migrate(app, "--to", "s3")
    assert result.exit_code == 0, result.output
    assert "1 copied, 0 already there, 0 failed" in result.output
    assert _backends(app) == dict.fromkeys(uploaded, "s3")
    _downloads_from_the_bucket(browser, live_tool, {**uploaded[replaced_id], "body": new_body},
                               s3_beside_local["S3_ENDPOINT_URL"])


def test_an_object_in_the_way_with_other_bytes_is_copied_over(app, uploaded, bucket):
    keys = _keys(app)
    artifact_id = sorted(uploaded)[1]
    body = uploaded[artifact_id]["body"]
    bucket.client.put_object(Bucket=bucket.name, Key=keys[artifact_id], Body=bytes(len(body)),
                             Metadata={"sha256": "0" * 64})  # the right size, other bytes
    result = migrate(app, "--to", "s3")
    assert result.exit_code == 0, result.output
    assert "6 copied, 0 already there, 0 failed" in result.output
    assert bucket.read(keys[artifact_id]) == body
