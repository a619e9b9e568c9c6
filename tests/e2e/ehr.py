"""The EHR side of the e2e suite: vignette patients on the FHIR double process, and what the EHR sends.

Vignettes are dated against T (tests.builders.T); the worker evaluates at the wall clock, so every
patient is loaded with its dates shifted by now - T. Each test clones its vignettes under patient
ids of its own, so DetectedIssues are told apart by patient and no test sees another's writes.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from rules import Hook
from rules.scope import SCOPE
from tests.builders import T
from tests.vignettes import VIGNETTES

Json = dict[str, Any]
BACKPORT_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "subscriptions-backport"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def vignette_bundle(vid: str) -> Json:
    return next(v for v in VIGNETTES if v.id == vid).bundle()


def background_findings(vid: str) -> frozenset[str]:
    """The rule ids a vignette MUST fire that the background path runs (RULES.md 1.5)."""
    vignette = next(v for v in VIGNETTES if v.id == vid)
    return frozenset(vignette.must_fire) & SCOPE[Hook.BACKGROUND]


def _renamed(key: str, value: Any, renames: Mapping[str, str]) -> Any:
    if key in ("reference", "fullUrl") and isinstance(value, str):
        return renames.get(value, value)
    return _rewrite(value, renames)


def _rewrite(value: Any, renames: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _renamed(k, v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, renames) for v in value]
    return value


def clone(bundle: Json, patient_id: str) -> Json:
    """The bundle with the Patient renamed `patient_id`, every other id prefixed with it."""
    renames: dict[str, str] = {}
    for entry in bundle["entry"]:
        r = entry["resource"]
        new = patient_id if r["resourceType"] == "Patient" else f"{patient_id}-{r['id']}"
        renames[f"{r['resourceType']}/{r['id']}"] = f"{r['resourceType']}/{new}"
        renames[entry["fullUrl"]] = f"{r['resourceType']}/{new}"
    out: Json = _rewrite(copy.deepcopy(bundle), renames)
    for entry in out["entry"]:
        entry["resource"]["id"] = entry["fullUrl"].partition("/")[2]
    return out


@dataclass(frozen=True, slots=True)
class LoadedPatient:
    id: str
    vignette: str
    observations: tuple[str, ...]  # "Observation/<id>", the first one a calcium result

    @property
    def reference(self) -> str:
        return f"Patient/{self.id}"

    @property
    def expected(self) -> frozenset[str]:
        return background_findings(self.vignette)


@dataclass(frozen=True, slots=True)
class WriteRecord:
    index: int
    method: str
    status: int
    at: float
    identifier: str | None
    patient: str | None
    code: str | None


def shift_seconds() -> float:
    return (datetime.now(UTC) - T).total_seconds()


class Ehr:
    """An HTTP client of the FHIR double process (its base URL is the FHIR base of our processes)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def url(self, reference: str) -> str:
        return f"{self.base_url}/{reference}"

    def load(self, bundle: Json) -> list[str]:
        answer = self.http.post(
            "/_double/load", params={"shift_seconds": shift_seconds()}, content=orjson.dumps(bundle)
        )
        answer.raise_for_status()
        loaded: list[str] = answer.json()["loaded"]
        return loaded

    def add_patient(self, vid: str, patient_id: str) -> LoadedPatient:
        refs = self.load(clone(vignette_bundle(vid), patient_id))
        return LoadedPatient(patient_id, vid, tuple(r for r in refs if r.startswith("Observation/")))

    def read(self, reference: str) -> Json:
        answer = self.http.get(f"/{reference}")
        answer.raise_for_status()
        data: Json = answer.json()
        return data

    def put(self, resource: Json) -> None:
        reference = f"{resource['resourceType']}/{resource['id']}"
        self.http.put(f"/{reference}", content=orjson.dumps(resource), headers=FHIR_JSON).raise_for_status()

    def delay(self, match: str, *, seconds: float, count: int = 1) -> None:
        spec = {"match": match, "seconds": seconds, "count": count}
        self.http.post("/_e2e/delay", content=orjson.dumps(spec)).raise_for_status()

    def release(self) -> None:
        """End every delay: held requests are answered 503 without reaching the double."""
        self.http.post("/_e2e/release").raise_for_status()

    def held(self, match: str) -> int:
        """Requests a delay on `match` has held so far (they are in flight at the EHR)."""
        delays = self.http.get("/_e2e/delay").json()["delays"]
        return sum(int(d["held"]) for d in delays if d["match"] == match)

    def fail_next(self, count: int, *, status: int = 503, retry_after: str | None = None) -> None:
        spec = {"count": count, "status": status, "retryAfter": retry_after}
        self.http.post("/_double/failures", content=orjson.dumps(spec)).raise_for_status()

    def failures_left(self) -> int:
        return sum(int(f["count"]) for f in self.http.get("/_e2e/failures").json()["failures"])

    def add_event(self, subscription: str, focus: str) -> int:
        """Record an event at the EHR (what its $events then reports); its event number."""
        spec = {"subscription": subscription, "focus": focus}
        answer = self.http.post("/_double/events", content=orjson.dumps(spec))
        answer.raise_for_status()
        number: int = answer.json()["number"]
        return number

    def writes(self, since: int = 0) -> tuple[list[WriteRecord], int]:
        """DetectedIssue writes from index `since`, and the index to continue from."""
        body = self.http.get("/_e2e/writes", params={"since": since}).json()
        names = [f.name for f in dataclasses.fields(WriteRecord)]
        return [WriteRecord(**{k: w[k] for k in names}) for w in body["writes"]], body["next"]

    def requests(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.http.get("/_double/requests").json()["requests"]]


