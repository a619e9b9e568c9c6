"""Findings as a readable table for a clinician (`osteoalert evaluate --format text`)."""

from __future__ import annotations

import textwrap
from collections import Counter

from rules import EvaluationResult
from rules.windows import fmt_date, fmt_num

_WIDTH = 100


def result_to_text(result: EvaluationResult) -> str:
    at = result.at.isoformat().replace("+00:00", "Z")
    lines = [f"{result.patient}   at {at}   hook {result.hook}", ""]
    if not result.findings:
        lines.append("No findings.")
    for f in sorted(result.findings, key=lambda f: (-f.indicator.rank, f.rule_id)):
        variant = f" [{f.variant}]" if f.variant else ""
        lines.append(f"{f.indicator.value.upper():<9}{f.rule_id}{variant}")
        lines += textwrap.wrap(f.summary, _WIDTH, initial_indent="  ", subsequent_indent="  ")
        for e in f.evidence:
            reported = "" if e.value is None else f"{fmt_num(e.value)} {e.unit}".strip()
            normalised = (
                ""
                if e.normalised_value is None or e.normalised_unit == e.unit
                else f" (= {fmt_num(e.normalised_value)} {e.normalised_unit})"
            )
            when = f" on {fmt_date(e.effective)}" if e.effective else ""
            lines.append(f"    - {e.label}: {reported}{normalised}{when}")
            if e.note:
                lines.append(f"      {e.note}")
        for s in f.suggestions:
            lines.append(f"    > {s.label}")
        for r in f.references:
            lines.append(f"    source: {r.label}")
        lines.append("")
    if result.failures:
        lines.append("Rule failures (reported, other rules still ran):")
        lines += [f"  {x.rule_id}: {x.error}" for x in result.failures]
    if result.ignored:
        reasons = Counter(i.reason for i in result.ignored)
        summary = ", ".join(f"{reason} x{n}" for reason, n in sorted(reasons.items()))
        lines.append(f"Ignored {len(result.ignored)} resource(s): {summary}")
    return "\n".join(lines).rstrip() + "\n"
