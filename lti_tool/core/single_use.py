"""Single-use entries in the shared cache, atomic across workers and hosts: claim a key once, take a value once.

cachelib's own `add` is not atomic on either backend (Redis: SETNX then EXPIRE; files: exists-then-write), so:
- Redis: `SET key value NX EX timeout` and `GETDEL`, one command each;
- the filesystem cache: a file created with `O_CREAT | O_EXCL` (only one creator succeeds), and a file taken
  by `rename` to a name of the taker's own (only one rename succeeds). The files keep cachelib's format
  (4-byte expiry, then the pickled value) under cachelib's file names, so `cache.get`, `cache.clear` and the
  worker's sweep of expired files treat them like any other entry.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
import time
from typing import Any

from cachelib import FileSystemCache

from lti_tool.extensions import cache

_TAKEN_SUFFIX = ".__wz_cache"  # cachelib skips files with this suffix when it lists, clears or sweeps
_LOCK_NAME = "single-use.lock" + _TAKEN_SUFFIX


def claim_once(key: str, timeout: int) -> bool:
    """True for the first claim of `key`, False for every claim while that one lives (`timeout` seconds)."""
    backend = cache.cache
    if isinstance(backend, FileSystemCache):
        return _claim_file(backend, key, timeout)
    client = backend._write_client
    return bool(client.set(backend._get_prefix() + key, backend.serializer.dumps(True), nx=True, ex=timeout))


def take_once(key: str) -> Any:
    """The value stored at `key`, deleted in the same step: of several takers at once, one gets it, the rest None."""
    backend = cache.cache
    if isinstance(backend, FileSystemCache):
        return _take_file(backend, key)
    raw = backend._write_client.getdel(backend._get_prefix() + key)
    return backend.serializer.loads(raw) if raw is not None else None


# -- the filesystem cache ------------------------------------------------------------------------------------
def _header(timeout: int) -> bytes:
    return struct.pack("I", int(time.time()) + timeout)


def _create(backend: FileSystemCache, filename: str, timeout: int) -> bool:
    try:
        fd = os.open(filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, backend._mode or 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(_header(timeout))
        backend.serializer.dump(True, handle)
    return True


def _expired(filename: str) -> bool:
    """Has the entry at `filename` outlived its timeout? A file being written (no header yet) has not."""
    try:
        with open(filename, "rb") as handle:
            header = handle.read(4)
    except FileNotFoundError:
        return True
    if len(header) < 4:
        return False
    expires = struct.unpack("I", header)[0]
    return expires != 0 and expires < time.time()


def _claim_file(backend: FileSystemCache, key: str, timeout: int) -> bool:
    filename = backend._get_filename(key)
    if _create(backend, filename, timeout):
        return True
    if not _expired(filename):
        return False
    # An expired claim not swept yet: replace it under a lock, so that two late claimers cannot both win.
    with open(os.path.join(backend._path, _LOCK_NAME), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _expired(filename):
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(filename)
        return _create(backend, filename, timeout)


def _take_file(backend: FileSystemCache, key: str) -> Any:
    filename = backend._get_filename(key)
    taken = f"{filename}.{secrets.token_hex(8)}{_TAKEN_SUFFIX}"
    try:
        os.rename(filename, taken)
    except FileNotFoundError:
        return None
    try:
        with open(taken, "rb") as handle:
            expires = struct.unpack("I", handle.read(4))[0]
            if expires != 0 and expires < time.time():
                return None
            return backend.serializer.load(handle)
    except (OSError, EOFError, struct.error):
        return None
    finally:
        os.unlink(taken)
