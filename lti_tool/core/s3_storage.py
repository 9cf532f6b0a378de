"""Files in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto), behind the `Storage` interface of `core.storage`.

- Uploads stream in multipart parts of `S3_PART_SIZE` bytes, one part in memory at a time, hashed and counted as
  they go; a file past its limit, refused by its first chunk or cut short by any error is aborted (S3 keeps no
  object and no parts). A file smaller than one part is a single PUT.
- Objects are private (no ACL is ever set; the bucket's own policy is left alone) and carry their SHA-256 as the
  object metadata `sha256`.
- Downloads and playback are presigned GET URLs living `STORAGE_URL_LIFETIME` seconds, which name the content type
  and the Content-Disposition S3 answers with: the browser fetches the bytes from the bucket, never through the tool.
- An endpoint or bucket that cannot be reached is a `StorageUnavailable` (503) with a plain message.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import BinaryIO
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from flask import current_app

from lti_tool.core.storage import (
    CHUNK_SIZE,
    KEY_PATTERN,
    FileTooLarge,
    StorageNotConfigured,
    StorageUnavailable,
    StoredFile,
    read_chunk,
)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (all but the last)
SHA256_METADATA = "sha256"  # x-amz-meta-sha256
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


def content_disposition(kind: str, file_name: str) -> str:
    """`attachment` or `inline` with the file name, for any name (RFC 6266 §4.3, RFC 8187: `filename*` in UTF-8)."""
    ascii_name = unicodedata.normalize("NFKD", file_name).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(c for c in ascii_name if c.isprintable()).replace("\\", "_").replace('"', "_")
    stem, dot, extension = ascii_name.rpartition(".")
    if not any(c.isalnum() for c in (stem if dot else extension)):  # "отчёт.pdf" -> ".pdf": name it "file.pdf"
        ascii_name = f"file.{extension}" if dot and extension else "file"
    value = f'{kind}; filename="{ascii_name}"'
    if ascii_name != file_name:
        value += f"; filename*=UTF-8''{quote(file_name, safe='')}"
    return value


class S3Storage:
    """A bucket of an S3-compatible service; keys as on local disk (`ab/cdef…`)."""

    name = "s3"
    hands_out_urls = True

    def __init__(self, client, bucket: str, *, part_size: int, url_lifetime: int, probe_client=None):
        if part_size < MIN_PART_SIZE:
            raise StorageNotConfigured(f"S3_PART_SIZE must be at least {MIN_PART_SIZE} bytes (S3's smallest part).")
        self.client, self.bucket = client, bucket
        self.probe_client = probe_client or client  # check_reachable's: one quick try, for /readyz
        self.part_size, self.url_lifetime = part_size, url_lifetime

    @classmethod
    def from_config(cls, config: Mapping) -> S3Storage:
        bucket = config.get("S3_BUCKET")
        if not bucket:
            raise StorageNotConfigured("STORAGE_BACKEND=s3 needs S3_BUCKET, the bucket files are kept in "
                                       "(and S3_ENDPOINT_URL for a service other than AWS).")
        endpoint = config.get("S3_ENDPOINT_URL") or None
        style = config.get("S3_ADDRESSING_STYLE") or ("path" if endpoint else "virtual")
        if style not in ("path", "virtual"):
            raise StorageNotConfigured(f"S3_ADDRESSING_STYLE must be 'path' or 'virtual', not {style!r}.")
        connect_timeout = config.get("S3_CONNECT_TIMEOUT") or 3

        def client(*, attempts: int, read_timeout: float):
            # A session per client: boto3's default session is not safe to build clients from in several threads.
            return boto3.session.Session().client(
                "s3", endpoint_url=endpoint, region_name=config.get("S3_REGION") or "us-east-1",
                aws_access_key_id=config.get("S3_ACCESS_KEY_ID") or None,
                aws_secret_access_key=config.get("S3_SECRET_ACCESS_KEY") or None,
                config=Config(s3={"addressing_style": style}, signature_version="s3v4",
                              retries={"mode": "standard", "max_attempts": attempts},
                              connect_timeout=connect_timeout, read_timeout=read_timeout),
            )

        # A bucket that does not answer holds a request at most attempts x (connect + read) seconds: less than a
        # web worker's timeout, so the person gets the 503 page with the text kept, not a killed worker.
        requests = client(attempts=config.get("S3_MAX_ATTEMPTS") or 2, read_timeout=config.get("S3_READ_TIMEOUT") or 15)
        return cls(requests, bucket, part_size=config.get("S3_PART_SIZE") or 8 * 1024 * 1024,
                   url_lifetime=config.get("STORAGE_URL_LIFETIME") or 300,
                   probe_client=client(attempts=1, read_timeout=connect_timeout))

    # -- writing ---------------------------------------------------------------------------------------------
    def save(self, stream: BinaryIO, *, max_bytes: int,
             first_chunk_check: Callable[[bytes], None] | None = None) -> StoredFile:
        return self._upload(_new_key(), stream, max_bytes=max_bytes, first_chunk_check=first_chunk_check)

    def put(self, key: str, stream: BinaryIO) -> StoredFile:
        return self._upload(_checked(key), stream, max_bytes=None)

    def _upload(self, key: str, stream: BinaryIO, *, max_bytes: int | None,
                first_chunk_check: Callable[[bytes], None] | None = None) -> StoredFile:
        digest, size = hashlib.sha256(), 0

        def next_part(head: bytes = b"") -> tuple[io.BytesIO, int]:
            """The next part, filled in place and seekable (botocore hashes it without copying it), and its length."""
            nonlocal size
            part, length = io.BytesIO(), 0
            piece = head or read_chunk(stream, min(CHUNK_SIZE, self.part_size))
            while piece:
                part.write(piece)
                digest.update(piece)
                length += len(piece)
                piece = read_chunk(stream, min(CHUNK_SIZE, self.part_size - length)) if length < self.part_size else b""
            size += length
            if max_bytes is not None and size > max_bytes:
                raise FileTooLarge(max_bytes)
            part.seek(0)
            return part, length

        head = read_chunk(stream, CHUNK_SIZE)
        if first_chunk_check is not None:
            first_chunk_check(head)
        part, length = next_part(head)
        with self._reachable():
            if length < self.part_size:  # the whole file: one request, its hash known before it is sent
                self.client.put_object(Bucket=self.bucket, Key=key, Body=part,
                                       Metadata={SHA256_METADATA: digest.hexdigest()})
                return StoredFile(key=key, size=size, sha256=digest.hexdigest())
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
        try:
            with self._reachable():
                parts = []
                while length:
                    number = len(parts) + 1
                    etag = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                   PartNumber=number, Body=part)["ETag"]
                    parts.append({"PartNumber": number, "ETag": etag})
                    part.close()  # its bytes go before the next part's are read: one part in memory
                    part, length = next_part()
                self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id,
                                                      MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort(key, upload_id)
            raise
        try:
            with self._reachable():
                # The hash is known only now: the object is copied onto itself with it (on the server side).
                self.client.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                                        Metadata={SHA256_METADATA: digest.hexdigest()}, MetadataDirective="REPLACE")
        except BaseException:
            self._forget(key)
            raise
        return StoredFile(key=key, size=size, sha256=digest.hexdigest())

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (BotoCoreError, ClientError):
            current_app.logger.exception("S3: could not abort the multipart upload of %s (a lifecycle rule "
                                         "AbortIncompleteMultipartUpload removes its parts)", key)

    def _forget(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError):
            current_app.logger.exception("S3: could not delete %s after a failed upload", key)

    # -- reading ------------------------------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        """The object's body as a stream (read it in chunks; close it when done)."""
        with self._reachable():
            return self.client.get_object(Bucket=self.bucket, Key=_checked(key))["Body"]

    def delete(self, key: str) -> None:
        with self._reachable():
            self.client.delete_object(Bucket=self.bucket, Key=_checked(key))

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except FileNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        return self._head(key)["ContentLength"]

    def sha256_of(self, key: str) -> str | None:
        return self._head(key).get("Metadata", {}).get(SHA256_METADATA)

    def _head(self, key: str) -> dict:
        with self._reachable():
            return self.client.head_object(Bucket=self.bucket, Key=_checked(key))

    def download_url(self, key: str, *, file_name: str, content_type: str, inline: bool) -> str:
        with self._reachable():  # signing needs credentials (boto3's chain may find none)
            return self.client.generate_presigned_url("get_object", ExpiresIn=self.url_lifetime, Params={
                "Bucket": self.bucket, "Key": _checked(key),
                "ResponseContentDisposition": content_disposition("inline" if inline else "attachment", file_name),
                "ResponseContentType": content_type,
            })

    def check_reachable(self) -> None:
        """Raise StorageUnavailable unless the bucket answers (for /readyz)."""
        try:
            with self._reachable():
                self.probe_client.head_bucket(Bucket=self.bucket)
        except FileNotFoundError as missing:  # HEAD answers a missing bucket with a bare 404
            raise self._unavailable(missing) from missing

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        """S3's errors in the tool's terms: a missing object is FileNotFoundError (as on disk); anything else S3
        answers with (a missing bucket, refused credentials, a wrong region, a server error after boto3's retries…)
        or an endpoint that does not answer is StorageUnavailable."""
        try:
            yield
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code", "")) in NOT_FOUND_CODES:
                raise FileNotFoundError(f"s3://{self.bucket}: no such object") from error
            raise self._unavailable(error) from error
        except BotoCoreError as error:  # could not connect, timed out, connection closed
            raise self._unavailable(error) from error

    def _unavailable(self, error: Exception) -> StorageUnavailable:
        current_app.logger.error("S3 bucket %s not usable: %s", self.bucket, error)
        return StorageUnavailable("The place where files are kept cannot be reached at the moment, so the file "
                                  "could not be stored or read. Nothing was changed.",
                                  hint="Please try again in a few minutes. If it keeps happening, tell your "
                                       "course team.")


def _new_key() -> str:
    name = secrets.token_hex(16)
    return f"{name[:2]}/{name[2:]}"


def _checked(key: str) -> str:
    if not KEY_PATTERN.match(key or ""):
        raise ValueError(f"not a storage key: {key!r}")
    return key
