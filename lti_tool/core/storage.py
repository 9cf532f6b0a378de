"""Where uploaded files live, behind one small interface (local disk now; S3-compatible later).

Views and services only ever call `storage()` and the five methods of `Storage`; they never see a path.
Keys are random (`ab/cdef…`), never derived from what a person named their file.

Adding a backend (for example S3-compatible object storage) touches this module only:
write a class with the methods of `Storage` — `save` streams to a temporary object (a multipart
upload), hashing and counting as it goes, aborts it past `max_bytes`, and completes it under a
random key; `open` returns a readable (ideally seekable) stream; `delete`, `exists`, `size` map to
the obvious calls — then add a factory `def _s3_from_config(app) -> Storage` to `BACKENDS` under a
name (`"s3"`), with its settings (bucket, endpoint, credentials from the environment), and set
`STORAGE_BACKEND=s3`.
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

from lti_tool.core.errors import InvalidInput

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


@dataclass(frozen=True)
class StoredFile:
    """A file kept in storage: its random key, its size in bytes and its SHA-256 (hex)."""

    key: str
    size: int
    sha256: str


class Storage(Protocol):
    """What the rest of the tool needs from a place that keeps files."""

    def save(self, stream: BinaryIO, *, max_bytes: int,
             first_chunk_check: Callable[[bytes], None] | None = None) -> StoredFile:
        """Stream into a new file under a random key; past `max_bytes` raise FileTooLarge and keep nothing.

        `first_chunk_check(first_chunk)` sees the first chunk (up to 1 MiB; empty for an empty stream)
        before anything is kept; whatever it raises aborts the save.
        """

    def open(self, key: str) -> BinaryIO: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...


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

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.match(key or ""):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def save(self, stream: BinaryIO, *, max_bytes: int,
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
                    if size > max_bytes:
                        raise FileTooLarge(max_bytes)
                    digest.update(chunk)
                    handle.write(chunk)
                    chunk = read_chunk(stream)
                handle.flush()
                os.fsync(handle.fileno())
            key = self._new_key()
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


# STORAGE_BACKEND name -> factory(app). A new backend is one more entry (see the module docstring).
BACKENDS: dict[str, Callable[[Flask], Storage]] = {"local": _local_from_config}


def storage() -> Storage:
    """The storage of the current app."""
    return current_app.extensions["storage"]


def init_app(app: Flask) -> None:
    name = app.config.get("STORAGE_BACKEND") or "local"
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"Unknown STORAGE_BACKEND {name!r}: choose one of {', '.join(BACKENDS)}") from None
    app.extensions["storage"] = factory(app)
