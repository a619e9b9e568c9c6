"""CDS Hooks 2.0 request bodies (hook calls and feedback), read from the raw bytes with msgspec.

No pydantic body model: the prefetch of a hook call can hold hundreds of resources, and they are
kept as `msgspec.Raw` (unparsed bytes) for the FHIR decoder, which reads them once. Everything else
is checked here, per hook, and every problem becomes one `CdsRequestError` whose message names the
field (`context.patientId is required for hook patient-view`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

import msgspec

from rules import Hook
from service.adapters import fhir_model as fm
from service.adapters.fhir_resources_out import is_fhir_id
from service.ports import Feedback, Outcome, OverrideReason

_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_AT = re.compile(r" - at `\$(.*)`$")
_BEARER = "Bearer"  # fhirAuthorization.token_type: the one value the spec allows
_REFERENCE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")
_TYPE_WORDS = {
    "`str`": "a string", "`int`": "an integer", "`float`": "a number", "`bool`": "true or false",
    "`array`": "an array", "`object`": "an object", "`null`": "null",
}  # fmt: skip


class CdsRequestError(ValueError):
    """A request that is not a valid CDS Hooks call for this service: answered 400 with the message."""


# ---- wire shapes ------------------------------------------------------------------------------


class _Authorization(msgspec.Struct):
    access_token: str
    token_type: str
    scope: str
    subject: str
    expires_in: float | None = None  # REQUIRED by the spec; tolerated when absent (it is not used)
    patient: str | None = None


class _Envelope(msgspec.Struct, rename="camel"):
    hook: str
    hook_instance: str
    context: msgspec.Raw
    fhir_server: str | None = None
    fhir_authorization: _Authorization | None = None
    prefetch: dict[str, msgspec.Raw] | None = None


class _PatientViewContext(msgspec.Struct, rename="camel"):
    user_id: str
    patient_id: str
    encounter_id: str | None = None


class _OrderSelectContext(msgspec.Struct, rename="camel"):
    user_id: str
    patient_id: str
    selections: list[str]
    draft_orders: msgspec.Raw
    encounter_id: str | None = None


class _OrderSignContext(msgspec.Struct, rename="camel"):
    user_id: str
    patient_id: str
    draft_orders: msgspec.Raw
    encounter_id: str | None = None


_Context = _PatientViewContext | _OrderSelectContext | _OrderSignContext
_ENVELOPE = msgspec.json.Decoder(_Envelope)
_PATIENT_VIEW = msgspec.json.Decoder(_PatientViewContext)
_ORDER_SELECT = msgspec.json.Decoder(_OrderSelectContext)
_ORDER_SIGN = msgspec.json.Decoder(_OrderSignContext)


def _decode_context(hook: Hook, raw: msgspec.Raw) -> _Context:
    if hook is Hook.ORDER_SELECT:
        return _ORDER_SELECT.decode(raw)
    if hook is Hook.ORDER_SIGN:
        return _ORDER_SIGN.decode(raw)
    return _PATIENT_VIEW.decode(raw)


# ---- what the service works with --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HookRequest:
    """A validated hook call. `prefetch` and `draft_orders` stay raw JSON bytes for the FHIR decoder."""

    hook: Hook
    hook_instance: str
    patient_id: str
    user_id: str
    fhir_server: str | None
    access_token: str | None
    prefetch: dict[str, msgspec.Raw]
    draft_orders: msgspec.Raw | None = None  # order hooks: the draftOrders Bundle
    selections: frozenset[str] | None = None  # order-select only


def _describe(exc: msgspec.ValidationError | msgspec.DecodeError, prefix: str) -> str:
    """msgspec's message in the request's own terms: `context.patientId is required`, ..."""
    text = str(exc)
    where = _AT.search(text)
    path = (prefix + (where.group(1) if where else "")).lstrip(".")
    text = _AT.sub("", text)
    missing = _MISSING.fullmatch(text)
    if missing is not None:
        name = f"{path}.{missing.group(1)}" if path else missing.group(1)
        return f"{name} is required"
    for name, words in _TYPE_WORDS.items():
        text = text.replace(f"Expected {name}", f"expected {words}")
    text = text.replace(", got `", ", got ").replace("`", "")
    return f"{path}: {text}" if path else text


def _absolute_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


_HEAD = msgspec.json.Decoder(fm.Head)


def resource_type_of(raw: msgspec.Raw) -> str | None:
    """The resourceType of a JSON value (None when it is not a JSON object or has none)."""
    try:
        return _HEAD.decode(raw).resource_type
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


def _is_bundle(raw: msgspec.Raw) -> bool:
    return resource_type_of(raw) == "Bundle"


def _envelope(body: bytes) -> _Envelope:
    try:
        return _ENVELOPE.decode(body)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`") and "- at" not in str(exc):
            raise CdsRequestError("the request body must be a JSON object") from None
        raise CdsRequestError(_describe(exc, "")) from None
    except msgspec.DecodeError as exc:
        raise CdsRequestError(f"the request body is not JSON: {exc}") from None


def _check_envelope(env: _Envelope, hook: Hook) -> None:
    if env.hook != hook.value:
        raise CdsRequestError(f"hook {env.hook!r} does not match this service, which serves {hook.value!r}")
    if not env.hook_instance.strip():
        raise CdsRequestError("hookInstance must not be empty")
    if env.fhir_server is not None and not _absolute_url(env.fhir_server):
        raise CdsRequestError("fhirServer must be an absolute http(s) URL")
    auth = env.fhir_authorization
    if auth is None:
        return
    if env.fhir_server is None:
        raise CdsRequestError("fhirAuthorization is given without fhirServer")
    if auth.token_type != _BEARER:
        raise CdsRequestError("fhirAuthorization.token_type must be 'Bearer'")
    for name in ("access_token", "scope", "subject"):
        if not getattr(auth, name).strip():
            raise CdsRequestError(f"fhirAuthorization.{name} must not be empty")


def _context(env: _Envelope, hook: Hook) -> _Context:
    try:
        context = _decode_context(hook, env.context)
    except msgspec.ValidationError as exc:
        message = _describe(exc, "context")
        if message.endswith(" is required"):
            message += f" for hook {hook.value}"
        raise CdsRequestError(message) from None
    if not context.user_id.strip():
        raise CdsRequestError("context.userId must not be empty")
    if not is_fhir_id(context.patient_id):
        raise CdsRequestError("context.patientId is not a FHIR id (1-64 of A-Z a-z 0-9 - .)")
    if isinstance(context, _OrderSelectContext | _OrderSignContext) and not _is_bundle(context.draft_orders):
        raise CdsRequestError("context.draftOrders must be a FHIR Bundle")
    if isinstance(context, _OrderSelectContext):
        for i, ref in enumerate(context.selections):
            if _REFERENCE.fullmatch(ref) is None:
                raise CdsRequestError(f"context.selections[{i}] is not a reference Type/id")
    return context


def parse_hook_request(body: bytes, hook: Hook) -> HookRequest:
    """The hook call in `body` for a service of `hook`; `CdsRequestError` says what is wrong."""
    env = _envelope(body)
    _check_envelope(env, hook)
    context = _context(env, hook)
    auth = env.fhir_authorization
    return HookRequest(
        hook=hook,
        hook_instance=env.hook_instance,
        patient_id=context.patient_id,
        user_id=context.user_id,
        fhir_server=env.fhir_server,
        access_token=auth.access_token if auth is not None else None,
        prefetch=env.prefetch or {},
        draft_orders=None if isinstance(context, _PatientViewContext) else context.draft_orders,
        selections=frozenset(context.selections) if isinstance(context, _OrderSelectContext) else None,
    )


# ---- feedback -----------------------------------------------------------------------------------


class _Coding(msgspec.Struct):
    code: str | None = None
    system: str | None = None
    display: str | None = None


class _OverrideReason(msgspec.Struct, rename="camel"):
    reason: _Coding | None = None
    user_comment: str | None = None


class _AcceptedSuggestion(msgspec.Struct):
    id: str


class _FeedbackItem(msgspec.Struct, rename="camel"):
    card: str
    outcome: Literal["accepted", "overridden"]
    outcome_timestamp: str
    accepted_suggestions: list[_AcceptedSuggestion] | None = None
    override_reason: _OverrideReason | None = None


class _FeedbackBody(msgspec.Struct):
    feedback: list[_FeedbackItem]


_FEEDBACK = msgspec.json.Decoder(_FeedbackBody)


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """One validated feedback item, before the card's rule is known."""

    card: str
    outcome: Outcome
    outcome_timestamp: datetime
    accepted_suggestions: tuple[str, ...] = ()
    override_reason: OverrideReason | None = None
    user_comment: str | None = None

    def resolved(self, *, rule_id: str, service_id: str, hook_instance: str) -> Feedback:
        return Feedback(
            card_uuid=self.card,
            service_id=service_id,
            rule_id=rule_id,
            outcome=self.outcome,
            outcome_timestamp=self.outcome_timestamp,
            hook_instance=hook_instance,
            accepted_suggestions=self.accepted_suggestions,
            override_reason=self.override_reason,
            user_comment=self.user_comment,
        )


