"""Where uploaded files live, behind one small interface (local disk now; S3-compatible later)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Filled in by the storage work."""
