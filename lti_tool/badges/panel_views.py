"""The earner's badge panel inside the LMS (`/my-badges/`), and the email confirmation link opened from a mailbox.

Inside the LMS every page and form carries the launch reference `ltik` (in links for GET, in the form body for
POST, where it doubles as the CSRF token), as the submission pages do; a person only ever sees their own badges.
The confirmation link (`/my-badges/confirm?token=…`) is opened outside the LMS, with no launch: the token is the
only credential, single use and short-lived, and only its POST acts (mail scanners follow links). It travels in the
query string and the form body, never in the path, so that no log line carries it (logs name a path only); links
mailed before it moved (`/my-badges/confirm/<token>`) keep working for their 24 hours and are cut out of the logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, g, redirect, render_template, request, url_for
from werkzeug.routing import BuildError
from werkzeug.utils import secure_filename

from lti_tool.badges import artwork, earners, presentation, urls, verification
from lti_tool.badges import mail as badge_mail
from lti_tool.badges.earners import ConfirmationExpired, ConfirmationUsed
from lti_tool.badges.models import Badge, DisplayName
from lti_tool.core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from lti_tool.core.models import utcnow
from lti_tool.extensions import db
from lti_tool.lti.launch_context import current_launch

bp = Blueprint("badge_panel", __name__, url_prefix="/my-badges")

# Notices shown after a redirect: chosen from this list by key, never text taken from the URL.
NOTICES = {
    "confirmation-sent": "We sent you an email with a link: open it to issue your badge.",
    "name-saved": "Saved: the public pages of this badge show the name you chose.",
    "public": "Your public badges page is visible to anyone who has its address.",
    "private": "Your public badges page is private again: its address shows nothing.",
}
DISPLAY_NAME_LABELS = {
    DisplayName.FULL: "Full name",
    DisplayName.INITIALS: "First name and initial",
    DisplayName.HIDDEN: "No name",
}


@bp.app_template_global()
def badge_of_attempt(attempt) -> Badge | None:
    """The badge the shown attempt earned, for the submission page's "Your badge" block (the launched person's own
    only: a reviewer looking at someone's work is not shown a link to their own panel)."""
    from lti_tool.assessment.models import Assessment

    launch = g.get("lti_launch")
    if attempt is None or launch is None:
        return None
    badge = db.session.scalar(db.select(Badge).join(Assessment, Assessment.id == Badge.assessment_id)
                              .where(Assessment.attempt_id == attempt.id))
    return badge if badge is not None and badge.user_id == launch.user_id else None


# -- the panel ------------------------------------------------------------------------------------------------
@dataclass
class Card:
    """What one badge's card shows."""

    badge: Badge
    title: str
    issuer: str
    issued_on: str
    status: str
    state: str  # valid | revoked | expired | invalid | awaiting
    verify_url: str | None = None
    image_url: str | None = None
    downloads: list[tuple[str, str, str]] | None = None  # (label, url, what it is)
    embed: str | None = None
    image_link: str | None = None
    linkedin_url: str | None = None
    share_links: list[tuple[str, str]] | None = None
    name_choices: list[tuple[str, str]] | None = None  # (value, label with what it shows)
    sent_to: str = ""  # the badge's address, masked


def _card(badge: Badge) -> Card:
    microcredential = badge.microcredential
    card = Card(badge=badge, title=microcredential.title, issuer=badge.issuer_profile.name,
                issued_on=presentation.date_label(badge.issued_at), status="", state="awaiting")
    if badge.is_awaiting_email:
        card.status = "Waiting for your email address"
        return card
    verdict = verification.verify(badge)
    card.state, card.status = verdict.state, presentation.status_line(badge, verdict)
    card.verify_url = urls.verification(badge.uuid)
    card.image_url = url_for("badges.baked_image", badge_uuid=badge.uuid, fmt="png")
    card.name_choices = [(choice.value, _choice_label(choice, badge.earner_name)) for choice in DisplayName]
    if badge.is_revoked:
        return card  # nothing to share or download: every verifier is told it was revoked
    card.downloads = [
        ("Badge image (PNG)", presentation.download_url(badge, "png"), "the image with the badge baked in"),
        ("Badge image (SVG)", presentation.download_url(badge, "svg"), "the same, as a scalable image"),
        ("Open Badges 3.0 credential (.jwt)", presentation.download_url(badge, "jwt"), "a signed credential"),
        ("Open Badges 2.0 assertion (.json)", presentation.download_url(badge, "json"), "for badge backpacks"),
        ("Record of completion (PDF)", url_for("badge_panel.record_pdf", badge_uuid=badge.uuid, ltik=g.ltik),
         "printable, with the in-service hours"),
    ]
    card.sent_to = earners.mask_email(badge.recipient_email)
    card.embed = presentation.embed_snippet(badge)
    card.image_link = presentation.image_link_snippet(badge)
    card.linkedin_url = presentation.linkedin_add_to_profile_url(badge)
    card.share_links = presentation.share_links(badge)
    return card


def _choice_label(choice: DisplayName, earner_name: str | None) -> str:
    shown = presentation.name_for(choice, earner_name)
    label = DISPLAY_NAME_LABELS[choice]
    return f"{label} ({shown})" if shown else label


def _public_page_url(profile) -> str | None:
    if profile is None:
        return None
    try:
        return presentation.earner_page_url(profile)
    except BuildError:  # the public pages may not be mounted
        return None


