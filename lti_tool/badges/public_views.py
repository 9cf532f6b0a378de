"""What anyone may read without a login: the badges' documents (as verifiers fetch them), images, downloads,
the verification page, the criteria page, the issuer's page and an earner's public page.

Addresses are in `badges.urls`. JSON-LD documents are `application/ld+json` and readable from any origin
(CORS), as browser-based verifiers need; the VC-JWTs are `application/vc+jwt`.
"""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy.orm import joinedload, selectinload

from lti_tool.assessment.services import assessment_released
from lti_tool.badges import artwork, ob2, ob3, presentation, queries, status_list, verification
from lti_tool.badges.issuing import on_assessment_released
from lti_tool.badges.models import Badge
from lti_tool.catalog.models import IssuerProfile, MicroCredential
from lti_tool.core.errors import Gone, NotFound
from lti_tool.core.keys import key_store
from lti_tool.core.responses import ANY_SITE, allow_framing_by
from lti_tool.extensions import db

bp = Blueprint("badges", __name__)

LD_JSON = "application/ld+json"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DOCUMENT_MAX_AGE = 300  # seconds a verifier may cache a document that rarely changes
STATUS_MAX_AGE = 60  # a revocation reaches every verifier within a minute


@bp.record_once
def _connect(state) -> None:
    """At app start: an *Earned* release earns a badge; the badge emails have their renderers; the instructor's
    progress view reads each educator's badge (through a hook: `submissions` cannot import `badges`)."""
    from lti_tool.badges import mail as badge_mail

    assessment_released.connect(on_assessment_released)
    badge_mail.register()
    queries.init_app(state.app)


@bp.after_request
def _open_to_verifiers(response: Response) -> Response:
    if response.mimetype in (LD_JSON, ob3.MEDIA_TYPE, "application/jwk+json", "application/json"):
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _document(data: dict, status: int = 200, *, max_age: int = DOCUMENT_MAX_AGE) -> Response:
    response = Response(json.dumps(data, indent=2, ensure_ascii=False), status=status, mimetype=LD_JSON)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


def public_badge(badge_uuid: str) -> Badge:
    """An issued or revoked badge (one waiting for its earner's email does not exist to the public yet)."""
    badge = None
    if UUID.match(badge_uuid or ""):
        badge = db.session.scalar(db.select(Badge).where(Badge.uuid == badge_uuid).options(
            joinedload(Badge.issuer_profile), joinedload(Badge.microcredential).options(
                selectinload(MicroCredential.criteria), selectinload(MicroCredential.levels))))
    if badge is None or badge.is_awaiting_email:
        raise NotFound("There is no such badge.")
    return badge


def _issuer(issuer_id: int) -> IssuerProfile:
    profile = db.session.get(IssuerProfile, issuer_id)
    if profile is None:
        raise NotFound("There is no such issuer.")
    return profile


def _microcredential(slug: str) -> MicroCredential:
    microcredential = db.session.scalar(db.select(MicroCredential).where(MicroCredential.slug == slug))
    if microcredential is None:
        raise NotFound("There is no such micro-credential.")
    return microcredential


def _issued_by(issuer_id: int, slug: str) -> tuple[IssuerProfile, MicroCredential]:
    """An issuer and a micro-credential it issues now or issued a badge of once; else 404."""
    profile, microcredential = _issuer(issuer_id), _microcredential(slug)
    if microcredential.issuer_profile_id != profile.id and not queries.has_issued(profile.id, microcredential.id):
        raise NotFound("This issuer does not issue that micro-credential.")
    return profile, microcredential


# -- Open Badges 2.0 ------------------------------------------------------------------------------------------
@bp.get("/ob/v2/assertions/<badge_uuid>")
def assertion_v2(badge_uuid: str):
    badge = public_badge(badge_uuid)
    if badge.is_revoked:
        return _document(ob2.revoked_assertion(badge), 410, max_age=STATUS_MAX_AGE)
    return _document(badge.assertion, max_age=STATUS_MAX_AGE)


