"""Helpers for the badge panel tests: the panel as the earner's browser reads it, and the mail folder the worker
writes to (the file backend: one .eml per message in `<instance>/mail/`)."""

from __future__ import annotations

import email
import html
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

from tests.assessment_road import origin_of


def tool_of(earned) -> str:
    return origin_of(earned.submitted.page)


def open_panel(earned, **params):
    """GET /my-badges/ in the earner's launched browser."""
    return earned.submitted.browser.get(tool_of(earned) + "/my-badges/", params={"ltik": earned.submitted.ltik,
                                                                                  **params})


def post_panel(earned, path: str, data: dict | None = None, **kwargs):
    """POST a panel form (its body carries `ltik`, as the page's forms do)."""
    return earned.submitted.browser.post(tool_of(earned) + "/my-badges" + path,
                                         data={"ltik": earned.submitted.ltik, **(data or {})}, **kwargs)


def field_value(page_html: str, field_id: str) -> str | None:
    """The value of an <input id=…> or the text of a <textarea id=…>, unescaped."""
    found = re.search(rf'<input[^>]*\bid="{re.escape(field_id)}"[^>]*\bvalue="([^"]*)"', page_html)
    if found:
        return html.unescape(found.group(1))
    found = re.search(rf'<textarea[^>]*\bid="{re.escape(field_id)}"[^>]*>(.*?)</textarea>', page_html, re.S)
    return html.unescape(found.group(1)) if found else None


def links(page_html: str) -> list[tuple[str, str, str]]:
    """Every <a>: (href unescaped, its attributes as written, its text without tags)."""
    return [(html.unescape(m.group(2)), m.group(1) + m.group(3), re.sub(r"<[^>]+>", "", m.group(4)).strip())
            for m in re.finditer(r'<a([^>]*?)\bhref="([^"]*)"([^>]*)>(.*?)</a>', page_html, re.S)]


def link_named(page_html: str, text: str) -> str:
    (href,) = [href for href, _, label in links(page_html) if label.startswith(text)]
    return href


class Mailbox:
    """The mail folder: what the worker sent since this was made."""

    def __init__(self, app):
        self.app = app
        self.seen = set(self.folder.glob("*.eml")) if self.folder.exists() else set()

    @property
    def folder(self) -> Path:
        from lti_tool.mail.transport import mail_folder

        return mail_folder(self.app)

    def deliver(self) -> list[EmailMessage]:
        """Run the mail worker until nothing is due; the messages written since the last look, oldest first."""
        from lti_tool.mail import outbox

        while outbox.run_once(self.app):
            pass
        new = sorted(set(self.folder.glob("*.eml")) - self.seen) if self.folder.exists() else []
        self.seen.update(new)
        return [email.message_from_bytes(path.read_bytes(), policy=policy.default) for path in new]


def attachments(message: EmailMessage) -> dict[str, tuple[str, bytes]]:
    """file name → (content type, bytes)."""
    return {part.get_filename(): (part.get_content_type(), part.get_content())
            for part in message.iter_attachments()}


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()
