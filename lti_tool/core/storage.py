"""Where uploaded files live, behind one small interface: local disk (the default) or S3-compatible object storage.

Views and services only ever call `storage()` and the methods of `Storage`; they never see a path or a bucket.
Keys are random (`ab/cdef…`), never derived from what a person named their file.

`storage()` is the backend new files go to (`STORAGE_BACKEND`); `storage(name)` is the backend a file was kept in
(`Artifact.storage_backend`, recorded when it was saved), so files stay readable after `STORAGE_BACKEND` changes
(and while `storage migrate` moves them). Each backend is built once per app, when first asked for.

A backend is a class with the methods of `Storage` and a factory `def _x_from_config(app) -> Storage` in `BACKENDS`
under its name: `"local"` here, `"s3"` in `lti_tool.core.s3_storage` (multipart uploads, presigned download URLs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import Flask, current_app

from lti_tool.core.errors import DomainError, InvalidInput

CHUNK_SIZE = 1024 * 1024
FILE_MODE = 0o640  # readable by the service's group (backups), never executable
DIRECTORY_MODE = 0o750
TEMPORARY_PREFIX = ".partial-"
KEY_PATTERN = re.compile(r"^[0-9a-f]{2}/[0-9a-f]{30}$")


class FileTooLarge(InvalidInput):
    """A stream went past its limit; nothing of it was kept."""

    status = 413
    title = "This file is too large"

    def __init__(self, max_bytes: int):
        super().__init__(f"The file is larger than the limit of {format_size(max_bytes)}.")
        self.max_bytes = max_bytes


class StorageNotConfigured(ValueError):
    """A backend was asked for that this app has no settings for (an unknown name, S3 without a bucket)."""


class StorageUnavailable(DomainError):
    """The place files are kept cannot be reached (the S3 endpoint is down, the bucket is gone): try again later."""

    status = 503
    title = "File storage is not reachable"


@dataclass(frozen=True)
class StoredFile:
    """A file kept in storage: its random key, its size in bytes and its SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


class Storage(Protocol):
    """What the rest of the tool needs from a place that keeps files."""

    name: str  # its name in BACKENDS, recorded with each file (`Artifact.storage_backend`)
    # Whether readers get the bytes from the backend itself (`download_url`), not through the tool: such files can
    # be shown in a page only where Content-Disposition plays no part (a player or an image), never a PDF's frame.
    hands_out_urls: bool

    def save(self, stream: BinaryIO, *, max_bytes: int,
             first_chunk_check: Callable[[bytes], None] | None = None) -> StoredFile:
        """Stream into a new file under a random key; past `max_bytes` raise FileTooLarge and keep nothing.

        `first_chunk_check(first_chunk)` sees the first chunk (up to 1 MiB; empty for an empty stream)
        before anything is kept; whatever it raises aborts the save.
        """

    def put(self, key: str, stream: BinaryIO) -> StoredFile:
        """Stream into the file `key` (a key of this format, e.g. from another backend), replacing any file there."""

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def sha256_of(self, key: str) -> str | None:
        """The SHA-256 kept with the file when it was written, if this backend keeps one (else hash `open(key)`)."""

    def download_url(self, key: str, *, file_name: str, content_type: str, inline: bool) -> str | None:
        """A short-lived URL the browser fetches the file from directly, or None: the tool serves the bytes."""


def read_chunk(stream: BinaryIO, size: int = CHUNK_SIZE) -> bytes:
    """Up to `size` bytes; fewer only at the end (a network stream may answer a read with less)."""
    parts = []
    wanted = size
    while wanted > 0:
        part = stream.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def format_size(size: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            value = size / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


class LocalStorage:
    """Files on local disk under `root`: `root/ab/cdef…`, mode 0640, written through a temporary file."""

    name = "local"
    hands_out_urls = False

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.match(key or ""):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def save(self, stream: BinaryIO, *, max_bytes: int,
             first_chunk_check: Callable[[bytes], None] | None = None) -> StoredFile:
        return self._write(stream, self._new_key, max_bytes=max_bytes, first_chunk_check=first_chunk_check)

    def put(self, key: str, stream: BinaryIO) -> StoredFile:
        path = self._path(key)
        path.parent.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
        return self._write(stream, lambda: key, max_bytes=None)

    def _write(self, stream: BinaryIO, final_key: Callable[[], str], *, max_bytes: int | None,
               first_chunk_check: Callable[[bytes], None] | None = None) -> StoredFile:
        digest = hashlib.sha256()
        size = 0
        # The temporary file sits in the same folder as the final one, so the rename is atomic.
        fd, temporary = _temporary_file(self.root)
        try:
            with os.fdopen(fd, "wb") as handle:
                chunk = read_chunk(stream)
                if first_chunk_check is not None:
                    first_chunk_check(chunk)
                while chunk:
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise FileTooLarge(max_bytes)
                    digest.update(chunk)
                    handle.write(chunk)
                    chunk = read_chunk(stream)
                handle.flush()
                os.fsync(handle.fileno())
            key = final_key()
            os.replace(temporary, self._path(key))
        except BaseException:
            _remove(temporary)
            raise
        return StoredFile(key=key, size=size, sha256=digest.hexdigest())

    def _new_key(self) -> str:
        while True:
            name = secrets.token_hex(16)
            key = f"{name[:2]}/{name[2:]}"
            folder = self.root / name[:2]
            folder.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
            if not (folder / name[2:]).exists():
                return key

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")  # noqa: SIM115  (the caller, e.g. send_file, closes it)

    def delete(self, key: str) -> None:
        _remove(self._path(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def sha256_of(self, key: str) -> None:
        return None  # not kept beside the file: the database has it, and `open` gives the bytes to check

    def download_url(self, key: str, *, file_name: str, content_type: str, inline: bool) -> None:
        return None  # the tool serves local files itself (`submissions.files.send_artifact`)


def _temporary_file(folder: Path) -> tuple[int, str]:
    name = folder / f"{TEMPORARY_PREFIX}{secrets.token_hex(12)}"
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away; never more than 0640 either way
    return fd, str(name)


def _remove(path: str | os.PathLike) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _local_from_config(app: Flask) -> Storage:
    return LocalStorage(app.config.get("UPLOAD_DIR") or Path(app.instance_path) / "uploads")


def _s3_from_config(app: Flask) -> Storage:
    from lti_tool.core.s3_storage import S3Storage  # boto3 is imported only by apps that use it

    return S3Storage.from_config(app.config)


# Backend name (STORAGE_BACKEND, Artifact.storage_backend) -> factory(app).
BACKENDS: dict[str, Callable[[Flask], Storage]] = {"local": _local_from_config, "s3": _s3_from_config}


def storage(name: str | None = None) -> Storage:
    """The backend new files go to, or (given the name recorded with a file) the backend that file is kept in."""
    return _storage_of(current_app, name)


def _storage_of(app: Flask, name: str | None = None) -> Storage:
    name = name or app.config.get("STORAGE_BACKEND") or "local"
    storages = app.extensions["storages"]
    if name not in storages:
        factory = BACKENDS.get(name)
        if factory is None:
            raise StorageNotConfigured(f"Unknown storage backend {name!r}: choose one of {', '.join(BACKENDS)} "
                                       "(STORAGE_BACKEND)")
        storages.setdefault(name, factory(app))  # two threads building it at once: both get the first one kept
    return storages[name]


def init_app(app: Flask) -> None:
    app.extensions["storages"] = {}
    _storage_of(app)  # a misconfigured STORAGE_BACKEND (unknown, S3 without a bucket) stops the app from starting