@bp.get("/ob/v2/issuers/<int:issuer_id>/badgeclasses/<slug>")
def badgeclass_v2(issuer_id: int, slug: str):
    profile, microcredential = _issued_by(issuer_id, slug)
    return _document(ob2.badgeclass(microcredential, profile))


@bp.get("/ob/v2/issuers/<int:issuer_id>")
def issuer_v2(issuer_id: int):
    return _document(ob2.issuer(_issuer(issuer_id)))


@bp.get("/ob/v2/issuers/<int:issuer_id>/revocations")
def revocations_v2(issuer_id: int):
    return _document(ob2.revocation_list(_issuer(issuer_id)), max_age=STATUS_MAX_AGE)


# -- Open Badges 3.0 ------------------------------------------------------------------------------------------
@bp.get("/ob/v3/credentials/<badge_uuid>")
def credential_v3(badge_uuid: str):
    """The credential as issued (revocation is told by its status list, not here)."""
    badge = public_badge(badge_uuid)
    return Response(badge.credential_jwt, mimetype=ob3.MEDIA_TYPE)


@bp.get("/ob/v3/issuers/<int:issuer_id>")
def issuer_v3(issuer_id: int):
    return _document({"@context": ob3.CONTEXT, **ob3.profile(_issuer(issuer_id))})


@bp.get("/ob/v3/issuers/<int:issuer_id>/achievements/<slug>")
def achievement_v3(issuer_id: int, slug: str):
    profile, microcredential = _issued_by(issuer_id, slug)
    return _document({"@context": ob3.CONTEXT, **ob3.achievement(microcredential, profile)})


@bp.get("/ob/v3/status/<int:issuer_id>/<int:list_number>", endpoint="status_list")
def status_list_document(issuer_id: int, list_number: int):
    if list_number > 2**31:
        raise NotFound("There is no such status list.")
    response = Response(status_list.status_list_credential(_issuer(issuer_id), list_number), mimetype=ob3.MEDIA_TYPE)
    response.headers["Cache-Control"] = f"public, max-age={STATUS_MAX_AGE}"
    return response


@bp.get("/ob/keys/<kid>")
def key(kid: str):
    """Every key that ever signed a badge, retired ones included (OB 3.0: a `kid` dereferences to a JWK)."""
    tool_key = key_store().find(kid)
    if tool_key is None:
        raise NotFound("There is no such key.")
    response = Response(json.dumps(tool_key.public_jwk), mimetype="application/jwk+json")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# -- images and downloads -------------------------------------------------------------------------------------
IMAGE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"  # an SVG opened alone runs nothing


def _image_response(data: bytes, fmt: str, *, filename: str | None = None, max_age: int = 3600) -> Response:
    response = Response(data, mimetype=IMAGE_TYPES[fmt])
    if fmt == "svg":
        response.headers["Content-Security-Policy"] = SVG_POLICY
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if max_age:
        response.headers["Cache-Control"] = f"public, max-age={max_age}"
    else:  # asked again each time (an ETag makes that cheap): what it carries can change
        response.headers["Cache-Control"] = "no-cache"
        response.add_etag()
        response.make_conditional(request)
    return response


@bp.get("/badges/images/<slug>.<fmt>")
def achievement_image(slug: str, fmt: str):
    """The micro-credential's image, unbaked (the BadgeClass's and the Achievement's `image`)."""
    if fmt not in IMAGE_TYPES:
        raise NotFound("There is no such image.")
    png, svg = artwork.base_images(_microcredential(slug))
    return _image_response(png if fmt == "png" else svg.encode(), fmt)


def download_name(badge: Badge, extension: str) -> str:
    slug = badge.microcredential.slug
    return f"{slug}-badge-{badge.uuid[:8]}.{extension}"


