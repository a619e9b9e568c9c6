"""Turning what a rule found into a `Finding`: evidence rows, markdown detail, bounded summaries."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from rules.calcium_state import CaKind, CalciumReading
from rules.facts import Facts
from rules.findings import Evidence, Finding, Indicator, Reference, Suggestion
from rules.snapshot import ConditionRecord, DxaScore, LabResult, MedicationExposure
from rules.windows import fmt_date, fmt_num

SUMMARY_LIMIT = 140  # CDS Hooks: summary < 140 characters

LABELS = {
    "CA_TOTAL": "Calcium (total)",
    "CA_LABCORR": "Calcium (lab-corrected)",
    "CA_ION": "Calcium (ionized)",
    "ALBUMIN": "Albumin",
    "PTH": "Intact PTH",
    "VITD_TOTAL": "25-OH vitamin D",
    "VITD_D3": "25-OH vitamin D3",
    "VITD_D2": "25-OH vitamin D2",
    "VITD_LEGACY": "Vitamin D (legacy assay)",
    "PHOS": "Phosphate",
    "MG": "Magnesium",
    "CREAT": "Creatinine",
    "EGFR": "eGFR",
    "TSH": "TSH",
    "UCA24": "24-h urine calcium",
}


def lab_evidence(lab: LabResult, label: str | None = None, note: str = "") -> Evidence:
    return Evidence(
        reference=lab.reference,
        label=label or LABELS.get(lab.analyte.value, lab.analyte.value),
        value=lab.reported_value,
        unit=lab.reported_unit,
        normalised_value=round(lab.value, 4),
        normalised_unit=lab.unit,
        effective=lab.effective,
        note=note,
    )


def calcium_evidence(reading: CalciumReading) -> list[Evidence]:
    """The calcium row (with the corrected value) and, when corrected, the albumin used."""
    lab = reading.result
    rows: list[Evidence] = []
    if reading.kind is CaKind.CORRECTED and reading.albumin is not None:
        note = (
            f"albumin-corrected (Payne): {fmt_num(reading.value)} {reading.unit} "
            f"with albumin {fmt_num(reading.albumin.value)} g/dL"
        )
        rows.append(
            Evidence(
                reference=lab.reference,
                label="Calcium (total, corrected for albumin)",
                value=lab.reported_value,
                unit=lab.reported_unit,
                normalised_value=round(reading.value, 4),
                normalised_unit=reading.unit,
                effective=lab.effective,
                note=note,
            )
        )
        rows.append(lab_evidence(reading.albumin))
    else:
        label = f"Calcium ({reading.kind.value})"
        rows.append(lab_evidence(lab, label))
    return rows


def medication_evidence(
    m: MedicationExposure,
    label: str | None = None,
    *,
    name: str | None = None,
    note: str = "",
    with_dose: bool = False,
) -> Evidence:
    """`{label}: {name}` dated at the start; label "Draft order"/"Medication" and the record's display
    unless given; `with_dose` shows the daily dose in mg/day."""
    dose = m.daily_dose_mg if with_dose else None
    return Evidence(
        reference=m.reference,
        label=f"{label or ('Draft order' if m.is_draft else 'Medication')}: {name or m.display}",
        value=dose,
        unit="mg/day" if dose is not None else "",
        effective=m.start,
        note=note,
    )


def condition_evidence(c: ConditionRecord, label: str = "Condition") -> Evidence:
    """`{label}: {display}` (the codes when there is no display), dated at the onset."""
    return Evidence(
        reference=c.reference, label=f"{label}: {c.display or ', '.join(c.codes)}", effective=c.onset
    )


def coded_condition_evidence(c: ConditionRecord) -> Evidence:
    """A diagnosis with its codes and whether it is active or history (osteoporosis basis, dialysis)."""
    code = ", ".join(c.codes)
    label = f"Condition {c.display}" if c.display and c.display != code else "Condition"
    return Evidence(
        reference=c.reference,
        label=f"{label} ({code})" if code else label,
        effective=c.onset,
        note="active" if c.active else "history",
    )


def ckd_evidence(facts: Facts) -> list[Evidence]:
    """What the CKD stage (3.6) rests on: the CKD and dialysis Conditions and the latest eGFR."""
    records = {c.reference: c for c in facts.conditions("CKD") + facts.conditions("DIALYSIS")}
    rows = [condition_evidence(c) for c in records.values()]
    egfr = facts.latest_egfr()
    if egfr is not None:
        rows.extend(lab_evidence(lab) for lab in egfr.source)
    return rows


def dxa_evidence(score: DxaScore) -> Evidence:
    return Evidence(
        reference=score.reference,
        label=f"DXA {score.kind}-score {score.site.value}",
        value=score.value,
        unit=score.reported_unit,
        normalised_value=score.value,
        normalised_unit="1",
        effective=score.effective,
    )


def calcium_display(reading: CalciumReading) -> tuple[str, str]:
    """(value, unit) for a summary: the value compared, in the unit the lab reported."""
    reported_unit = reading.result.reported_unit
    canonical = reading.unit
    if reading.kind is CaKind.CORRECTED:
        # Corrected values are shown in the reported unit when it is mmol/L, else mg/dL.
        if reported_unit.lower().startswith("mmol"):
            return fmt_num(reading.value / 4.008), reported_unit
        return fmt_num(reading.value), canonical
    return fmt_num(reading.result.reported_value), reported_unit or canonical


def lab_display(lab: LabResult) -> tuple[str, str]:
    """(value, unit) as the lab reported them, for a card summary."""
    return fmt_num(lab.reported_value), lab.reported_unit or lab.unit


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def unique_suggestions(*groups: Iterable[Suggestion]) -> list[Suggestion]:
    """The suggestions of all groups in order, exact repeats dropped (several items may ask for the
    same test); equality is on every field, so cancelling two drafts of one drug keeps both."""
    return list(dict.fromkeys(s for group in groups for s in group))


def _cell(value: float | None, unit: str) -> str:
    return "" if value is None else f"{fmt_num(value)} {unit}".strip()


def detail_markdown(
    why: str,
    evidence: Sequence[Evidence],
    references: Sequence[Reference],
    notes: Sequence[str] = (),
) -> str:
    lines = [why, ""]
    if evidence:
        lines += [
            "| Data | Reported | Normalised | Date | Source |",
            "|---|---|---|---|---|",
        ]
        for e in evidence:
            date = fmt_date(e.effective) if e.effective else ""
            lines.append(
                f"| {e.label} | {_cell(e.value, e.unit)} | "
                f"{_cell(e.normalised_value, e.normalised_unit)} | {date} | {e.reference} |"
            )
            if e.note:
                lines.append(f"| ↳ {e.note} | | | | |")
        lines.append("")
    for note in notes:
        lines.append(f"- {note}")
    if notes:
        lines.append("")
    if references:
        lines.append("Guideline: " + "; ".join(f"[{r.label}]({r.url})" for r in references))
    return "\n".join(lines).strip()


def bounded_summary(render: Callable[[str], str], items: Sequence[str]) -> str:
    """Render with the full list, shortening to leading items + `+N more` until < 140 characters."""
    for keep in range(len(items), 0, -1):
        shown = ", ".join(items[:keep])
        if keep < len(items):
            shown += f" +{len(items) - keep} more"
        text = render(shown)
        if len(text) < SUMMARY_LIMIT:
            return text
    return render(f"{len(items)} items")[: SUMMARY_LIMIT - 1]


def make_finding(
    rule_id: str,
    indicator: Indicator,
    summary: str,
    why: str,
    evidence: Sequence[Evidence],
    references: Sequence[Reference],
    suggestions: Sequence[Suggestion] = (),
    *,
    variant: str | None = None,
    notes: Sequence[str] = (),
    data: dict[str, str] | None = None,
) -> Finding:
    if len(summary) >= SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 2] + "…"
    index_key = "|".join(sorted({e.reference for e in evidence})) + (f"#{variant}" if variant else "")
    return Finding(
        rule_id=rule_id,
        indicator=indicator,
        summary=summary,
        detail=detail_markdown(why, evidence, references, notes),
        variant=variant,
        evidence=tuple(evidence),
        suggestions=tuple(suggestions),
        references=tuple(references),
        index_key=index_key,
        data=dict(data or {}),
    )
