"""The Bulk Data $export client against the project's FHIR server test double (`bulk_double`)."""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
import pytest

from service.adapters.fhir_auth import StaticBearer
from service.settings import Settings
from service.sweep.bulk_export import (
    BulkExportClient,
    BulkExportError,
    ExportResult,
    export_level,
    export_types,
    kickoff_url,
    observation_filter,
)
from service.sweep.command import SweepRequest, run_sweep_command
from service.sweep.export_store import ExportStore
from tests.service.sweep.bulk_double import BASE, Answer, BulkDouble, ndjson, outcome
from tests.service.sweep.population import (
    SAMPLES_AT,
    bundle_resources,
    default_engine,
    findings_by_patient,
    read_ndjson,
    sample_bundles,
)

ENGINE = default_engine()
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-01-01"}


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def export(
    double: BulkDouble, root: Path, *, url: str = f"{BASE}/$export", since: str | None = None,
    sleeps: Sleeps | None = None, **client: object,
) -> ExportResult:  # fmt: skip
    async with httpx.AsyncClient(transport=double.transport()) as http:
        bulk = BulkExportClient(http, ExportStore(root), sleep=sleeps or Sleeps(), **client)  # type: ignore[arg-type]
        return await bulk.export(url, since=since, type_filters=(observation_filter(ENGINE.codesets),))


def params(double: BulkDouble, run: int = 0) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key, value in double.kickoff_params[run]:
        out[key].append(value)
    return dict(out)


async def test_the_export_waits_as_asked_through_202s_and_a_429_then_downloads_and_deletes_the_job(
    tmp_path: Path,
) -> None:
    double = BulkDouble(
        files={"Patient": ndjson([PATIENT])},
        answers=[
            Answer(202),
            Answer(202, {"Retry-After": "7", "X-Progress": "50%"}),
            Answer(429, {"Retry-After": "3"}, outcome("throttled", "slow down")),
        ],
    )
    sleeps = Sleeps()
    result = await export(double, tmp_path, sleeps=sleeps)
    assert sleeps.seconds == [1.0, 7.0, 3.0]
    assert double.polls == ["1"] * 4
    assert double.deleted == ["1"]
    assert [p.name for p in result.files] == ["Patient.ndjson"]
    assert read_ndjson(result.files[0]) == [PATIENT]
    assert result.transaction_time == "2026-01-15T11:00:00Z"
    assert result.layers == [result.files[0].parent]


async def test_retry_after_is_capped_and_without_it_the_wait_doubles(tmp_path: Path) -> None:
    double = BulkDouble(answers=[Answer(202)] * 4 + [Answer(202, {"Retry-After": "86400"})])
    sleeps = Sleeps()
    await export(double, tmp_path, sleeps=sleeps, first_wait=1.0, max_wait=5.0)
    assert sleeps.seconds == [1.0, 2.0, 4.0, 5.0, 5.0]


async def test_error_files_become_recorded_problems(tmp_path: Path) -> None:
    double = BulkDouble(
        files={"Patient": ndjson([PATIENT])},
        errors=[outcome("processing", "Observation/o9 could not be read"), outcome("too-costly", "partial")],
    )
    result = await export(double, tmp_path)
    assert result.errors == 2 and result.problems is not None
    problems = read_ndjson(result.problems)
    assert [(p["kind"], p["code"], p["detail"]) for p in problems] == [
        ("export-error", "processing", "Observation/o9 could not be read"),
        ("export-error", "too-costly", "partial"),
    ]


async def test_a_restarted_run_resumes_the_stored_status_url_without_a_new_kickoff(tmp_path: Path) -> None:
    double = BulkDouble(files={"Patient": ndjson([PATIENT])}, answers=[Answer(202)] * 3)
    with pytest.raises(BulkExportError, match="still running"):
        await export(double, tmp_path, max_polls=2)  # the process stops mid-poll
    state = orjson.loads((tmp_path / "state.json").read_bytes())
    assert state["sources"][f"{BASE}/$export"]["status_url"] == f"{BASE}/jobs/1"
    result = await export(double, tmp_path)  # a new process, a new client
    assert len(double.kickoffs) == 1
    assert double.polls == ["1"] * 4
    assert double.deleted == ["1"]
    assert read_ndjson(result.files[0]) == [PATIENT]


async def test_the_second_run_sends_since_and_sweeps_the_layers_together(tmp_path: Path) -> None:
    double = BulkDouble(
        files={"Patient": ndjson([PATIENT])},
        transaction_times=["2026-01-10T00:00:00Z", "2026-01-15T00:00:00Z", "2026-01-16T00:00:00Z"],
    )
    first = await export(double, tmp_path, since="auto")
    second = await export(double, tmp_path, since="auto")
    assert "_since" not in params(double, 0)
    assert params(double, 1)["_since"] == ["2026-01-10T00:00:00Z"]
    assert second.since == "2026-01-10T00:00:00Z"
    assert second.layers == [first.layers[0], second.files[0].parent]
    full = await export(double, tmp_path)  # a full export starts over
    assert full.layers == [full.files[0].parent]
    assert not first.layers[0].exists()