@bp.get("/badges/<badge_uuid>/badge.<fmt>")
def baked_image(badge_uuid: str, fmt: str):
    """The baked image: the assertion and the credential travel inside it (`?download` to save it)."""
    if fmt not in IMAGE_TYPES:
        raise NotFound("There is no such image.")
    badge = public_badge(badge_uuid)
    downloading = "download" in request.args
    if downloading:
        _refuse_if_revoked(badge)
    data = artwork.baked_png(badge) if fmt == "png" else artwork.baked_svg(badge).encode()
    # Not cached: a reinstated badge carries a new credential, which a cached copy would hide.
    return _image_response(data, fmt, filename=download_name(badge, fmt) if downloading else None, max_age=0)


def _refuse_if_revoked(badge: Badge) -> None:
    """A revoked badge is not handed out again (its hosted documents still answer, as verifiers need)."""
    if badge.is_revoked:
        raise Gone("This badge was revoked by its issuer: it can no longer be downloaded.",
                   hint="Its verification page says when and why.")


@bp.get("/badges/<badge_uuid>/credential.jwt")
def credential_download(badge_uuid: str):
    badge = public_badge(badge_uuid)
    _refuse_if_revoked(badge)
    response = Response(badge.credential_jwt, mimetype=ob3.MEDIA_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(badge, "jwt")}"'
    return response


@bp.get("/badges/<badge_uuid>/assertion.json")
def assertion_download(badge_uuid: str):
    badge = public_badge(badge_uuid)
    _refuse_if_revoked(badge)
    response = Response(json.dumps(badge.assertion, indent=2, ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name(badge, "json")}"'
    return response


# -- pages ----------------------------------------------------------------------------------------------------
@bp.get("/badges/<badge_uuid>")
def verify(badge_uuid: str):
    """The public verification page: who issued what to whom and when, and the live check."""
    badge = public_badge(badge_uuid)
    verdict = verification.verify(badge)
    return render_template("badges/verify.html", badge=badge, verdict=verdict,
                           issuer=badge.issuer_profile, microcredential=badge.microcredential,
                           shown=presentation.public_facts(badge, verdict),
                           indexable=presentation.is_indexable(badge))


@bp.get("/badges/achievements/<slug>")
def criteria(slug: str):
    microcredential = _microcredential(slug)
    return render_template("badges/criteria.html", microcredential=microcredential)


@bp.get("/badges/issuers/<int:issuer_id>")
def issuer_page(issuer_id: int):
    profile = _issuer(issuer_id)
    return render_template("badges/issuer.html", issuer=profile, issued=queries.issued_count(profile.id),
                           tool_name=current_app.config["LTI_TOOL_NAME"])


# -- embedding and the earner's public page -------------------------------------------------------------------
@bp.get("/badges/<badge_uuid>/embed")
def embed(badge_uuid: str):
    """The badge's card, small and self-contained, that any site may frame (`presentation.embed_snippet`)."""
    badge = public_badge(badge_uuid)
    verdict = verification.verify(badge)
    response = Response(render_template(
        "badges/embed.html", badge=badge, issuer=badge.issuer_profile, microcredential=badge.microcredential,
        shown=presentation.public_facts(badge, verdict)))
    allow_framing_by([ANY_SITE])  # only this page: the others are framed by the launching platform at most
    response.headers["Cache-Control"] = f"public, max-age={STATUS_MAX_AGE}"
    return response


@bp.get("/earners/<public_slug>")
def earner_page(public_slug: str):
    """An earner's "my badges" page, when they made it public (an unknown and a private page answer alike)."""
    profile = presentation.public_profile(public_slug)
    if profile is None:
        raise NotFound("This page is not public.")
    badges = presentation.listed_badges(profile)
    return render_template("badges/earner.html", profile=profile, indexable=True,
                           badges=[presentation.public_facts(badge) for badge in badges],
                           earner=presentation.earner_page_name(badges))
