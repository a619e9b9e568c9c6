"""The SubscriptionStatus of the Subscriptions R5 Backport IG, in its two shapes, and notification errors.

R4 carries it as a `Parameters` resource (profile backport-subscription-status-r4: parameters
subscription, topic, status, type, events-since-subscription-start, notification-event with parts
event-number, timestamp, focus); R4B as a `SubscriptionStatus` resource (eventsSinceSubscriptionStart,
notificationEvent[].eventNumber / focus). Both read into one frozen `SubscriptionStatus`. Integer64
values arrive as strings in both: they are read as non-negative integers or refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUS_TYPES: frozenset[str] = frozenset(
    {"handshake", "heartbeat", "event-notification", "query-status", "query-event"}
)


class NotificationError(ValueError):
    """A body that is not a notification we can read: answered 400, the message says why."""


class UnsupportedMediaTypeError(NotificationError):
    """Neither application/fhir+json nor application/json: answered 415."""


# --- references -------------------------------------------------------------------------------------


def split_reference(reference: str | None) -> tuple[str, str, str | None] | None:
    """ "Observation/1", "https://x/fhir/Observation/1/_history/2" → (type, id, version); None otherwise."""
    if not reference or reference.startswith(("urn:", "#")):
        return None
    path, _, version = reference.partition("/_history/")
    parts = path.rstrip("/").split("/")
    if len(parts) < 2 or not parts[-2][:1].isupper() or not parts[-1]:
        return None
    return parts[-2], parts[-1], (version.strip("/") or None)


def relative_reference(reference: str | None) -> str | None:
    split = split_reference(reference)
    return None if split is None else f"{split[0]}/{split[1]}"


def as_count(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise NotificationError(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        raise NotificationError(f"{what}: expected an integer, got {value!r}")
    if number < 0:
        raise NotificationError(f"{what}: expected a non-negative integer, got {number}")
    return number


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    """What a SubscriptionStatus says; `events` are (event number, focus reference) pairs."""

    subscription: str | None
    topic: str | None
    status: str | None
    type: str | None
    events_since_start: int | None
    events: tuple[tuple[int | None, str | None], ...]  # (event number, focus reference)


_INT_VALUES = ("valueString", "valueUnsignedInt", "valueInteger", "valueInteger64", "valuePositiveInt")


def _param_value(param: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in param:
            return param[name]
    return None


def _from_parameters(resource: Mapping[str, Any]) -> SubscriptionStatus:
    params = [p for p in resource.get("parameter") or () if isinstance(p, Mapping)]
    first: dict[str, Mapping[str, Any]] = {}
    events: list[tuple[int | None, str | None]] = []
    for p in params:
        name = p.get("name")
        if name == "notification-event":
            parts = {q.get("name"): q for q in p.get("part") or () if isinstance(q, Mapping)}
            number = as_count(_param_value(parts.get("event-number") or {}, *_INT_VALUES), "event-number")
            focus = (parts.get("focus") or {}).get("valueReference") or {}
            events.append((number, focus.get("reference") if isinstance(focus, Mapping) else None))
        elif isinstance(name, str):
            first.setdefault(name, p)
    subscription = (first.get("subscription") or {}).get("valueReference") or {}
    return SubscriptionStatus(
        subscription=subscription.get("reference") if isinstance(subscription, Mapping) else None,
        topic=_param_value(first.get("topic") or {}, "valueCanonical", "valueUri", "valueString"),
        status=_param_value(first.get("status") or {}, "valueCode"),
        type=_param_value(first.get("type") or {}, "valueCode"),
        events_since_start=as_count(
            _param_value(first.get("events-since-subscription-start") or {}, *_INT_VALUES),
            "events-since-subscription-start",
        ),
        events=tuple(events),
    )


def _from_subscription_status(resource: Mapping[str, Any]) -> SubscriptionStatus:
    events = []
    for e in resource.get("notificationEvent") or ():
        if isinstance(e, Mapping):
            focus = e.get("focus") or {}
            events.append(
                (
                    as_count(e.get("eventNumber"), "notificationEvent.eventNumber"),
                    focus.get("reference") if isinstance(focus, Mapping) else None,
                )
            )
    subscription = resource.get("subscription") or {}
    return SubscriptionStatus(
        subscription=subscription.get("reference") if isinstance(subscription, Mapping) else None,
        topic=resource.get("topic"),
        status=resource.get("status"),
        type=resource.get("type"),
        events_since_start=as_count(
            resource.get("eventsSinceSubscriptionStart"), "eventsSinceSubscriptionStart"
        ),
        events=tuple(events),
    )


def read_status(resource: Mapping[str, Any]) -> SubscriptionStatus:
    """A SubscriptionStatus (R4 Parameters or R4B SubscriptionStatus), validated shape-wise."""
    if resource.get("resourceType") == "Parameters":
        status = _from_parameters(resource)
    elif resource.get("resourceType") == "SubscriptionStatus":
        status = _from_subscription_status(resource)
    else:
        raise NotificationError(
            "the first entry of a notification Bundle must be its SubscriptionStatus "
            f"(Parameters or SubscriptionStatus), not {resource.get('resourceType')!r}"
        )
    if relative_reference(status.subscription) is None:
        raise NotificationError("the SubscriptionStatus names no Subscription")
    if status.type not in STATUS_TYPES:
        raise NotificationError(f"unknown notification type {status.type!r}")
    return status