async def test_the_kickoff_asks_for_the_types_and_observation_codes_the_rules_read(tmp_path: Path) -> None:
    double = BulkDouble()
    await export(double, tmp_path, url=f"{BASE}/Group/g7")
    sent = params(double)
    assert sent["_outputFormat"] == ["application/fhir+ndjson"]
    assert sent["_type"] == [",".join(export_types("group"))]
    assert "Medication" not in sent["_type"][0].split(",")
    [type_filter] = sent["_typeFilter"]
    assert type_filter.startswith("Observation?code=")
    assert {"http://loinc.org|17861-6", "http://loinc.org|38267-1"} <= set(
        type_filter.split("=", 1)[1].split(",")
    )
    headers = double.kickoffs[0].headers
    assert (headers["prefer"], headers["accept"]) == ("respond-async", "application/fhir+json")
    assert str(double.kickoffs[0].url).startswith(f"{BASE}/Group/g7/$export?")


@pytest.mark.parametrize(
    ("url", "kickoff", "level"),
    [
        ("https://ehr.example/fhir", "https://ehr.example/fhir/$export", "system"),
        ("https://ehr.example/fhir/$export?_type=x", "https://ehr.example/fhir/$export", "system"),
        ("https://ehr.example/fhir/Patient/", "https://ehr.example/fhir/Patient/$export", "patient"),
        ("https://ehr.example/fhir/Group/42/$export", "https://ehr.example/fhir/Group/42/$export", "group"),
    ],
)
def test_the_export_level_follows_the_url(url: str, kickoff: str, level: str) -> None:
    assert kickoff_url(url) == kickoff
    assert export_level(url) == level
    assert ("Medication" in export_types(export_level(url))) == (level == "system")


@pytest.mark.parametrize("required", [True, False])
async def test_files_are_fetched_with_the_bearer_token_only_when_the_manifest_requires_it(
    tmp_path: Path, required: bool
) -> None:
    double = BulkDouble(files={"Patient": ndjson([PATIENT])}, requires_token=required, token="s3cret")
    await export(double, tmp_path, auth=StaticBearer("s3cret"))
    assert double.file_auth == ["Bearer s3cret" if required else None]
    assert double.kickoffs[0].headers["authorization"] == "Bearer s3cret"


async def test_a_transient_server_error_while_polling_is_waited_out(tmp_path: Path) -> None:
    double = BulkDouble(answers=[Answer(503, {}, outcome("transient", "busy")), Answer(502)])
    sleeps = Sleeps()
    await export(double, tmp_path, sleeps=sleeps)
    assert sleeps.seconds == [1.0, 2.0]
    assert double.deleted == ["1"]


async def test_a_failed_export_is_reported_and_the_next_run_starts_a_new_one(tmp_path: Path) -> None:
    double = BulkDouble(answers=[Answer(500, {}, outcome("processing", "export failed: disk full"))])
    with pytest.raises(BulkExportError, match="disk full"):
        await export(double, tmp_path)
    assert (
        "status_url" not in orjson.loads((tmp_path / "state.json").read_bytes())["sources"][f"{BASE}/$export"]
    )
    await export(double, tmp_path)
    assert len(double.kickoffs) == 2


async def test_a_refused_kickoff_says_why(tmp_path: Path) -> None:
    double = BulkDouble(
        kickoff_answer=Answer(400, {}, outcome("not-supported", "_typeFilter is not supported"))
    )
    with pytest.raises(BulkExportError, match="kick-off answered 400: _typeFilter is not supported"):
        await export(double, tmp_path)


def test_osteoalert_sweep_export_sweeps_what_the_server_exported(tmp_path: Path) -> None:
    by_type: dict[str, list[dict[str, object]]] = defaultdict(list)
    for data in sample_bundles().values():
        for r in bundle_resources(orjson.loads(data)):
            by_type[r["resourceType"]].append(r)
    double = BulkDouble(files={t: ndjson(rs) for t, rs in by_type.items()})
    settings = Settings(sweep_export_dir=tmp_path / "exports")
    request = SweepRequest(out=tmp_path / "out", at=SAMPLES_AT, export_url=f"{BASE}/$export", workers=1)
    stderr = io.StringIO()
    result = run_sweep_command(settings, ENGINE, request, stderr=stderr, transport=double.transport())
    assert result.sweep.outputs.tally.patients == 45
    assert findings_by_patient(tmp_path / "out")
    assert "exported" in stderr.getvalue() and double.deleted == ["1"]


async def test_only_http_urls_are_exported(tmp_path: Path) -> None:
    with pytest.raises(BulkExportError, match="not an http"):
        await export(BulkDouble(), tmp_path, url="file:///etc/$export")
