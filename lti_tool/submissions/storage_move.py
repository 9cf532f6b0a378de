"""Moving stored files to another storage backend: `flask --app wsgi storage migrate --to s3`.

Every file whose row names another backend is copied (streamed), verified against the size and SHA-256 recorded
when it was uploaded, and only then switched to the target, a batch of rows at a time in id order. Reads follow
each row's `storage_backend`, so the tool serves every file throughout a move. A file the target already holds
with the right size and SHA-256 (left by an interrupted run) is switched without being copied again. A file that
cannot be verified (missing, or its bytes changed on disk) keeps its row where it was and is reported.
The source files are kept: once nothing is left to move, the old upload folder can be archived and removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from lti_tool.core.storage import CHUNK_SIZE, Storage, StorageUnavailable, read_chunk, storage
from lti_tool.extensions import db
from lti_tool.submissions.models import Artifact, ArtifactKind


@dataclass(frozen=True)
class FileToMove:
    """One stored file's row, as much of it as a move needs."""

    id: int
    key: str
    backend: str
    size: int | None
    sha256: str | None


@dataclass(frozen=True)
class MoveFailure:
    """A file that was not moved, and why; its row still names its old backend."""

    artifact_id: int
    key: str
    reason: str


@dataclass
class MoveSummary:
    """What a run did: files copied, files found already there (switched without copying), failures."""

    target: str
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    bytes_done: int = 0  # copied or found verified
    failed: list[MoveFailure] = field(default_factory=list)
    stopped_because: str | None = None  # the target stopped answering: the rest was not tried
    started_at: float = field(default_factory=time.monotonic)
    seconds: float = 0.0

    @property
    def moved(self) -> int:
        return self.copied + self.already_there

    @property
    def is_complete(self) -> bool:
        return not self.failed and self.stopped_because is None


class CopyRefused(Exception):
    """One file could not be copied and verified; the reason is for the operator."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def count_files_to_move(target: str) -> tuple[int, int]:
    """How many stored files are not on `target` yet, and their bytes."""
    count, size = db.session.execute(
        db.select(db.func.count(Artifact.id), db.func.coalesce(db.func.sum(Artifact.size), 0))
        .where(Artifact.kind == ArtifactKind.FILE, Artifact.storage_backend != target)
    ).one()
    return count, int(size)


def files_to_move(target: str, *, batch_size: int) -> Iterator[list[FileToMove]]:
    """Pages of the stored files not on `target`, in id order; only one page is held at a time."""
    after_id = 0
    while True:
        rows = db.session.execute(
            db.select(Artifact.id, Artifact.storage_key, Artifact.storage_backend, Artifact.size, Artifact.sha256)
            .where(Artifact.kind == ArtifactKind.FILE, Artifact.storage_backend != target, Artifact.id > after_id)
            .order_by(Artifact.id)
            .limit(batch_size)
        ).all()
        if not rows:
            return
        yield [FileToMove(*row) for row in rows]
        after_id = rows[-1].id


def move_files(target_name: str, *, batch_size: int = 100,
               on_batch: Callable[[MoveSummary], None] | None = None) -> MoveSummary:
    """Copy, verify and switch every stored file not on `target_name`; commits once per batch.

    A failed file is reported and left where it is; the run goes on. The target stopping to answer
    (StorageUnavailable) ends the run after switching what was verified so far.
    """
    target = storage(target_name)
    summary = MoveSummary(target=target_name)
    for batch in files_to_move(target_name, batch_size=batch_size):
        verified: list[FileToMove] = []
        try:
            for file in batch:
                try:
                    copied = copy_verified(file, target)
                except CopyRefused as refusal:
                    summary.failed.append(MoveFailure(file.id, file.key, refusal.reason))
                    continue
                verified.append(file)
                summary.bytes_done += file.size
                if copied:
                    summary.copied += 1
                    summary.bytes_copied += file.size
                else:
                    summary.already_there += 1
        except StorageUnavailable as error:
            summary.stopped_because = f"storage stopped answering: {error}"
        _switch(verified, target_name, target)
        db.session.commit()
        summary.seconds = time.monotonic() - summary.started_at
        if on_batch is not None:
            on_batch(summary)
        if summary.stopped_because:
            break
    summary.seconds = time.monotonic() - summary.started_at
    return summary


def copy_verified(file: FileToMove, target: Storage) -> bool:
    """Put one file on `target` unless it is there already, verified; True when its bytes were copied."""
    if not file.sha256 or file.size is None:
        raise CopyRefused("no size and SHA-256 were recorded at upload to verify a copy against")
    try:
        if holds(target, file):
            return False  # an interrupted run copied it; its row was not switched
        stream = storage(file.backend).open(file.key)
    except FileNotFoundError:
        raise CopyRefused(f"the file is missing from {file.backend} storage") from None
    except ValueError as error:  # a key that is no storage key; a backend that is not configured
        raise CopyRefused(str(error)) from None
    except OSError as error:  # local disk: a folder in the way, no permission
        raise CopyRefused(f"could not be read: {type(error).__name__}: {error}") from None
    try:
        with stream:
            stored = target.put(file.key, stream)
    except (OSError, BotoCoreError, ClientError) as error:  # the source read failed, or the local disk is full
        raise CopyRefused(f"could not be copied: {type(error).__name__}: {error}") from None
    if (stored.size, stored.sha256) != (file.size, file.sha256):
        target.delete(file.key)  # a copy that does not match stays nowhere
        raise CopyRefused(f"the {file.backend} file is not the one uploaded: {stored.size} bytes with SHA-256 "
                          f"{stored.sha256}, recorded {file.size} bytes with SHA-256 {file.sha256}")
    return True


def holds(target: Storage, file: FileToMove) -> bool:
    """Whether `target` keeps this file's key with the recorded size and SHA-256 (S3: two HEAD requests)."""
    try:
        if target.size(file.key) != file.size:
            return False
        recorded = target.sha256_of(file.key)
    except FileNotFoundError:
        return False
    return (recorded or _hash_of(target, file.key)) == file.sha256


def _hash_of(target: Storage, key: str) -> str:
    digest = hashlib.sha256()
    with target.open(key) as stream:
        while chunk := read_chunk(stream, CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _switch(files: list[FileToMove], target_name: str, target: Storage) -> None:
    """Point the verified rows at the target, each only if it still names the key and backend that were copied.

    A row removed or given another file meanwhile stays as it is (a re-run moves its new file). The copy it leaves
    behind is deleted unless some row on the target names that key: files are shared between rows (a resubmission
    names the same key), and a row still on the old backend with the key reads the old file, not this copy.
    """
    left_behind = []
    for file in files:
        switched = db.session.execute(
            db.update(Artifact)
            .where(Artifact.id == file.id, Artifact.storage_key == file.key, Artifact.storage_backend == file.backend)
            .values(storage_backend=target_name)
        ).rowcount
        if not switched:
            left_behind.append(file.key)
    for key in left_behind:
        needed = db.session.scalar(db.select(Artifact.id).where(
            Artifact.storage_key == key, Artifact.storage_backend == target_name).limit(1))
        if needed is None:
            with contextlib.suppress(StorageUnavailable):  # a target that stopped answering keeps a copy none names
                target.delete(key)