def _instant(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CdsRequestError(f"{where}.outcomeTimestamp is not an ISO 8601 instant") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise CdsRequestError(f"{where}.outcomeTimestamp needs a time zone (e.g. 2026-01-15T12:00:00Z)")
    return value


def _item(raw: _FeedbackItem, where: str) -> FeedbackItem:
    if not raw.card.strip():
        raise CdsRequestError(f"{where}.card must not be empty")
    if raw.accepted_suggestions is not None and raw.outcome != "accepted":
        raise CdsRequestError(f"{where}.acceptedSuggestions is only allowed when the outcome is accepted")
    if raw.override_reason is not None and raw.outcome != "overridden":
        raise CdsRequestError(f"{where}.overrideReason is only allowed when the outcome is overridden")
    reason = raw.override_reason
    coding = reason.reason if reason is not None else None
    return FeedbackItem(
        card=raw.card,
        outcome=raw.outcome,
        outcome_timestamp=_instant(raw.outcome_timestamp, where),
        accepted_suggestions=tuple(s.id for s in raw.accepted_suggestions or ()),
        override_reason=OverrideReason(coding.code, coding.system, coding.display) if coding else None,
        user_comment=reason.user_comment if reason is not None else None,
    )


def parse_feedback(body: bytes) -> tuple[FeedbackItem, ...]:
    """The feedback items of a `POST /cds-services/{id}/feedback` body."""
    try:
        parsed = _FEEDBACK.decode(body)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Expected `object`") and "- at" not in str(exc):
            raise CdsRequestError("the request body must be a JSON object") from None
        raise CdsRequestError(_describe(exc, "")) from None
    except msgspec.DecodeError as exc:
        raise CdsRequestError(f"the request body is not JSON: {exc}") from None
    return tuple(_item(item, f"feedback[{i}]") for i, item in enumerate(parsed.feedback))
