"""Names and Role Provisioning Services 2.0 client: the full roster of a context.

pylti1p3's NRPS lower-cases `Link` headers, which breaks platforms with case-sensitive page URLs, so this
client follows `rel="next"` itself (NRPS 2.0 §2.4.1 "Limit query parameter").
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from lti_tool.lti.access_tokens import SCOPE_MEMBERSHIPS, ServiceError, next_page_url, service_request
from lti_tool.lti.models import Registration

MEMBERSHIP_CONTAINER = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
MAX_PAGES = 1000


def read_memberships(
    registration: Registration, memberships_url: str, *, role: str | None = None, limit: int | None = None
) -> dict:
    """The whole membership container across pages: {"id", "context", "members": [...]}."""
    query = urlencode({k: v for k, v in (("role", role), ("limit", limit)) if v is not None})
    parts = urlsplit(memberships_url)
    url = urlunsplit(parts._replace(query="&".join(q for q in (parts.query, query) if q)))
    what = f"Reading the roster at {memberships_url}"
    container: dict = {"members": []}
    seen: set[str] = set()
    while url and url not in seen and len(seen) < MAX_PAGES:
        seen.add(url)
        response = service_request(
            registration, (SCOPE_MEMBERSHIPS,), "GET", url, what=what, headers={"Accept": MEMBERSHIP_CONTAINER}
        )
        try:
            page = response.json()
        except ValueError:
            raise ServiceError(f"{what}: the answer is not JSON", status=response.status_code) from None
        if not isinstance(page, dict) or not isinstance(page.get("members"), list):
            raise ServiceError(f"{what}: the answer holds no members", status=response.status_code)
        container.setdefault("id", page.get("id"))
        if page.get("context"):
            container["context"] = page["context"]
        container["members"].extend(page["members"])
        url = next_page_url(response)
    return container


def read_roster(registration: Registration, memberships_url: str) -> list[dict]:
    """Every member of the context, each once (a member seen on two pages keeps their last entry)."""
    members: dict[str, dict] = {}
    for member in read_memberships(registration, memberships_url)["members"]:
        if member.get("user_id"):
            members[member["user_id"]] = member
    return list(members.values())
