"""Inbound FHIR notifications (POST/PUT /fhir/notify) → what happened, as a frozen `Notification`.

Two protocols reach the endpoint:

* Subscriptions R5 Backport IG on R4/R4B: a `history` Bundle (R5's `subscription-notification` type is
  accepted too) whose FIRST entry is the SubscriptionStatus: a `Parameters` resource in R4
  (profile backport-subscription-status-r4), a `SubscriptionStatus` resource in R4B. Its `type` is
  handshake | heartbeat | event-notification | query-status | query-event. The payload content is
  read from the other entries: none → `empty`, entries without a resource → `id-only`, with the
  resource → `full-resource`.
* plain R4 rest-hook: an empty body (a ping: the subscriber re-queries by the Subscription criteria),
  or the resource itself (POST /fhir/notify, PUT /fhir/notify/{type}/{id}).

Every inbound resource is validated with the fhir.resources R4B models, and it is worth it here: a
misread notification is a lost event. It is most of the CPU of reading one (~0.35 ms for an id-only
Backport notification); the SubscriptionStatus elements that repeat from one notification to the
next are validated once (`_validate_parameter`), which brings it to ~0.25 ms.
Malformed input raises `NotificationError` (answered 400 with an OperationOutcome); an unsupported
media type `UnsupportedMediaTypeError` (415).

Tolerated deviations are kept in `Notification.notes` (logged, never fatal): the Backport IG examples
include a notification whose history entries lack `request`/`response` (bdl-3/bdl-4), and nothing
is lost by reading it as its status says.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import orjson
import pydantic
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.parameters import ParametersParameter

from service.adapters.subscription_status import (
    NotificationError,
    SubscriptionStatus,
    UnsupportedMediaTypeError,
    read_status,
    relative_reference,
    split_reference,
)

__all__ = [
    "Notification",
    "NotificationError",
    "NotificationEvent",
    "UnsupportedMediaTypeError",
    "parse_notification",
    "parse_status_result",
    "patient_of",
    "relative_reference",
    "split_reference",
    "token_matches",
]

NotificationKind = Literal[
    "handshake", "heartbeat", "event-notification", "query-status", "query-event", "ping", "resource"
]
Content = Literal["empty", "id-only", "full-resource"]

# Notification types that carry events to evaluate; the others are acknowledged and recorded only.
EVENT_TYPES: frozenset[str] = frozenset({"event-notification", "query-event"})
MEDIA_TYPES: frozenset[str] = frozenset(
    {"application/fhir+json", "application/json", "application/json+fhir"}
)
_NOTIFICATION_BUNDLES = frozenset({"history", "subscription-notification"})


@dataclass(frozen=True, slots=True)
class NotificationEvent:
    """One event of a notification. `focus` is "Type/id" (relative, without version)."""

    number: int | None = None
    focus: str | None = None
    focus_version: str | None = None  # meta.versionId of a full resource, or the reference's _history
    patient: str | None = None  # the Patient id, when the notification itself says it
    included: bool = False  # the resource itself came with the notification (full-resource)


@dataclass(frozen=True, slots=True)
class Notification:
    kind: NotificationKind
    subscription: str | None = None  # "Subscription/<id>"
    topic: str | None = None
    status: str | None = None
    events_since_start: int | None = None
    events: tuple[NotificationEvent, ...] = ()
    content: Content | None = None
    notes: tuple[str, ...] = ()

    @property
    def evaluates(self) -> bool:
        """True when the notification asks for work (events, a ping, a resource)."""
        return self.kind in EVENT_TYPES or self.kind in ("ping", "resource")


# --- references -------------------------------------------------------------------------------------


def patient_of(resource: Mapping[str, Any]) -> str | None:
    """The Patient id a resource is about: itself, or its `subject` / `patient` reference."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) and rid else None
    for name in ("subject", "patient"):
        value = resource.get(name)
        if isinstance(value, Mapping):
            split = split_reference(value.get("reference"))
            if split is not None and split[0] == "Patient":
                return split[1]
    return None


# --- validation -------------------------------------------------------------------------------------


def _model_validate(model: type[pydantic.BaseModel], data: Any, where: str, rtype: str, at: str = "") -> None:
    try:
        model.model_validate(data)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        path = ".".join(str(p) for p in (*([at] if at else []), *first["loc"]))
        raise NotificationError(f"{where} ({rtype}{'.' + path if path else ''}): {first['msg']}") from None
    except (TypeError, ValueError) as exc:
        raise NotificationError(
            f"{where} ({rtype}{'.' + at if at else ''}): {' '.join(str(exc).split())}"
        ) from None