def created_by_identifier(writes: list[WriteRecord], patient: LoadedPatient) -> Counter[str]:
    """How many times each DetectedIssue of `patient` was CREATED (201) at the EHR."""
    return Counter(str(w.identifier) for w in writes if w.patient == patient.reference and w.status == 201)


def created_codes(writes: list[WriteRecord], patient: LoadedPatient) -> list[str]:
    return sorted(str(w.code) for w in writes if w.patient == patient.reference and w.status == 201)


# --- what the EHR sends ---------------------------------------------------------------------------


@functools.cache
def _fixture(name: str) -> bytes:
    return (BACKPORT_FIXTURES / name).read_bytes()


def new_subscription_id(label: str) -> str:
    return f"e2e-{label}-{uuid.uuid4().hex[:8]}"


def backport_notification(
    fixture: str,
    *,
    subscription: str,
    number: int | None = None,
    events_since_start: int | None = None,
    focus: str | None = None,
    resource: Json | None = None,
) -> bytes:
    """A Backport IG example notification (read-only fixture) pointed at our Subscription, event
    number and focus: absolute URLs on the FHIR double; `resource` replaces the included one."""
    bundle: Json = orjson.loads(_fixture(fixture))
    bundle["timestamp"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    status = bundle["entry"][0]
    status["request"]["url"] = f"{subscription}/$status"
    count = events_since_start if events_since_start is not None else number
    for parameter in status["resource"]["parameter"]:
        name = parameter["name"]
        if name == "subscription":
            parameter["valueReference"]["reference"] = subscription
        elif name == "events-since-subscription-start" and count is not None:
            parameter["valueString"] = str(count)
        elif name == "notification-event":
            for part in parameter["part"]:
                if part["name"] == "event-number" and number is not None:
                    part["valueString"] = str(number)
                elif part["name"] == "focus" and focus is not None:
                    part["valueReference"]["reference"] = focus
    for entry in bundle["entry"][1:]:
        if focus is None or ("resource" in entry and resource is None):
            raise ValueError(f"{fixture} carries the focus (and maybe its resource): give them")
        entry["fullUrl"] = focus
        entry["request"] = {"method": "PUT", "url": "/".join(focus.split("/")[-2:])}
        if "resource" in entry:
            entry["resource"] = resource
    return orjson.dumps(bundle)
