"""How an email leaves the tool: SMTP (production), or an `.eml` file in `<instance>/mail` (development, tests).

Every failure becomes a `DeliveryError` that says whether trying again later can help (`permanent=False`: the
server is down, slow, busy or misconfigured) or not (`permanent=True`: the server refused this message or its
recipient for good, SMTP 5xx on RCPT or DATA). The outbox retries the first kind and fails the second.
"""

from __future__ import annotations

import os
import re
import secrets
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from flask import Flask

FOLDER_NAME = "mail"
# `<UTC timestamp>-<id>.eml`: names sort by time; the demo pages accept nothing else (no path ever built from input).
FILE_NAME = re.compile(r"\d{8}T\d{12}Z-[0-9a-z]{1,32}\.eml")
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
SIZE_TOO_LARGE = 552  # RFC 5321 §4.5.3.1.10: the message exceeds the server's limit, answered at MAIL FROM


class DeliveryError(Exception):
    """An email was not delivered; `permanent` when sending it again cannot succeed without a change."""

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code


def mail_folder(app: Flask) -> Path:
    """Where the file backend writes (and the demo reads) messages."""
    return Path(app.instance_path) / FOLDER_NAME


def send(app: Flask, message: EmailMessage, *, mail_id: int | str | None = None) -> None:
    """Deliver one message with the configured MAIL_BACKEND; raises `DeliveryError`.

    `mail_id` (the outbox row) only names the file of the file backend.
    """
    backend = app.config["MAIL_BACKEND"]
    if backend == "file":
        _write_file(app, message, mail_id)
    elif backend == "smtp":
        _send_smtp(app, message)
    else:
        raise DeliveryError(f"Unknown MAIL_BACKEND {backend!r}: choose 'smtp' or 'file'.")


def _write_file(app: Flask, message: EmailMessage, mail_id: int | str | None) -> None:
    """Write the message whole or not at all: a temporary file renamed into place (atomic on one filesystem)."""
    folder = mail_folder(app)
    name = f"{datetime.now(UTC).strftime(TIMESTAMP_FORMAT)}-{mail_id if mail_id is not None else secrets.token_hex(4)}"
    final = folder / f"{name}.eml"
    temporary = folder / f".{name}.{secrets.token_hex(4)}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        data = message.as_bytes()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)  # may hold personal data
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise DeliveryError(f"The email could not be written to {folder}: {error}") from error


def _tls_context(app: Flask) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not app.config["MAIL_SMTP_TLS_VERIFY"]:  # a test server with a self-signed certificate, never production
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _send_smtp(app: Flask, message: EmailMessage) -> None:
    config = app.config
    host, port = config["MAIL_SMTP_HOST"], int(config["MAIL_SMTP_PORT"])
    username = config.get("MAIL_SMTP_USERNAME")
    try:
        with smtplib.SMTP(host, port, timeout=float(config["MAIL_SMTP_TIMEOUT"])) as smtp:
            if config["MAIL_SMTP_STARTTLS"]:
                # Never falls back to plain text: a server without STARTTLS raises SMTPNotSupportedError.
                smtp.starttls(context=_tls_context(app))
            if username:
                smtp.login(username, config.get("MAIL_SMTP_PASSWORD") or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPException as error:
        raise _classify(error, host, port) from error
    except ssl.SSLError as error:
        raise DeliveryError(f"TLS with the mail server {host}:{port} failed: {error}") from error
    except OSError as error:  # refused, unreachable, timed out
        raise DeliveryError(f"The mail server {host}:{port} could not be reached: {error}") from error
    if refused:  # some recipients were accepted: the message went out
        app.logger.warning("mail: some recipients were refused: %s", _describe_refusals(refused))


def _text(response) -> str:
    return response.decode("utf-8", "replace") if isinstance(response, bytes) else str(response)


def _describe_refusals(recipients: dict) -> str:
    return "; ".join(f"{address}: {code} {_text(response)}" for address, (code, response) in recipients.items())


def _classify(error: smtplib.SMTPException, host: str, port: int) -> DeliveryError:
    """SMTP 5xx on a recipient or the message itself is final (RFC 5321 §4.2.1); everything else may pass later."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        return DeliveryError(f"The mail server refused the recipient: {_describe_refusals(error.recipients)}",
                             permanent=permanent, code=codes[0] if codes else None)
    if isinstance(error, smtplib.SMTPDataError):
        return DeliveryError(f"The mail server refused the message: {error.smtp_code} {_text(error.smtp_error)}",
                             permanent=500 <= error.smtp_code < 600, code=error.smtp_code)
    if isinstance(error, smtplib.SMTPSenderRefused):
        # Only "too large" belongs to this message; any other refusal of MAIL_FROM is the tool's setting, and
        # every message waits until it is corrected.
        return DeliveryError(
            f"The mail server refused the sender {error.sender}: {error.smtp_code} {_text(error.smtp_error)}"
            + ("" if error.smtp_code == SIZE_TOO_LARGE else " (check MAIL_FROM)"),
            permanent=error.smtp_code == SIZE_TOO_LARGE, code=error.smtp_code)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"The mail server {host}:{port} refused the login: {error.smtp_code} {_text(error.smtp_error)} "
            "(check MAIL_SMTP_USERNAME and MAIL_SMTP_PASSWORD)", code=error.smtp_code)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        # An internationalized address the server cannot take is this message's problem; a missing STARTTLS or
        # AUTH is the server's configuration.
        return DeliveryError(f"The mail server {host}:{port} does not support what is needed: {error}",
                             permanent="SMTPUTF8" in str(error))
    if isinstance(error, smtplib.SMTPResponseException):
        return DeliveryError(f"The mail server {host}:{port} answered {error.smtp_code} {_text(error.smtp_error)}",
                             code=error.smtp_code)
    return DeliveryError(f"The mail server {host}:{port} failed: {error}")
