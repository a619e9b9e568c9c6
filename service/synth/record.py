"""The writing half of a synthetic patient: ids, instants, the Patient, medications, conditions and
procedures, each written straight away as one NDJSON line (`Record.lines`, by type in `TYPES` order).

Every choice comes from the patient's own `random.Random`, so a patient is a pure function of
(seed, index, T). Shared JSON fragments (codes, categories) are built once in `codes` and only
referenced here, so writing a line is one small dict and one `orjson.dumps`.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

from service.synth import codes
from service.synth.codes import UCUM, Json

TYPES = (
    "Patient", "Observation", "DiagnosticReport", "MedicationRequest", "MedicationStatement",
    "MedicationAdministration", "Condition", "Procedure",
)  # fmt: skip
PATIENT, OBSERVATION, REPORT, REQUEST, STATEMENT, ADMINISTRATION, CONDITION, PROCEDURE = range(8)
DAY = 86400


class Clock:
    """FHIR dateTime text for instants before T, with the date part cached per day."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(UTC)
        self.t = int(self.at.timestamp())
        self._dates: dict[int, str] = {}

    def date(self, seconds_before: int) -> str:
        day = (self.t - seconds_before) // DAY
        text = self._dates.get(day)
        if text is None:
            text = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")
            self._dates[day] = text
        return text

    def stamp(self, seconds_before: int) -> str:
        rest = (self.t - seconds_before) % DAY
        return f"{self.date(seconds_before)}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:00Z"


def quantity(value: float, unit: str, ucum: str) -> Json:
    return {"value": value, "unit": unit, "system": UCUM, "code": ucum}


def rounded(value: float, decimals: int) -> float | int:
    return round(value) if decimals == 0 else round(value, decimals)


