"""One synthetic patient's record, written straight to NDJSON lines: laboratory results and DXA.

A `Chart` is filled by an archetype (`service.synth.archetypes_*`) with values in canonical units
(mg/dL calcium, g/dL albumin, pg/mL PTH, ng/mL 25-OH D, ...); it picks, per result, one of the ways
labs report the analyte (`codes.LABS`: mass or molar code and unit, with or without a reference
range) and writes the value in that unit.
"""

from __future__ import annotations

from service.synth import codes
from service.synth.codes import Json
from service.synth.record import DAY, OBSERVATION, REPORT, Record, quantity, rounded

_VOID_STATUSES = ("preliminary", "entered-in-error", "cancelled", "registered")


class Chart(Record):
    """A patient's record with its laboratory results and bone density scans."""

    __slots__ = ()

    # ---- laboratory ------------------------------------------------------------------------
    def _observation(
        self, name: str, value: float, when: int, status: str, variant: codes.LabVariant | None = None
    ) -> str:
        if variant is None:
            choices = codes.LABS[name]
            variant = choices[0] if self.rng.random() < 0.6 else self.rng.choice(choices)
        reported = rounded(value * variant.factor, variant.decimals)
        oid = self._id()
        obs: Json = {
            "resourceType": "Observation",
            "id": oid,
            "status": status,
            "category": codes.LAB_CATEGORY,
            "code": variant.code,
            "subject": self.subject,
            "effectiveDateTime": self.clock.stamp(when),
            "issued": self.clock.stamp(when - 3 * 3600) if when > 4 * 3600 else self.clock.stamp(when),
            "valueQuantity": quantity(reported, variant.unit, variant.ucum),
        }
        if variant.range is not None and self.rng.random() < 0.35:
            low, high = variant.range
            flag = "H" if reported > high else "L" if reported < low else "N"
            obs["interpretation"] = codes.INTERPRETATION[flag]
            obs["referenceRange"] = [
                {
                    "low": quantity(low, variant.unit, variant.ucum),
                    "high": quantity(high, variant.unit, variant.ucum),
                }
            ]
        self._put(OBSERVATION, obs)
        return oid

    def draw(self, days_ago: float, **values: float) -> None:
        """One blood draw (same instant for all results), sometimes grouped by a lab report."""
        when = self.seconds(days_ago)
        ids = []
        for name, value in values.items():
            roll = self.rng.random()
            status = "amended" if roll < 0.02 else "corrected" if roll < 0.04 else "final"
            ids.append(self._observation(name, value, when, status))
        if len(ids) > 1 and self.rng.random() < 0.5:
            self._report(self.rng.choice(codes.LAB_REPORTS), when, ids, codes.REPORT_LAB)

    def urine_calcium(self, days_ago: float, mg_per_day: float) -> None:
        """24-h urine calcium: effectivePeriod of the collection (RULES.md 1.2 item 6)."""
        end = self.seconds(days_ago)
        variant = self.rng.choice(codes.LABS["UCA24"])
        obs: Json = {
            "resourceType": "Observation",
            "id": self._id(),
            "status": "final",
            "category": codes.LAB_CATEGORY,
            "code": variant.code,
            "subject": self.subject,
            "effectivePeriod": {"start": self.clock.stamp(end + DAY), "end": self.clock.stamp(end)},
            "valueQuantity": quantity(
                rounded(mg_per_day * variant.factor, variant.decimals), variant.unit, variant.ucum
            ),
        }
        self._put(OBSERVATION, obs)

    def void_lab(self, name: str, value: float, days_ago: float) -> None:
        """A result with a status the rules ignore (1.2 item 1): it must change nothing."""
        self._observation(name, value, self.seconds(days_ago), self.rng.choice(_VOID_STATUSES))

    def other_labs(self, days_ago: float, count: int) -> None:
        """Results with LOINC codes no rule reads (glucose, haemoglobin, ...)."""
        when = self.seconds(days_ago)
        for code, unit, ucum, low, high, decimals in self.rng.sample(codes.OTHER_LABS, count):
            value = rounded(self.rng.uniform(low, high), decimals)
            self._put(
                OBSERVATION,
                {
                    "resourceType": "Observation",
                    "id": self._id(),
                    "status": "final",
                    "category": codes.LAB_CATEGORY,
                    "code": code,
                    "subject": self.subject,
                    "effectiveDateTime": self.clock.stamp(when),
                    "valueQuantity": quantity(value, unit, ucum),
                },
            )

    def vitals(self, days_ago: float) -> None:
        """One visit's vital signs (weight, BMI, heart rate, a blood-pressure panel with its two
        components), as EHRs record them at every encounter; no rule reads them."""
        when = self.clock.stamp(self.seconds(days_ago, spread_hours=9))
        r = self.rng
        weight = r.uniform(50, 110) if self.age >= 18 else r.uniform(20, 60)
        values = (
            (codes.VITALS["weight"], round(weight, 1), "kg", "kg"),
            (codes.VITALS["bmi"], round(weight / r.uniform(2.6, 3.6), 1), "kg/m2", "kg/m2"),
            (codes.VITALS["heart-rate"], r.randint(55, 100), "/min", "/min"),
        )
        for code, value, unit, ucum in values:
            self._put(OBSERVATION, self._vital(code, when) | {"valueQuantity": quantity(value, unit, ucum)})
        systolic, diastolic = r.randint(100, 165), r.randint(60, 98)
        components = [
            {"code": codes.VITALS["systolic"], "valueQuantity": quantity(systolic, "mm[Hg]", "mm[Hg]")},
            {"code": codes.VITALS["diastolic"], "valueQuantity": quantity(diastolic, "mm[Hg]", "mm[Hg]")},
        ]
        self._put(OBSERVATION, self._vital(codes.VITALS["bp"], when) | {"component": components})

    def _vital(self, code: Json, when: str) -> Json:
        return {
            "resourceType": "Observation",
            "id": self._id(),
            "status": "final",
            "category": codes.VITAL_CATEGORY,
            "code": code,
            "subject": self.subject,
            "effectiveDateTime": when,
        }

    def _report(self, code: Json, when: int, ids: list[str], cat: list[Json]) -> None:
        self._put(
            REPORT,
            {
                "resourceType": "DiagnosticReport",
                "id": self._id(),
                "status": "final",
                "category": cat,
                "code": code,
                "subject": self.subject,
                "effectiveDateTime": self.clock.stamp(when),
                "issued": self.clock.stamp(max(when - 3600, 0)),
                "result": [{"reference": f"Observation/{i}"} for i in ids],
            },
        )

    # ---- DXA -------------------------------------------------------------------------------
    def dxa(self, days_ago: float, **scores: float) -> None:
        """One DXA: `dxa(200, T_LS=-1.8, Z_TH=-1.5)`; sometimes with a BMD, a DXA report and a
        DXA Procedure, as imaging systems write them (RULES.md 2.2)."""
        when = self.seconds(days_ago, spread_hours=4)
        stamp = self.clock.stamp(when)
        ids = []
        for key, value in scores.items():
            kind, site = key.split("_")
            unit = self.rng.choice(("1", f"{{{kind}-score}}"))
            ids.append(self._id())
            self._put(
                OBSERVATION,
                {
                    "resourceType": "Observation",
                    "id": ids[-1],
                    "status": "final",
                    "category": codes.IMAGING_CATEGORY,
                    "code": codes.DXA[(kind, site)],
                    "subject": self.subject,
                    "effectiveDateTime": stamp,
                    "valueQuantity": quantity(round(value, 1), unit, unit),
                },
            )
        if self.rng.random() < 0.4:
            ids.append(self._id())
            bmd = round(self.rng.uniform(0.7, 1.2), 3)
            self._put(
                OBSERVATION,
                {
                    "resourceType": "Observation",
                    "id": ids[-1],
                    "status": "final",
                    "category": codes.IMAGING_CATEGORY,
                    "code": codes.DXA_BMD_LS,
                    "subject": self.subject,
                    "effectiveDateTime": stamp,
                    "valueQuantity": quantity(bmd, "g/cm2", "g/cm2"),
                },
            )
        if self.rng.random() < 0.5:
            self._report(codes.DXA_REPORT, when, ids, codes.REPORT_IMAGING)
        if self.rng.random() < 0.5:
            self.procedure(self.rng.choice(codes.DXA_PROCEDURES), days_ago)
