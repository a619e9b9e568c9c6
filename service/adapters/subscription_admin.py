"""`osteoalert subscriptions create|list|delete`: our Subscriptions on the EHR's FHIR server.

`create` registers a Subscriptions R5 Backport IG (R4) Subscription: the topic (OSTEOALERT_NOTIFY_TOPIC_URL
or --topic) filtered to the Observation codes the rules read (backport-filter-criteria), a rest-hook
channel to `<public_base_url>/fhir/notify` with our shared secret as `channel.header`, JSON payload
with `id-only` content by default (no PHI in notifications), a heartbeat period so that silence is
noticed, and the IG's timeout and max-count. The resource is validated with the R4B model first.
`list` finds the Subscriptions whose endpoint is ours; `delete` removes one by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pydantic
from fhir.resources.R4B.subscription import Subscription

from service.adapters.cds_discovery import observation_tokens
from service.adapters.fhir_client import FhirClient, FhirClientError, error_for
from service.adapters.fhir_resources_out import is_fhir_id
from service.adapters.notifications import split_reference
from service.settings import Settings

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
BACKPORT_PROFILE = f"{BACKPORT}backport-subscription"
FHIR_JSON = "application/fhir+json"
REASON = "osteoalert: new or updated calcium, PTH, vitamin D, magnesium, renal, thyroid and DXA results"


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    endpoint: str
    topic: str
    filter_criteria: str
    payload: str = "id-only"
    heartbeat_seconds: int = 3600
    header: str | None = None  # "Authorization: Bearer <token>"
    timeout_seconds: int = 60
    max_count: int = 20


def notify_endpoint(settings: Settings) -> str:
    return f"{settings.public_base_url}/fhir/notify"


def channel_header(settings: Settings) -> str | None:
    """The header line the EHR must send with each notification (None: no secret configured)."""
    if settings.notify_token is None or not settings.notify_token.get_secret_value():
        return None
    token = settings.notify_token.get_secret_value()
    name = settings.notify_token_header
    return f"{name}: Bearer {token}" if name.lower() == "authorization" else f"{name}: {token}"


def request_from_settings(
    settings: Settings, tokens: Sequence[str], *, topic: str | None = None, payload: str | None = None,
    endpoint: str | None = None,
) -> SubscriptionRequest:  # fmt: skip
    return SubscriptionRequest(
        endpoint=endpoint or notify_endpoint(settings),
        topic=topic or settings.notify_topic_url,
        filter_criteria=f"Observation?code={','.join(tokens)}",
        payload=payload or settings.notify_payload,
        heartbeat_seconds=settings.notify_heartbeat_seconds,
        header=channel_header(settings),
    )


def default_tokens(settings: Settings) -> list[str]:
    from service.adapters.codesets import load_codesets  # noqa: PLC0415 - only the CLI needs code sets

    return observation_tokens(load_codesets(settings.codesets_dir))


def build_subscription(request: SubscriptionRequest) -> dict[str, Any]:
    """The Backport-profile Subscription JSON, validated with the R4B model (ValueError if not)."""
    channel: dict[str, Any] = {
        "extension": [
            {"url": f"{BACKPORT}backport-heartbeat-period", "valueUnsignedInt": request.heartbeat_seconds},
            {"url": f"{BACKPORT}backport-timeout", "valueUnsignedInt": request.timeout_seconds},
            {"url": f"{BACKPORT}backport-max-count", "valuePositiveInt": request.max_count},
        ],
        "type": "rest-hook",
        "endpoint": request.endpoint,
        "payload": FHIR_JSON,
        "_payload": {
            "extension": [{"url": f"{BACKPORT}backport-payload-content", "valueCode": request.payload}]
        },
    }
    if request.header:
        channel["header"] = [request.header]
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "meta": {"profile": [BACKPORT_PROFILE]},
        "status": "requested",
        "reason": REASON,
        "criteria": request.topic,
        "_criteria": {
            "extension": [
                {"url": f"{BACKPORT}backport-filter-criteria", "valueString": request.filter_criteria}
            ]
        },
        "channel": channel,
    }
    try:
        Subscription.model_validate(resource)
    except pydantic.ValidationError as exc:
        raise ValueError(f"Subscription rejected by the R4B model: {exc.errors()[0]['msg']}") from None
    return resource


@dataclass(frozen=True, slots=True)
class SubscriptionSummary:
    id: str
    status: str
    payload: str
    topic: str
    endpoint: str


def _summary(resource: dict[str, Any]) -> SubscriptionSummary:
    channel = resource.get("channel") or {}
    content = [
        e.get("valueCode")
        for e in (channel.get("_payload") or {}).get("extension") or ()
        if str(e.get("url", "")).endswith("backport-payload-content")
    ]
    return SubscriptionSummary(
        id=str(resource.get("id", "")),
        status=str(resource.get("status", "")),
        payload=str(content[0] if content else ("full-resource" if channel.get("payload") else "empty")),
        topic=str(resource.get("criteria", "")),
        endpoint=str(channel.get("endpoint", "")),
    )


async def create_subscription(client: FhirClient, resource: dict[str, Any]) -> str:
    """POST the Subscription; its new id (from Location, else the returned body)."""
    response = await client.send(
        "POST", "Subscription", content=orjson.dumps(resource), headers={"Content-Type": FHIR_JSON}
    )
    if response.status_code not in (httpx.codes.OK, httpx.codes.CREATED):
        raise error_for(response)
    split = split_reference(response.headers.get("location"))
    if split is not None:
        return split[1]
    try:
        created = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        created = {}
    return str(created.get("id", "")) if isinstance(created, dict) else ""


async def list_subscriptions(client: FhirClient, endpoint: str | None) -> list[SubscriptionSummary]:
    """Subscriptions on the server; with `endpoint`, only those notifying it (also checked here)."""
    query = f"Subscription?url={quote(endpoint, safe='')}" if endpoint else "Subscription"
    found: list[SubscriptionSummary] = []
    for page in await client.search(query):
        data = orjson.loads(page)
        for entry in data.get("entry") or () if isinstance(data, dict) else ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "Subscription":
                summary = _summary(resource)
                if endpoint is None or summary.endpoint == endpoint:
                    found.append(summary)
    return found


async def delete_subscription(client: FhirClient, subscription_id: str) -> bool:
    """DELETE Subscription/<id>; False when the server did not know it."""
    sid = subscription_id.removeprefix("Subscription/")
    if not is_fhir_id(sid):
        raise FhirClientError(f"{subscription_id!r} is not a Subscription id")
    response = await client.send("DELETE", f"Subscription/{sid}")
    if response.status_code in (httpx.codes.NOT_FOUND, httpx.codes.GONE):
        return False
    if response.status_code not in (httpx.codes.OK, httpx.codes.NO_CONTENT, httpx.codes.ACCEPTED):
        raise error_for(response)
    return True