def _panel(*, status: int = 200, error=None, email_error: str | None = None, email_value: str | None = None,
           notice: str | None = None):
    launch = current_launch()
    user = launch.user
    badges = earners.badges_of(user.id)
    profile = earners.find_profile(user.id)
    pending = earners.pending_confirmation(user.id)
    return render_template(
        "badges/panel.html", user=user, course=launch.context, cards=[_card(b) for b in badges],
        awaiting=[b for b in badges if b.is_awaiting_email], profile=profile,
        public_url=_public_page_url(profile), pending=pending,
        pending_to=earners.mask_email(pending.email) if pending else None,
        notice=notice, error=error, email_error=email_error, email_value=email_value,
        home_url=url_for("lti.home", ltik=g.ltik) if launch.resource_link_id else None,
        catalog_url=url_for("catalog.index", ltik=g.ltik),
    ), status


@bp.get("/")
def panel():
    """Every badge of the launched person, newest first, with what they can do with each."""
    current_launch()
    notice = NOTICES.get(request.args.get("notice", ""))
    if request.args.get("notice") == "emailed":
        notice = _emailed_notice(request.args.get("badge", ""))
    return _panel(notice=notice)


def _emailed_notice(badge_uuid: str) -> str:
    try:
        badge = earners.own_badge(current_launch().user_id, badge_uuid)
    except NotFound:
        return "Sent."
    return (f"Sent to {earners.mask_email(badge.recipient_email)}: the badge image and the record of completion "
            "are attached. It may take a few minutes to arrive.")


def _back_to_panel(notice: str, **values):
    return redirect(url_for("badge_panel.panel", ltik=g.ltik, notice=notice, **values), code=303)


@bp.post("/<badge_uuid>/email")
def email_me(badge_uuid: str):
    """"Email it to me": the issue email again, with the baked image and the record of completion."""
    launch = current_launch()
    badge = earners.own_badge(launch.user_id, badge_uuid)
    try:
        earners.email_to_self(badge, launch.user_id)
    except (TooManyRequests, Conflict) as error:
        db.session.rollback()
        return _panel(status=error.status, error=error)
    return _back_to_panel("emailed", badge=badge.uuid, _anchor=f"badge-{badge.uuid}")


@bp.post("/<badge_uuid>/display-name")
def display_name(badge_uuid: str):
    """The name the badge's public pages show: full, initials or none."""
    launch = current_launch()
    badge = earners.own_badge(launch.user_id, badge_uuid)
    try:
        earners.set_display_name(badge, request.form.get("display_name", ""), launch.user_id)
    except InvalidInput as error:
        db.session.rollback()
        return _panel(status=error.status, error=error)
    return _back_to_panel("name-saved", _anchor=f"badge-{badge.uuid}")


@bp.post("/public")
def public_page():
    """Make the earner's public badges page visible, or private again."""
    launch = current_launch()
    make_public = request.form.get("public") == "1"
    earners.set_public(launch.user, make_public)
    return _back_to_panel("public" if make_public else "private", _anchor="public-page")


@bp.get("/<badge_uuid>/record.pdf")
def record_pdf(badge_uuid: str):
    """The printable record of completion, for the badge's owner only (as a download)."""
    launch = current_launch()
    badge = earners.own_badge(launch.user_id, badge_uuid)
    if not badge.is_issued:
        raise NotFound("This badge has no record of completion: it is not issued, or it was revoked.")
    pdf = badge_mail.record_pdf(badge, urls.verification(badge.uuid), artwork.baked_png(badge))
    name = secure_filename(f"{badge.microcredential.slug}-record-of-completion.pdf") or "record-of-completion.pdf"
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"})


# -- proving an email address ---------------------------------------------------------------------------------
@bp.post("/email")
def request_confirmation():
    """Send a confirmation link to the address typed (a refused address comes back with what was typed)."""
    launch = current_launch()
    typed = request.form.get("email", "")
    try:
        earners.start_confirmation(launch.user, typed)
    except InvalidInput as error:
        db.session.rollback()
        return _panel(status=error.status, email_error=error.message, email_value=typed[:500])
    except (TooManyRequests, Conflict) as error:
        db.session.rollback()
        return _panel(status=error.status, error=error, email_value=typed[:500])
    return _back_to_panel("confirmation-sent", _anchor="confirm-email")


def _confirm_page(status: int = 200, **context):
    """Only the page right after a successful POST lists badges (the person who just confirmed, in that request);
    a used, expired or unknown link shows nothing of anybody: whoever holds the link sees it."""
    response = Response(render_template("badges/confirm_email.html", **context), status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/confirm")
def confirm_email(token: str | None = None):
    """The link from the email: a page with a button (opening the link alone changes nothing)."""
    token = token or request.args.get("token", "")
    try:
        confirmation = earners.confirmation_of(token, now=utcnow())
    except (NotFound, ConfirmationUsed, ConfirmationExpired) as error:
        return _confirm_page(error.status, error=error, state=_state_of(error))
    return _confirm_page(email=confirmation.email, state="ask", token=token)


@bp.post("/confirm")
def confirm_email_post(token: str | None = None):
    """Confirm the address and issue the badges that waited for it (the token in the form's body)."""
    token = token or request.form.get("token") or request.args.get("token", "")
    try:
        confirmed = earners.confirm(token)
    except (NotFound, ConfirmationUsed, ConfirmationExpired) as error:
        db.session.rollback()
        return _confirm_page(error.status, error=error, state=_state_of(error))
    return _confirm_page(email=confirmed.email, state="done",
                         issued=[(b.microcredential.title, urls.verification(b.uuid)) for b in confirmed.issued])


# Links mailed before the token moved to the query string (valid 24 hours): the same pages.
bp.add_url_rule("/confirm/<token>", "confirm_email_mailed_before", confirm_email, methods=["GET"])
bp.add_url_rule("/confirm/<token>", "confirm_email_post_mailed_before", confirm_email_post, methods=["POST"])


def _state_of(error) -> str:
    if isinstance(error, ConfirmationUsed):
        return "used"
    if isinstance(error, ConfirmationExpired):
        return "expired"
    return "unknown"
