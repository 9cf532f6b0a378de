"""Deep Linking 2.0 responses: place a micro-credential as an LTI resource link with its line item."""

from __future__ import annotations

from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem as LibLineItem

from lti_tool.core.errors import InvalidInput, LaunchError
from lti_tool.lti import claims as c
from lti_tool.lti.ags import LINE_ITEM_TAG, SCORE_MAXIMUM
from lti_tool.lti.launch import restore_launch
from lti_tool.lti.return_urls import web_address
from lti_tool.lti.services import MICROCREDENTIAL_PARAMETER

RESOURCE_LINK_TYPE = "ltiResourceLink"
# Submission Review 1.0 §3.1: the gradebook offers "review" once a score says the work was submitted or completed.
REVIEWABLE_STATUS = ("Submitted", "Completed")


def submission_review_for(launch_url: str) -> dict:
    """The `submissionReview` of a line item the tool creates (Submission Review 1.0 §3.1): which statuses can be
    reviewed, and where the platform sends the `LtiSubmissionReviewRequest` (the tool's launch URL)."""
    return {"reviewableStatus": list(REVIEWABLE_STATUS), "url": launch_url}


def resource_for(microcredential, launch_url: str) -> DeepLinkResource:
    """An `ltiResourceLink` content item (Deep Linking 2.0 §3.4.4) bound by its custom parameter, with a line item
    out of `SCORE_MAXIMUM` (100): the column then reads as a percentage, Earned = 100 (see `ags.SCORE_MAXIMUM`)."""
    line_item = (
        LibLineItem()
        .set_score_maximum(SCORE_MAXIMUM)
        .set_label(microcredential.title)
        .set_resource_id(microcredential.slug)
        .set_tag(LINE_ITEM_TAG)
        .set_submission_review(list(REVIEWABLE_STATUS), url=launch_url)
    )
    return (
        DeepLinkResource()
        .set_url(launch_url)
        .set_title(microcredential.title)
        .set_custom_params({MICROCREDENTIAL_PARAMETER: microcredential.slug})
        .set_lineitem(line_item)
    )


def deep_linking_settings(launch_id: str) -> dict:
    """The settings of the deep linking request behind this launch (Deep Linking 2.0 §4.4.1), or a clear error."""
    message_launch = restore_launch(launch_id)
    if message_launch is None:
        raise LaunchError("The deep linking request has expired.", hint="Start adding the activity again.")
    settings = message_launch.get_launch_data().get(c.DEEP_LINKING_SETTINGS)
    if not settings:
        raise InvalidInput("This page is for adding an activity (a deep linking request), and this launch is not one.",
                           hint="Use your LMS's “add an activity” to place a micro-credential.")
    if RESOURCE_LINK_TYPE not in (settings.get("accept_types") or []):
        raise InvalidInput("Your LMS did not ask for an activity link here, so a micro-credential cannot be placed.",
                           hint="Add the tool as an activity (assignment) in your course instead.")
    # A form target, not a link: the signed settings of a validated launch name it (on Canvas, another host than
    # the issuer), so only its shape is held to the rule of `return_urls`; checked before anything is picked.
    if web_address(settings.get("deep_link_return_url")) is None:
        raise LaunchError("The LMS gave no web address to send the chosen micro-credential back to "
                          "(deep_link_return_url).", hint="Ask your LMS administrator to check the tool's placement.")
    return settings


def response_for(launch_id: str, microcredential, launch_url: str) -> tuple[str, str]:
    """The signed LtiDeepLinkingResponse (Deep Linking 2.0 §4.2) and the URL it is posted back to."""
    settings = deep_linking_settings(launch_id)
    deep_link = restore_launch(launch_id).get_deep_link()
    message = deep_link.get_message_jwt([resource_for(microcredential, launch_url)])
    if settings.get("data") is None:
        message.pop(c.DEEP_LINKING_DATA, None)  # §4.2.2: data is echoed only when the platform sent it
    return settings["deep_link_return_url"], deep_link.encode_jwt(message)
