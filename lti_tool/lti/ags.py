"""Assignment and Grade Services 2.0 client: line items, scores, results.

Every call goes through `service_request` (cached access tokens, the one HTTP session with timeouts)
and raises `ServiceError` on failure, with `retryable` set for timeouts, 5xx and 429.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit, urlunsplit

from lti_tool.lti.access_tokens import (
    SCOPE_LINEITEM,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    ServiceError,
    next_page_url,
    service_request,
)
from lti_tool.lti.models import Registration

LINEITEM_CONTAINER = "application/vnd.ims.lis.v2.lineitemcontainer+json"
LINEITEM = "application/vnd.ims.lis.v2.lineitem+json"
SCORE = "application/vnd.ims.lis.v1.score+json"
RESULT_CONTAINER = "application/vnd.ims.lis.v2.resultcontainer+json"

# AGS 2.0 §3.4.7 and §3.4.8
ACTIVITY_PROGRESS = ("Initialized", "Started", "InProgress", "Submitted", "Completed")
GRADING_PROGRESS = ("FullyGraded", "Pending", "PendingManual", "Failed", "NotReady")

# The maximum of the line items the tool declares (deep linking) or creates: the score is the share of criteria
# met times the maximum, so Earned = 100 and Not yet = the percentage met (3 of 4 criteria: 75), a column that reads
# as a percentage in any gradebook. Line items the platform already has keep their own maximum.
SCORE_MAXIMUM = 100.0
LINE_ITEM_TAG = "microcredential"

MAX_PAGES = 1000  # a platform whose `next` links never end must not keep a worker busy forever


def _service_url(lineitem_url: str, suffix: str, query: dict | None = None) -> str:
    """<line item>/scores or /results: the suffix goes on the path, the line item's query stays (AGS 2.0 §3.4.1)."""
    parts = urlsplit(lineitem_url)
    extra = urlencode(query or {})
    combined = "&".join(q for q in (parts.query, extra) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + suffix, combined, parts.fragment))


def _with_query(url: str, query: dict) -> str:
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in query.items() if v is not None})
    combined = "&".join(q for q in (parts.query, extra) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, combined, parts.fragment))


def _json(response, what: str):
    try:
        return response.json()
    except ValueError:
        raise ServiceError(f"{what}: the answer is not JSON", status=response.status_code) from None


def _read_all_pages(registration, scopes, url: str, accept: str, what: str) -> list[dict]:
    items: list[dict] = []
    seen: set[str] = set()
    while url and url not in seen and len(seen) < MAX_PAGES:
        seen.add(url)
        response = service_request(registration, scopes, "GET", url, what=what, headers={"Accept": accept})
        page = _json(response, what)
        if not isinstance(page, list):
            raise ServiceError(f"{what}: expected a JSON array", status=response.status_code)
        items.extend(page)
        url = next_page_url(response)
    return items


def find_line_items(
    registration: Registration,
    lineitems_url: str,
    *,
    resource_link_id: str | None = None,
    resource_id: str | None = None,
    tag: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Every line item of the container matching the filters, across pages (AGS 2.0 §3.2.4)."""
    url = _with_query(
        lineitems_url, {"resource_link_id": resource_link_id, "resource_id": resource_id, "tag": tag, "limit": limit}
    )
    return _read_all_pages(
        registration, (SCOPE_LINEITEM,), url, LINEITEM_CONTAINER, f"Reading line items at {lineitems_url}"
    )


def create_line_item(registration: Registration, lineitems_url: str, line_item: dict) -> dict:
    """POST a new line item to the container; the platform's answer holds its `id` URL (AGS 2.0 §3.2.5)."""
    if not line_item.get("label") or not line_item.get("scoreMaximum") or line_item["scoreMaximum"] <= 0:
        raise ValueError("A line item needs a label and a positive scoreMaximum (AGS 2.0 §3.2.7)")
    what = f"Creating a line item at {lineitems_url}"
    response = service_request(
        registration,
        (SCOPE_LINEITEM,),
        "POST",
        lineitems_url,
        what=what,
        json=line_item,
        headers={"Content-Type": LINEITEM, "Accept": LINEITEM},
    )
    created = _json(response, what)
    if not isinstance(created, dict) or not created.get("id"):
        raise ServiceError(f"{what}: the answer holds no line item id", status=response.status_code)
    return created


def get_line_item(registration: Registration, lineitem_url: str) -> dict:
    """One line item (AGS 2.0 §3.2.6)."""
    what = f"Reading the line item {lineitem_url}"
    response = service_request(
        registration, (SCOPE_LINEITEM,), "GET", lineitem_url, what=what, headers={"Accept": LINEITEM}
    )
    return _json(response, what)


def build_score(
    user_sub: str,
    activity_progress: str,
    grading_progress: str,
    *,
    score_given: float | None = None,
    score_maximum: float | None = None,
    comment: str | None = None,
    timestamp: datetime | None = None,
) -> dict:
    """A score message, validated before it is ever queued (AGS 2.0 §3.4; pylti1p3's Grade checks nothing)."""
    if activity_progress not in ACTIVITY_PROGRESS:
        raise ValueError(f"Unknown activityProgress {activity_progress!r}")
    if grading_progress not in GRADING_PROGRESS:
        raise ValueError(f"Unknown gradingProgress {grading_progress!r}")
    score: dict = {
        "userId": user_sub,
        "activityProgress": activity_progress,
        "gradingProgress": grading_progress,
        "timestamp": (timestamp or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds"),
    }
    if score_given is not None:
        if score_given < 0:
            raise ValueError("scoreGiven must not be negative")
        if score_maximum is not None:
            if score_maximum <= 0:
                raise ValueError("scoreMaximum must be positive")
            if score_given > score_maximum:
                raise ValueError("scoreGiven must not exceed scoreMaximum")
            score["scoreMaximum"] = score_maximum
        score["scoreGiven"] = score_given
    if comment:
        score["comment"] = comment
    return score


def post_score(registration: Registration, lineitem_url: str, score: dict) -> None:
    """POST a score to <line item>/scores (AGS 2.0 §3.4)."""
    if "scoreGiven" in score and "scoreMaximum" not in score:
        raise ValueError("A score with scoreGiven needs scoreMaximum (AGS 2.0 §3.4.4)")
    service_request(
        registration,
        (SCOPE_SCORE,),
        "POST",
        _service_url(lineitem_url, "/scores"),
        what=f"Sending a score to {lineitem_url}",
        json=score,
        headers={"Content-Type": SCORE},
    )


def get_results(registration: Registration, lineitem_url: str, *, user_sub: str | None = None) -> list[dict]:
    """The results of a line item, for one user or all, across pages (AGS 2.0 §3.3)."""
    url = _service_url(lineitem_url, "/results", {"user_id": user_sub} if user_sub else None)
    return _read_all_pages(
        registration, (SCOPE_RESULT_READONLY,), url, RESULT_CONTAINER, f"Reading results of {lineitem_url}"
    )