class Record:
    """One patient's resources as NDJSON lines; `Chart` adds laboratory results and DXA."""

    __slots__ = ("age", "archetype", "clock", "lines", "n", "pid", "rng", "sex", "subject")

    def __init__(self, rng: random.Random, clock: Clock, pid: str, archetype: str) -> None:
        self.archetype = archetype
        self.rng = rng
        self.clock = clock
        self.pid = pid
        self.subject = {"reference": f"Patient/{pid}"}
        self.lines: list[list[bytes]] = [[] for _ in TYPES]
        self.n = 0
        self.age = 0
        self.sex = "female"

    def _id(self) -> str:
        self.n += 1
        return f"{self.pid}-{self.n}"

    def _put(self, kind: int, resource: Json) -> None:
        self.lines[kind].append(orjson.dumps(resource, option=orjson.OPT_APPEND_NEWLINE))

    def seconds(self, days_ago: float, spread_hours: int = 6) -> int:
        """Seconds before T: `days_ago` plus up to `spread_hours` earlier (never after T)."""
        return int(days_ago * DAY) + self.rng.randrange(spread_hours * 3600 + 1)

    # ---- Patient ---------------------------------------------------------------------------
    def patient(
        self, age: int, sex: str, *, deceased_days: float | None = None, deceased_flag: bool = False
    ) -> None:
        self.age, self.sex = age, sex
        at = self.clock.at.date()
        try:
            anniversary = at.replace(year=at.year - age)
        except ValueError:  # 29 February
            anniversary = at.replace(year=at.year - age, day=28)
        born = anniversary - timedelta(days=self.rng.randint(1, 364))  # whole years = age at T
        resource: Json = {
            "resourceType": "Patient",
            "id": self.pid,
            "meta": {"tag": [{"system": codes.ARCHETYPE_SYSTEM, "code": self.archetype}]},
            "identifier": [{"system": "urn:osteoalert:synth-mrn", "value": self.pid[:8].upper()}],
            "gender": sex,
            "birthDate": born.isoformat(),
        }
        if deceased_flag:
            resource["deceasedBoolean"] = True
        elif deceased_days is not None:
            resource["deceasedDateTime"] = self.clock.stamp(self.seconds(deceased_days))
        self._put(PATIENT, resource)

    def procedure(self, code: Json, days_ago: float) -> None:
        self._put(
            PROCEDURE,
            {
                "resourceType": "Procedure",
                "id": self._id(),
                "status": "completed",
                "code": code,
                "subject": self.subject,
                "performedDateTime": self.clock.stamp(self.seconds(days_ago, spread_hours=4)),
            },
        )

    # ---- medications -----------------------------------------------------------------------
    def _dosage(self, dose_mg: float | None, every_days: int, route: str | None, per_day: int = 1) -> Json:
        dosage: Json = {}
        if dose_mg is not None:
            how = "once daily" if every_days == 1 and per_day == 1 else (
                f"{per_day} times daily" if every_days == 1 else f"every {every_days} days"
            )  # fmt: skip
            dosage["text"] = f"{dose_mg:g} mg {how}"
            dosage["timing"] = {"repeat": {"frequency": per_day, "period": every_days, "periodUnit": "d"}}
        if route is not None:
            dosage["route"] = codes.ROUTES[route]
        if dose_mg is not None:
            dosage["doseAndRate"] = [{"doseQuantity": quantity(dose_mg, "mg", "mg")}]
        return dosage

    def med(
        self, drug: str, since_days: float, *, dose_mg: float | None = None, every_days: int = 1,
        per_day: int = 1, route: str | None = "oral", status: str = "active",
        ended_days_ago: float | None = None, statement: bool | None = None,
    ) -> None:  # fmt: skip
        """A MedicationRequest (order), or sometimes a MedicationStatement, for one ingredient."""
        start = self.seconds(since_days, spread_hours=10)
        dosage = self._dosage(dose_mg, every_days, route, per_day)
        if ended_days_ago is not None:
            end = self.clock.stamp(self.seconds(ended_days_ago, spread_hours=2))
            dosage.setdefault("timing", {"repeat": {}})["repeat"]["boundsPeriod"] = {
                "start": self.clock.stamp(start),
                "end": end,
            }
        if statement is None:
            statement = self.rng.random() < 0.2
        if statement:
            period = {"start": self.clock.stamp(start)}
            if ended_days_ago is not None:
                period["end"] = dosage["timing"]["repeat"]["boundsPeriod"]["end"]
            stmt: Json = {
                "resourceType": "MedicationStatement",
                "id": self._id(),
                "status": status if status != "stopped" else "completed",
                "medicationCodeableConcept": codes.DRUGS[drug],
                "subject": self.subject,
                "effectivePeriod": period,
                "dateAsserted": self.clock.stamp(start),
            }
            if dosage:
                stmt["dosage"] = [dosage]
            self._put(STATEMENT, stmt)
            return
        request: Json = {
            "resourceType": "MedicationRequest",
            "id": self._id(),
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": codes.DRUGS[drug],
            "subject": self.subject,
            "authoredOn": self.clock.stamp(start),
        }
        if dosage:
            request["dosageInstruction"] = [dosage]
        if status == "active" and dose_mg is not None:
            supply = 90 if every_days == 1 else 84
            request["dispenseRequest"] = {
                "numberOfRepeatsAllowed": self.rng.randint(1, 5),
                "expectedSupplyDuration": quantity(supply, "days", "d"),
            }
        self._put(REQUEST, request)

    def administration(self, drug: str, days_ago: float, dose_mg: float, route: str) -> None:
        """An injection given in clinic (denosumab, zoledronic acid, leuprolide: RULES.md 1.3)."""
        self._put(
            ADMINISTRATION,
            {
                "resourceType": "MedicationAdministration",
                "id": self._id(),
                "status": "completed",
                "medicationCodeableConcept": codes.DRUGS[drug],
                "subject": self.subject,
                "effectiveDateTime": self.clock.stamp(self.seconds(days_ago, spread_hours=8)),
                "dosage": {"route": codes.ROUTES[route], "dose": quantity(dose_mg, "mg", "mg")},
            },
        )

    # ---- conditions ------------------------------------------------------------------------
    def condition(
        self, code: str, *, onset_days: float | None = None, clinical: str = "active",
        verification: str = "confirmed",
    ) -> None:  # fmt: skip
        onset = onset_days if onset_days is not None else self.rng.uniform(30, 3000)
        when = self.seconds(onset, spread_hours=10)
        undotted = codes.UNDOTTED_CODES.get(code) if self.rng.random() < 0.1 else None
        self._put(
            CONDITION,
            {
                "resourceType": "Condition",
                "id": self._id(),
                "clinicalStatus": codes.CLINICAL_STATUS[clinical],
                "verificationStatus": codes.VERIFICATION_STATUS[verification],
                "category": codes.PROBLEM_LIST,
                "code": undotted or codes.CONDITION_CODES[code],
                "subject": self.subject,
                "onsetDateTime": self.clock.stamp(when),
                "recordedDate": self.clock.stamp(when),
            },
        )
