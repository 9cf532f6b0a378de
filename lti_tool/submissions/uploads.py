"""Checking and storing an uploaded artifact file: allowed names, content that matches the name, size limits.

A file is accepted only when its extension is on the allow-list AND its first bytes are what that
extension promises (a renamed program is refused with a message naming the file and what it looks
like). The size limit is enforced while the stream is copied into storage, so a file is never held
in memory; the stored content type is the one the content proved, never the browser's claim.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Callable
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import BinaryIO

from flask import current_app
from werkzeug.utils import secure_filename

from lti_tool.core.errors import InvalidInput
from lti_tool.core.storage import FileTooLarge, StoredFile, format_size, storage

MAX_FILE_NAME_LENGTH = 255


class UploadRefused(InvalidInput):
    """A file that cannot be kept; the message names the file and the reason."""

    title = "This file cannot be added"


class UploadTooLarge(UploadRefused):
    status = 413
    title = "This file is too large"


# -- what each allowed type must look like ------------------------------------------------------------
def _zip_entry(head: bytes) -> tuple[str, bytes] | None:
    """The first entry of a ZIP archive (its name, and its stored data when uncompressed), from a local header."""
    if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
        return None
    method = int.from_bytes(head[8:10], "little")
    compressed_size = int.from_bytes(head[18:22], "little")
    name_length = int.from_bytes(head[26:28], "little")
    extra_length = int.from_bytes(head[28:30], "little")
    name = head[30 : 30 + name_length].decode("utf-8", "replace")
    start = 30 + name_length + extra_length
    data = head[start : start + compressed_size] if method == 0 else b""
    return name, data


DOCX_FIRST_ENTRIES = ("[Content_Types].xml", "_rels/", "docProps/", "word/", "customXml/")
ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"


def _is_docx(head: bytes) -> bool:
    # Every part of a WordprocessingML package (ECMA-376 Part 2) lives under one of these names.
    entry = _zip_entry(head)
    return entry is not None and entry[0].startswith(DOCX_FIRST_ENTRIES)


def _is_odt(head: bytes) -> bool:
    # ODF 1.2 Part 3 §3.3: the first entry is `mimetype`, stored uncompressed.
    entry = _zip_entry(head)
    return entry is not None and entry[0] == "mimetype" and entry[1] == ODT_MIMETYPE


TEXT_CONTROLS = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D} | {0x7F}


def _is_text(head: bytes) -> bool:
    """UTF-8 (the first chunk may end inside a character) or Latin-1 text: no NUL or control bytes, no shebang."""
    if head.startswith(b"#!") or any(byte in TEXT_CONTROLS for byte in head):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head.removeprefix(codecs.BOM_UTF8), final=False)
    except UnicodeDecodeError:
        return not any(0x80 <= byte <= 0x9F for byte in head)  # Latin-1's C1 controls: a binary, not a text
    return True


def _is_mp3(head: bytes) -> bool:
    if head.startswith(b"ID3"):
        return True
    # An MPEG audio frame header: 11 sync bits, then a layer that is not "reserved".
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _is_iso_media(head: bytes) -> bool:
    return head[4:8] == b"ftyp"


def _is_quicktime(head: bytes) -> bool:
    # Older QuickTime movies start with another atom than `ftyp`.
    return _is_iso_media(head) or head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


@dataclass(frozen=True)
class FileType:
    label: str  # "a PDF file": for messages
    content_type: str
    matches: Callable[[bytes], bool]
    is_media: bool = False


PDF = FileType("a PDF file", "application/pdf", lambda h: h.startswith(b"%PDF-"))
FILE_TYPES: dict[str, FileType] = {
    ".pdf": PDF,
    ".doc": FileType("a Word document", "application/msword",
                     lambda h: h.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")),
    ".docx": FileType("a Word document",
                      "application/vnd.openxmlformats-officedocument.wordprocessingml.document", _is_docx),
    ".odt": FileType("an OpenDocument text", "application/vnd.oasis.opendocument.text", _is_odt),
    ".rtf": FileType("an RTF document", "application/rtf", lambda h: h.startswith(b"{\\rtf")),
    ".txt": FileType("a plain text file", "text/plain", _is_text),
    ".png": FileType("a PNG image", "image/png", lambda h: h.startswith(b"\x89PNG\r\n\x1a\n")),
    ".gif": FileType("a GIF image", "image/gif", lambda h: h[:6] in (b"GIF87a", b"GIF89a")),
    ".jpg": FileType("a JPEG image", "image/jpeg", lambda h: h.startswith(b"\xff\xd8\xff")),
    ".jpeg": FileType("a JPEG image", "image/jpeg", lambda h: h.startswith(b"\xff\xd8\xff")),
    ".mp4": FileType("an MP4 video", "video/mp4", _is_iso_media, is_media=True),
    ".mov": FileType("a QuickTime video", "video/quicktime", _is_quicktime, is_media=True),
    ".webm": FileType("a WebM video", "video/webm", lambda h: h.startswith(b"\x1a\x45\xdf\xa3"), is_media=True),
    ".m4a": FileType("an M4A audio file", "audio/mp4", _is_iso_media, is_media=True),
    ".mp3": FileType("an MP3 audio file", "audio/mpeg", _is_mp3, is_media=True),
    ".wav": FileType("a WAV audio file", "audio/wav", lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE",
                     is_media=True),
}
ALLOWED_EXTENSIONS = tuple(FILE_TYPES)

# What content looks like when it is not what its name says: the most telling signatures first.
LOOKS_LIKE: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda h: h.startswith(b"MZ"), "a Windows program"),
    (lambda h: h.startswith(b"\x7fELF"), "a Linux program"),
    (lambda h: h[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                         b"\xca\xfe\xba\xbe"), "a macOS program"),
    (lambda h: h.startswith(b"#!"), "a script"),
    (lambda h: h.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html", b"<script", b"<svg")),
     "a web page"),
    (lambda h: h.startswith(b"PK\x03\x04"), "a ZIP archive"),
    (lambda h: h[:6] in (b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c"), "a compressed archive"),
    *((file_type.matches, file_type.label) for file_type in FILE_TYPES.values() if file_type is not FILE_TYPES[".txt"]),
)


def describe_content(head: bytes) -> str | None:
    """What the first bytes look like ('a Windows program'), or None when they are nothing recognisable."""
    for matches, label in LOOKS_LIKE:
        if matches(head):
            return label
    return None


# -- names, limits, content ---------------------------------------------------------------------------------
def clean_file_name(raw_name: str | None) -> tuple[str, FileType]:
    """A safe file name (no path, ASCII, ≤ 255 characters, its extension kept) and the type that name promises."""
    last = (raw_name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    stem, extension = os.path.splitext(last)
    shown = last or "The file"
    if not last:
        raise UploadRefused("The file has no name.", hint="Choose the file again.")
    file_type = FILE_TYPES.get(extension.lower())
    if file_type is None:
        raise UploadRefused(
            f"“{shown}” cannot be added: only these types of file are allowed: {', '.join(ALLOWED_EXTENSIONS)}.",
            hint="Save it in one of these formats, or share it as a link.",
        )
    # Names in other scripts lose every letter to the ASCII-only cleaning: they still keep their type.
    stem = secure_filename(stem) or "file"
    extension = "." + secure_filename(extension)  # its letters as typed ("photo.JPG")
    stem = stem[: MAX_FILE_NAME_LENGTH - len(extension)]
    return stem + extension, file_type


def max_bytes_for(file_type: FileType) -> int:
    config = current_app.config
    return config["UPLOAD_MAX_BYTES_VIDEO"] if file_type.is_media else config["UPLOAD_MAX_BYTES_OTHER"]


def check_content(file_name: str, file_type: FileType, head: bytes) -> None:
    """Refuse an empty file, or content that is not what the name promises."""
    if not head:
        raise UploadRefused(f"“{file_name}” is empty.", hint="Choose the file again; it may not have finished saving.")
    if file_type.matches(head):
        return
    looks_like = describe_content(head)
    reason = f"its content looks like {looks_like}" if looks_like else "its content does not match its name"
    raise UploadRefused(f"“{file_name}” is not {file_type.label}: {reason}.",
                        hint="Check that you chose the right file, or save it again in an allowed format.")


def _too_large(file_name: str, file_type: FileType, limit: int) -> UploadTooLarge:
    kind = "video and audio files" if file_type.is_media else "documents and images"
    return UploadTooLarge(f"“{file_name}” is larger than {format_size(limit)}, the limit for {kind}.",
                          hint="Make the file smaller, or share it as a link.")


def check_declared_size(raw_name: str | None, declared_size: int | None) -> tuple[str, FileType]:
    """Refuse before reading when the announced size is already over the limit; the clean name and its type."""
    file_name, file_type = clean_file_name(raw_name)
    limit = max_bytes_for(file_type)
    if declared_size is not None and declared_size > limit:
        raise _too_large(file_name, file_type, limit)
    return file_name, file_type


def largest_allowed() -> int:
    config = current_app.config
    return max(config["UPLOAD_MAX_BYTES_VIDEO"], config["UPLOAD_MAX_BYTES_OTHER"])


@dataclass(frozen=True)
class Upload:
    """A checked file, kept in storage: what `services.add_file_artifact` records."""

    stored: StoredFile
    file_name: str
    content_type: str


def store_upload(stream: BinaryIO, raw_name: str | None, *, declared_size: int | None = None) -> Upload:
    """Check the name, stream the content into storage (checking its first chunk and its size as it goes)."""
    file_name, file_type = check_declared_size(raw_name, declared_size)
    limit = max_bytes_for(file_type)
    try:
        stored = storage().save(stream, max_bytes=limit,
                                first_chunk_check=lambda head: check_content(file_name, file_type, head))
    except FileTooLarge:
        raise _too_large(file_name, file_type, limit) from None
    return Upload(stored=stored, file_name=file_name, content_type=file_type.content_type)


# -- a file part of a multipart form, limited while it is parsed ------------------------------------------
SPOOL_IN_MEMORY = 512 * 1024  # a form's file part moves from memory to a temporary file beyond this


class LimitedSpool(SpooledTemporaryFile):
    """Where the form parser writes a file part: refused (413) as soon as it passes the limit for its name.

    Without it, a form's file is spooled to disk in full (up to the largest limit, the video one) before
    its own limit is checked: a 900 MB “.pdf” would be written out only to be refused at 50 MiB.

    A refused part (past its limit, or a name outside the allow-list) is not written any further, but the parser
    goes on reading the form for up to `SKIP_AFTER_REFUSAL` more bytes, dropping them: the fields after the file
    (the text the person typed, sent along by the page's form without JavaScript) still arrive, so the refusal
    page can hand them back. Those bytes would be read and dropped after the answer anyway (a browser shows an
    answer only once its body is read); beyond them the refusal is raised while parsing, as before.
    """

    def __init__(self, file_name: str, file_type: FileType, limit: int, refusal: UploadRefused | None = None):
        super().__init__(max_size=SPOOL_IN_MEMORY, mode="w+b")
        self.file_name, self.file_type, self.limit = file_name, file_type, limit
        self.received = 0  # bytes of the part taken in before it was refused
        self.dropped = 0  # bytes read and dropped after the refusal
        self.refusal = refusal
        if refusal is not None:
            self.close()

    def write(self, data) -> int:
        if self.refusal is not None:
            self.dropped += len(data)
            if self.dropped > SKIP_AFTER_REFUSAL:
                raise self.refusal
            return len(data)
        self.received += len(data)
        if self.received > self.limit:
            self.refusal = _too_large(self.file_name, self.file_type, self.limit)
            self.close()  # the temporary file goes at once; nothing more is written
            return len(data)
        return super().write(data)

    def seek(self, *args) -> int:
        return 0 if self.refusal is not None else super().seek(*args)


SKIP_AFTER_REFUSAL = 64 * 1024 * 1024  # as artifact_views.DRAIN_LIMIT: what a refused upload is read for anyway


def refusal_of(stream) -> UploadRefused | None:
    """Why a form's file part was refused while the form was parsed (None: it was not)."""
    return getattr(stream, "refusal", None)


def form_file_stream(*, total_content_length: int | None = None, content_type: str | None = None,
                     filename: str | None = None, content_length: int | None = None) -> LimitedSpool:
    """A Werkzeug `stream_factory` for upload forms: a name outside the allow-list is refused before its content
    (the content is dropped unread into any file; the view raises the refusal once the rest of the form is read)."""
    if not (filename or "").strip():
        # No file chosen: browsers send an empty part, and the view asks for a file. Anything in it is held to
        # the documents' limit.
        return LimitedSpool("The file", PDF, max_bytes_for(PDF))
    try:
        file_name, file_type = check_declared_size(filename, content_length or None)
    except UploadRefused as refusal:
        return LimitedSpool(filename, PDF, 0, refusal=refusal)
    return LimitedSpool(file_name, file_type, max_bytes_for(file_type))
