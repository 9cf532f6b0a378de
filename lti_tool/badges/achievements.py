"""What a micro-credential is as a badge: its issuer, image, criteria and alignment, shared by OB 2.0 and 3.0."""

from __future__ import annotations

from lti_tool.badges import urls
from lti_tool.catalog.models import IssuerProfile, MicroCredential
from lti_tool.catalog.services import get_issuer_profile
from lti_tool.core import addresses
from lti_tool.core.urls import site_url


def issuer_of(microcredential: MicroCredential) -> IssuerProfile:
    """The profile that issues this micro-credential's badges (the catalog's issuer when none was chosen)."""
    profile = microcredential.issuer_profile or get_issuer_profile()
    if profile is None:
        raise LookupError("No issuer profile: load the catalog or add one on the admin's Issuers page")
    return profile


def description_of(microcredential: MicroCredential) -> str:
    return (microcredential.description or microcredential.competency or microcredential.title).strip()


def criteria_narrative(microcredential: MicroCredential) -> str:
    """How it is earned, in words: the earning rule and the rubric's criteria at the required level."""
    required = microcredential.required_level
    lines = [microcredential.earning_rule.strip() or "Earned with a three-part submission assessed on a rubric."]
    if required is not None and microcredential.criteria:
        lines.append(f"Every criterion is assessed at *{required.label}* or above:")
        lines.extend(f"- {criterion.title}" for criterion in microcredential.criteria)
    return "\n".join(lines)


def criteria_url(microcredential: MicroCredential) -> str:
    """The public page that states the criteria (no login)."""
    return urls.criteria(microcredential.slug)


def image_url(microcredential: MicroCredential, fmt: str = "png") -> str:
    return urls.achievement_image(microcredential.slug, fmt)


def issuer_image_url(profile: IssuerProfile) -> str | None:
    """The issuer's logo as an absolute URL, when it has one a verifier can load."""
    image = (profile.image or "").strip()
    if addresses.is_web_address(image):
        return image
    if addresses.is_image_address(image):  # a path on this site
        return site_url(image)
    return None
