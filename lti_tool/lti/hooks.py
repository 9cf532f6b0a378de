"""Where other packages plug into a launch, so that `lti` imports none of them.

Each package registers its callbacks once at app start (from its blueprint's `record_once` or its `init_app`).
Registries hold functions, never data: registering the same function again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from lti_tool.lti.launch_context import LaunchContext
    from lti_tool.lti.models import Context, LtiUser, ResourceLink

ResourceLinkListener = Callable[["ResourceLink", dict], None]
PlacementListener = Callable[["ResourceLink", "LtiUser"], None]
DutyProvider = Callable[["LtiUser", "Context | None", tuple[str, ...]], Iterable[str]]
LaunchHandler = Callable[["LaunchContext", str, dict], "ResponseReturnValue"]

_resource_link_listeners: list[ResourceLinkListener] = []
_placement_listeners: list[PlacementListener] = []
_duty_providers: list[DutyProvider] = []
_launch_handlers: dict[str, LaunchHandler] = {}


def on_resource_link_launch(callback: ResourceLinkListener) -> ResourceLinkListener:
    """Call `callback(resource_link, body)` for every launch that names a resource link, before it is flushed."""
    if callback not in _resource_link_listeners:
        _resource_link_listeners.append(callback)
    return callback


def resource_link_launched(resource_link: ResourceLink, body: dict) -> None:
    """Tell every listener that a validated launch named this resource link."""
    for callback in _resource_link_listeners:
        callback(resource_link, body)


def on_first_launch_from(callback: PlacementListener) -> PlacementListener:
    """Call `callback(resource_link, user)` the first time a person launches from a resource link."""
    if callback not in _placement_listeners:
        _placement_listeners.append(callback)
    return callback


def first_launch_from(resource_link: ResourceLink, user: LtiUser) -> None:
    """Tell every listener that this person opened this resource link for the first time (it is flushed)."""
    for callback in _placement_listeners:
        callback(resource_link, user)


def register_duty_provider(provider: DutyProvider) -> DutyProvider:
    """Add duties a launch's roles do not grant: `provider(user, context, duties)` returns the extra ones."""
    if provider not in _duty_providers:
        _duty_providers.append(provider)
    return provider


def extra_duties(user: LtiUser, context: Context | None, duties: tuple[str, ...]) -> set[str]:
    """Every duty the registered providers add for this person in this course."""
    return {duty for provider in _duty_providers for duty in provider(user, context, duties) or ()}


def register_launch_handler(message_type: str, handler: LaunchHandler) -> LaunchHandler:
    """Answer launches of this message type with `handler(launch_context, ltik, body)` (replaces the default)."""
    _launch_handlers[message_type] = handler
    return handler


def launch_handler(message_type: str) -> LaunchHandler | None:
    """The handler registered for a message type, if any."""
    return _launch_handlers.get(message_type)
