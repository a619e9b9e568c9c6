"""`osteoalert subscriptions create|list|delete` against the FHIR test double (a real socket)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhir.resources.R4B.subscription import Subscription

from service.adapters.subscription_admin import BACKPORT, build_subscription, request_from_settings
from service.cli import main
from service.settings import Settings
from tests.fhir_double import FhirDouble, serve_in_thread

ENDPOINT = "https://osteoalert.example.org/fhir/notify"


@pytest.fixture
def ehr(monkeypatch: pytest.MonkeyPatch) -> Iterator[FhirDouble]:
    double = FhirDouble(token="ehr-token")
    with serve_in_thread(double) as base_url:
        for name, value in {
            "OSTEOALERT_FHIR_BASE_URL": base_url,
            "OSTEOALERT_FHIR_AUTH_MODE": "bearer",
            "OSTEOALERT_FHIR_AUTH_TOKEN": "ehr-token",
            "OSTEOALERT_PUBLIC_BASE_URL": "https://osteoalert.example.org",
            "OSTEOALERT_NOTIFY_TOKEN": "s3cret",
            "OSTEOALERT_NOTIFY_TOPIC_URL": "https://ehr.example.org/topics/lab-results",
        }.items():
            monkeypatch.setenv(name, value)
        yield double


def _extension(element: dict[str, object], name: str) -> object:
    extensions = element.get("extension")
    assert isinstance(extensions, list)
    (value,) = [e for e in extensions if e["url"] == f"{BACKPORT}{name}"]
    return next(v for k, v in value.items() if k.startswith("value"))


def test_create_registers_a_backport_subscription_for_the_rules_codes(
    ehr: FhirDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["subscriptions", "create"]) == 0
    (created,) = ehr.of_type("Subscription")
    Subscription.model_validate({k: v for k, v in created.items() if k != "meta"})
    assert created["meta"]["profile"] == [f"{BACKPORT}backport-subscription"]
    assert created["criteria"] == "https://ehr.example.org/topics/lab-results"
    criteria = _extension(created["_criteria"], "backport-filter-criteria")
    assert isinstance(criteria, str) and criteria.startswith("Observation?code=")
    assert "http://loinc.org|17861-6" in criteria and "http://loinc.org|2731-8" in criteria
    channel = created["channel"]
    assert (channel["type"], channel["endpoint"], channel["payload"]) == (
        "rest-hook", "https://osteoalert.example.org/fhir/notify", "application/fhir+json",
    )  # fmt: skip
    assert channel["header"] == ["Authorization: Bearer s3cret"]
    assert _extension(channel["_payload"], "backport-payload-content") == "id-only"
    assert _extension(channel, "backport-heartbeat-period") == 3600
    assert f"Subscription/{created['id']} requested: id-only" in capsys.readouterr().out


def test_list_shows_our_subscriptions_and_delete_removes_one(
    ehr: FhirDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["subscriptions", "create", "--payload", "full-resource"]) == 0
    ehr.put({"resourceType": "Subscription", "id": "theirs", "status": "active", "criteria": "x",
             "channel": {"type": "rest-hook", "endpoint": "https://elsewhere.example.org/hook"}})  # fmt: skip
    ours = next(s["id"] for s in ehr.of_type("Subscription") if s["id"] != "theirs")
    capsys.readouterr()
    assert main(["subscriptions", "list"]) == 0
    assert capsys.readouterr().out.split("\t")[:3] == [f"Subscription/{ours}", "requested", "full-resource"]
    assert main(["subscriptions", "list", "--all"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["subscriptions", "delete", ours]) == 0
    assert main(["subscriptions", "delete", ours]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"Subscription/{ours} deleted",
        f"Subscription/{ours} not found",
    ]
    assert [s["id"] for s in ehr.of_type("Subscription")] == ["theirs"]


def test_without_a_fhir_server_the_command_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OSTEOALERT_FHIR_BASE_URL", raising=False)
    assert main(["subscriptions", "list"]) == 2
    assert "OSTEOALERT_FHIR_BASE_URL" in capsys.readouterr().err


def test_a_refusing_server_is_one_line_not_a_traceback(
    ehr: FhirDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    ehr.fail_next(1, status=403, method="POST")
    assert main(["subscriptions", "create"]) == 2
    assert capsys.readouterr().err.strip() == "osteoalert: subscriptions create: FHIR server answered 403"


@pytest.mark.parametrize(
    ("header", "line"), [("Authorization", "Authorization: Bearer t"), ("X-Token", "X-Token: t")]
)
def test_the_channel_header_matches_what_the_endpoint_checks(header: str, line: str) -> None:
    settings = Settings(notify_token="t", notify_token_header=header)
    resource = build_subscription(
        request_from_settings(settings, ["http://loinc.org|17861-6"], endpoint=ENDPOINT)
    )
    assert resource["channel"]["header"] == [line]
    assert "header" not in build_subscription(request_from_settings(Settings(), ["x|y"]))["channel"]
