"""Page scripts and styles under content-hashed URLs, cached by browsers for a year.

`asset_url("js/submission.js")` gives `/assets/js/submission.<digest>.js`, where the digest is taken from the
file's bytes: a changed file gets a new URL, so the old one may be cached as immutable. A URL whose digest is not
the file's current one is a 404 (never the new bytes under an old name)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from flask import Blueprint, Flask, abort, current_app, send_file, url_for
from werkzeug.security import safe_join

IMMUTABLE = "public, max-age=31536000, immutable"
DIGEST_LENGTH = 16
_HASHED_NAME = re.compile(rf"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})(?P<suffix>\.[A-Za-z0-9]+)$")

bp = Blueprint("assets", __name__)

# path inside the static folder -> (mtime_ns, size, digest); a changed file (development) is hashed again.
_digests: dict[str, tuple[int, int, str]] = {}


def _static_file(relative: str) -> Path | None:
    """The file at a path inside the static folder, or None (outside it, missing, or not a file)."""
    joined = safe_join(current_app.static_folder, relative)
    if joined is None or not os.path.isfile(joined):
        return None
    return Path(joined)


def asset_digest(relative: str) -> str:
    """The content digest of a file under `static/` (LookupError when there is no such file)."""
    path = _static_file(relative)
    if path is None:
        raise LookupError(f"No static file {relative!r}")
    stat = path.stat()
    known = _digests.get(relative)
    if known and known[0] == stat.st_mtime_ns and known[1] == stat.st_size:
        return known[2]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:DIGEST_LENGTH]
    _digests[relative] = (stat.st_mtime_ns, stat.st_size, digest)
    return digest


def asset_url(relative: str) -> str:
    """The content-hashed URL of a file under `static/` (a Jinja global): `js/a.js` -> `/assets/js/a.<digest>.js`."""
    stem, dot, suffix = relative.rpartition(".")
    if not dot or "/" in suffix:
        raise ValueError(f"An asset needs a file extension: {relative!r}")
    return url_for("assets.asset", filename=f"{stem}.{asset_digest(relative)}.{suffix}")


@bp.get("/assets/<path:filename>")
def asset(filename: str):
    """A static file by its hashed name; 404 unless the digest is that of the file's current content."""
    match = _HASHED_NAME.match(filename)
    if match is None:
        abort(404)
    relative = match["stem"] + match["suffix"]
    path = _static_file(relative)
    if path is None or asset_digest(relative) != match["digest"]:
        abort(404)
    response = send_file(path, conditional=True, max_age=31536000)
    response.headers["Cache-Control"] = IMMUTABLE
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_global(asset_url, "asset_url")
