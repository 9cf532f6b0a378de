"""Issuer profiles as admins manage them: read the form, check it, create and change a profile, choose a
micro-credential's issuer.

Profiles are tool-wide (the catalog is shared by every platform): the views let only admins of a platform that
manages the catalog change them. A change reaches the issuer's OB 2.0 Issuer and OB 3.0 Profile documents at
once (they are built from the row when fetched); issued badges keep what they were signed with.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func

from lti_tool.badges.identity import normalise_email
from lti_tool.badges.models import Badge, BadgeStatus
from lti_tool.catalog.models import IssuerProfile, MicroCredential
from lti_tool.core.addresses import IMAGE_ADDRESS_HINT, is_email, is_image_address, is_web_address
from lti_tool.core.ids import parse_id
from lti_tool.extensions import db

FIELDS = ("name", "url", "email", "description", "image")
LIMITS = {"name": 300, "url": 1000, "email": 500, "description": 5000, "image": 500}


class IssuerProblems(Exception):
    """The form's problems by field; nothing was saved."""

    def __init__(self, problems: dict[str, str]):
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in problems.items()))
        self.problems = problems


def clean(form) -> dict[str, str | None]:
    """The profile's fields from a form (trimmed; empty optional fields as None), or IssuerProblems."""
    values = {field: (form.get(field) or "").strip() or None for field in FIELDS}
    problems: dict[str, str] = {}
    for field, limit in LIMITS.items():
        if values[field] and len(values[field]) > limit:
            problems[field] = f"At most {limit} characters (this has {len(values[field])})."
    if not values["name"]:
        problems["name"] = "Give the organization's name: verifiers and earners read it on every badge."
    if values["url"] and "url" not in problems and not is_web_address(values["url"]):
        problems["url"] = "Give a web address starting with https:// (or http://)."
    if values["email"] and "email" not in problems:
        if is_email(values["email"]):
            values["email"] = normalise_email(values["email"])
        else:
            problems["email"] = "Give an email address like badges@example.org: one “@”, no spaces."
    if values["image"] and "image" not in problems and not is_image_address(values["image"]):
        problems["image"] = f"Give {IMAGE_ADDRESS_HINT}."
    if problems:
        raise IssuerProblems(problems)
    return values


def create_profile(values: dict) -> IssuerProfile:
    """A new issuer profile from `clean` values. Flushes."""
    profile = IssuerProfile(**values)
    db.session.add(profile)
    db.session.flush()
    current_app.logger.info("issuer profile %s created: %s", profile.id, profile.name)
    return profile


def update_profile(profile: IssuerProfile, values: dict) -> bool:
    """Change a profile from `clean` values; True when anything changed. Flushes."""
    changed = [field for field in FIELDS if getattr(profile, field) != values[field]]
    for field in changed:
        setattr(profile, field, values[field])
    db.session.flush()
    if changed:
        current_app.logger.info("issuer profile %s changed: %s", profile.id, ", ".join(changed))
    return bool(changed)


def list_profiles() -> list[IssuerProfile]:
    return list(db.session.scalars(db.select(IssuerProfile).order_by(IssuerProfile.name, IssuerProfile.id)))


def profile_choice(text: str | None) -> IssuerProfile | None:
    """The profile a form chose by id (an allow-list: an unknown or malformed id is None)."""
    profile_id = parse_id(text)
    return db.session.get(IssuerProfile, profile_id) if profile_id is not None else None


def choose_issuer(microcredential: MicroCredential, profile: IssuerProfile) -> bool:
    """Badges of this micro-credential are issued by `profile` from now on (issued badges keep theirs).

    True when it changed. Flushes."""
    if microcredential.issuer_profile_id == profile.id:
        return False
    microcredential.issuer_profile = profile
    db.session.flush()
    current_app.logger.info("micro-credential %s: issued by profile %s from now on", microcredential.slug, profile.id)
    return True


def current_issuer_id(microcredential: MicroCredential | None) -> int | None:
    """Who issues this micro-credential's badges now: its choice, else the catalog's issuer (as
    `achievements.issuer_of` decides); for a new micro-credential, the catalog's issuer."""
    if microcredential is not None and microcredential.issuer_profile_id is not None:
        return microcredential.issuer_profile_id
    return _default_issuer_id()


def _default_issuer_id() -> int | None:
    """The catalog's issuer: the first profile (`catalog.services.get_issuer_profile`)."""
    return db.session.scalar(db.select(IssuerProfile.id).order_by(IssuerProfile.id).limit(1))


@dataclass(frozen=True)
class IssuerSummary:
    """A profile on the admins' list: what it issues and how many badges it issued (revoked ones counted apart)."""

    profile: IssuerProfile
    microcredentials: list[MicroCredential]
    issued: int
    revoked: int


def summaries() -> list[IssuerSummary]:
    """Every profile with its micro-credentials and badge counts: three queries whatever their number.

    A micro-credential without a chosen issuer is issued by the catalog's issuer (the first profile)."""
    profiles = list_profiles()
    default_id = _default_issuer_id()
    issues: dict[int, list[MicroCredential]] = {}
    for mc in db.session.scalars(db.select(MicroCredential).order_by(MicroCredential.position, MicroCredential.title)):
        issues.setdefault(mc.issuer_profile_id or default_id, []).append(mc)
    counts: dict[tuple[int, str], int] = {
        (issuer_id, status): count
        for issuer_id, status, count in db.session.execute(
            db.select(Badge.issuer_profile_id, Badge.status, func.count(Badge.id))
            .where(Badge.status.in_([BadgeStatus.ISSUED.value, BadgeStatus.REVOKED.value]))
            .group_by(Badge.issuer_profile_id, Badge.status))
    }
    return [
        IssuerSummary(profile=p, microcredentials=issues.get(p.id, []),
                      issued=counts.get((p.id, BadgeStatus.ISSUED.value), 0)
                      + counts.get((p.id, BadgeStatus.REVOKED.value), 0),
                      revoked=counts.get((p.id, BadgeStatus.REVOKED.value), 0))
        for p in profiles
    ]
