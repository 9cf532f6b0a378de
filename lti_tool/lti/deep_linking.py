"""Deep Linking 2.0 responses: place a micro-credential as an LTI resource link with its line item."""

from __future__ import annotations

from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.lineitem import LineItem as LibLineItem

from lti_tool.lti.ags import LINE_ITEM_TAG, SCORE_MAXIMUM
from lti_tool.lti.services import MICROCREDENTIAL_PARAMETER


def resource_for(microcredential, launch_url: str) -> DeepLinkResource:
    """An `ltiResourceLink` content item (Deep Linking 2.0 §3.4.4) bound by its custom parameter."""
    line_item = (
        LibLineItem()
        .set_score_maximum(SCORE_MAXIMUM)
        .set_label(microcredential.title)
        .set_resource_id(microcredential.slug)
        .set_tag(LINE_ITEM_TAG)
    )
    return (
        DeepLinkResource()
        .set_url(launch_url)
        .set_title(microcredential.title)
        .set_custom_params({MICROCREDENTIAL_PARAMETER: microcredential.slug})
        .set_lineitem(line_item)
    )