# `Parameters.parameter` elements already validated, by their JSON. The SubscriptionStatus of a
# Backport R4 notification is a Parameters resource, and validating it is most of the cost of reading
# a notification (~250 of ~350 us: each element's value[x] choice is checked against 50 types in
# Python). Most of its elements (subscription, topic, status, type) are the same in every
# notification of a Subscription: each distinct element is validated once, with the same model.
_VALID_PARAMETERS: dict[bytes, None] = {}
_VALID_PARAMETERS_MAX = 4096


def _without_parameters(bundle: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """`bundle` with the `parameter` lists of its Parameters entries taken out, and those elements
    (with where they were): the rest is validated as a whole, each element on its own."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return dict(bundle), []
    kept: list[Any] = []
    elements: list[tuple[str, Any]] = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        parameters = resource.get("parameter") if isinstance(resource, Mapping) else None
        if (
            isinstance(resource, Mapping)
            and resource.get("resourceType") == "Parameters"
            and isinstance(parameters, list)
            and parameters
        ):
            elements += [(f"entry.{i}.resource.parameter.{j}", p) for j, p in enumerate(parameters)]
            rest = {k: v for k, v in resource.items() if k != "parameter"}
            kept.append({**entry, "resource": rest})
        else:
            kept.append(entry)
    return {**bundle, "entry": kept}, elements


def _validate_parameter(element: Any, where: str, at: str) -> None:
    if element is None:  # as the Parameters model says of a null in its list
        raise NotificationError(f"{where} (Bundle.{at}): None is not allowed as an element of parameter")
    key = orjson.dumps(element)
    if key in _VALID_PARAMETERS:
        return
    _model_validate(ParametersParameter, element, where, "Bundle", at)
    if len(_VALID_PARAMETERS) >= _VALID_PARAMETERS_MAX:
        _VALID_PARAMETERS.clear()
    _VALID_PARAMETERS[key] = None


def _validate(resource: Mapping[str, Any], where: str) -> None:
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        raise NotificationError(f"{where}: no resourceType")
    try:
        model = get_fhir_model_class(rtype)
    except (KeyError, ValueError):
        raise NotificationError(f"{where}: {rtype} is not a FHIR R4 resource type") from None
    if rtype != "Bundle":
        _model_validate(model, dict(resource), where, rtype)
        return
    rest, elements = _without_parameters(resource)
    _model_validate(model, rest, where, rtype)
    for at, element in elements:
        _validate_parameter(element, where, at)


def _load(body: bytes, content_type: str | None) -> dict[str, Any]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media and media not in MEDIA_TYPES:
        raise UnsupportedMediaTypeError(f"unsupported media type {media!r}; send application/fhir+json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotificationError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotificationError("not a FHIR resource: expected a JSON object")
    return data


# --- Bundles ------------------------------------------------------------------------------------------


def _entries(bundle: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, Mapping) for e in entries):
        raise NotificationError("a notification Bundle needs entries, the SubscriptionStatus first")
    return cast(list[Mapping[str, Any]], entries)


def _focus_entries(entries: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The non-status entries by "Type/id" (from fullUrl or the resource itself)."""
    out: dict[str, Mapping[str, Any]] = {}
    for entry in entries:
        resource = entry.get("resource")
        key = relative_reference(entry.get("fullUrl"))
        if isinstance(resource, Mapping) and resource.get("id"):
            key = f"{resource.get('resourceType')}/{resource.get('id')}"
        if key is not None:
            out[key] = entry
    return out


def _event(number: int | None, focus: str | None, entry: Mapping[str, Any] | None) -> NotificationEvent:
    split = split_reference(focus)
    if split is None and entry is not None:
        split = split_reference(entry.get("fullUrl"))
    resource = entry.get("resource") if entry is not None else None
    patient = None
    version = split[2] if split is not None else None
    if isinstance(resource, Mapping):
        patient = patient_of(resource)
        meta = resource.get("meta")
        if isinstance(meta, Mapping) and isinstance(meta.get("versionId"), str):
            version = meta["versionId"]
    elif split is not None and split[0] == "Patient":
        patient = split[1]
    return NotificationEvent(
        number=number,
        focus=None if split is None else f"{split[0]}/{split[1]}",
        focus_version=version,
        patient=patient,
        included=isinstance(resource, Mapping),
    )


def _bundle_notification(bundle: Mapping[str, Any]) -> Notification:
    entries = _entries(bundle)
    status_resource = entries[0].get("resource")
    if not isinstance(status_resource, Mapping):
        raise NotificationError("the first entry of a notification Bundle must carry the SubscriptionStatus")
    status = read_status(status_resource)
    notes = []
    if bundle.get("type") == "history":
        bare = [str(i) for i, e in enumerate(entries) if "request" not in e or "response" not in e]
        if bare:
            notes.append(
                f"history Bundle entry {', '.join(bare)} without request/response (bdl-3/bdl-4): accepted"
            )
    others = entries[1:]
    by_ref = _focus_entries(others)
    events: list[NotificationEvent] = []
    if status.type in EVENT_TYPES:
        declared = status.events or ((status.events_since_start, None),)
        if not status.events and by_ref:  # pre-1.0 Backport: events only as entries
            declared = tuple((None, ref) for ref in by_ref)
        for number, focus in declared:
            entry = by_ref.get(relative_reference(focus) or "") if focus else None
            if focus is None and len(declared) == 1 and len(by_ref) == 1:
                entry = next(iter(by_ref.values()))
            events.append(_event(number, focus, entry))
    content: Content | None = None
    if status.type in EVENT_TYPES:
        has_resource = any(isinstance(e.get("resource"), Mapping) for e in others)
        has_focus = bool(others) or any(e.focus for e in events)
        content = "full-resource" if has_resource else "id-only" if has_focus else "empty"
    return Notification(
        kind=cast(NotificationKind, status.type),
        subscription=relative_reference(status.subscription),
        topic=status.topic if isinstance(status.topic, str) else None,
        status=status.status if isinstance(status.status, str) else None,
        events_since_start=status.events_since_start,
        events=tuple(events),
        content=content,
        notes=tuple(notes),
    )


def _resource_notification(
    resource: Mapping[str, Any], path_type: str | None, path_id: str | None
) -> Notification:
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if path_type is not None and rtype != path_type:
        raise NotificationError(f"the body is a {rtype}, the URL says {path_type}")
    if path_id is not None and rid is not None and rid != path_id:
        raise NotificationError(f"the body is {rtype}/{rid}, the URL says {path_type}/{path_id}")
    rid = rid or path_id
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    event = NotificationEvent(
        focus=f"{rtype}/{rid}" if isinstance(rid, str) and rid else None,
        focus_version=version if isinstance(version, str) else None,
        patient=patient_of(resource),
        included=True,
    )
    return Notification(kind="resource", events=(event,), content="full-resource")


def parse_notification(
    body: bytes,
    *,
    content_type: str | None,
    path_type: str | None = None,
    path_id: str | None = None,
) -> Notification:
    """Read one inbound notification; `NotificationError` (400) / `UnsupportedMediaTypeError` (415)."""
    if not body.strip():
        return Notification(kind="ping")
    data = _load(body, content_type)
    _validate(data, "the notification")
    if data.get("resourceType") == "Bundle":
        if data.get("type") not in _NOTIFICATION_BUNDLES:
            raise NotificationError(
                f"a Bundle notification must be of type history, not {data.get('type')!r}"
            )
        return _bundle_notification(data)
    return _resource_notification(data, path_type, path_id)


def parse_status_result(body: bytes) -> SubscriptionStatus:
    """The answer of Subscription/{id}/$status: a searchset of SubscriptionStatus, or one of them."""
    data = _load(body, "application/fhir+json")
    if data.get("resourceType") == "Bundle":
        entries = [e.get("resource") for e in _entries(data)]
        statuses = [r for r in entries if isinstance(r, Mapping)]
        if not statuses:
            raise NotificationError("the $status Bundle holds no SubscriptionStatus")
        return read_status(statuses[0])
    return read_status(data)


# --- the shared secret ---------------------------------------------------------------------------------


def token_matches(presented: str | None, token: str, *, header: str) -> bool:
    """Constant-time check of the header the EHR sends (Subscription.channel.header).

    For `Authorization` the value may be the bare token or "Bearer <token>"; for any other header it
    is the bare token. Both comparisons always run, so timing does not tell which form was tried.
    """
    value = (presented or "").strip().encode()
    bare = hmac.compare_digest(value, token.encode())
    bearer = hmac.compare_digest(value, f"Bearer {token}".encode())
    return bare or (bearer and header.lower() == "authorization")
