"""report.html: one self-contained page (inline CSS and SVG; no script, no font, nothing fetched).

What a population-health clinician looks for first: how many patients are flagged, for what, how
urgent, and who they are (age and sex). Every number is also in measure_report.json and
summary.json; every patient is in worklist.csv.
"""

from __future__ import annotations

from html import escape

from rules.scope import ALL_RULE_IDS
from service.adapters.cds_cards import rule_title
from service.sweep.tally import AGE_BANDS, BATCH_RULES, UNDER_18, UNKNOWN_AGE, SweepInfo, Tally, per_thousand

COLOURS = {"critical": "#c62828", "warning": "#e08600", "info": "#1f6fb5"}
INDICATORS = ("critical", "warning", "info")
SEX_COLOURS = {"female": ("#f3c6d6", "#b0306a"), "male": ("#c8dcf2", "#1f5fa0")}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2430;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 6px}
p.sub{color:#5a6472;margin:0 0 20px}p.note{color:#5a6472;font-size:13px;margin:6px 0}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(128px,1fr));gap:12px}
.tile{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.tile b{display:block;font-size:28px;margin-top:2px}.tile span{color:#5a6472;font-size:13px}
.tile.critical{border-top:4px solid #c62828}.tile.warning{border-top:4px solid #e08600}
.tile.info{border-top:4px solid #1f6fb5}
.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
svg text{font-family:inherit;font-size:13px;fill:#1d2430}svg .muted{fill:#5a6472}
table{border-collapse:collapse;width:100%;background:#fff;font-size:14px}
th,td{padding:6px 10px;border-bottom:1px solid #e4e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#eef1f4}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
"""


def _n(value: int) -> str:
    return f"{value:,}"


def _rate(n: int, of: int) -> str:
    return f"{per_thousand(n, of):,.1f}"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, colour: str, tip: str = "") -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    box = f'x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h}"'
    return f'<rect {box} fill="{colour}" rx="2">{title}</rect>'


def rule_rows(tally: Tally) -> list[tuple[str, dict[str, int], int]]:
    """(rule id, indicator counts, total), most frequent first, then in RULES.md order."""
    rules = list(BATCH_RULES) + sorted(set(tally.findings) - set(BATCH_RULES))
    rows = [(r, dict(tally.findings.get(r, {})), sum(tally.findings.get(r, {}).values())) for r in rules]
    order = {r: i for i, r in enumerate(ALL_RULE_IDS)}
    return sorted(rows, key=lambda row: (-row[2], order.get(row[0], len(order)), row[0]))


def rules_chart(tally: Tally) -> str:
    rows = rule_rows(tally)
    left, bar, row_h, top = 440, 330, 30, 8
    peak = max((total for _, _, total in rows), default=0) or 1
    body = []
    for i, (rule, counts, total) in enumerate(rows):
        y = top + i * row_h
        body.append(_text(left - 10, y + 19, rule_title(rule), "end", "" if total else "muted"))
        x = float(left)
        for ind in INDICATORS:
            w = bar * counts.get(ind, 0) / peak
            if w:
                body.append(_rect(x, y + 5, w, 20, COLOURS[ind], f"{rule}: {counts[ind]} {ind}"))
                x += w
        label = f"{_n(total)} · {_rate(total, tally.eligible)} per 1,000"
        body.append(_text(x + 8, y + 19, label, cls="" if total else "muted"))
    height = top + len(rows) * row_h + 6
    return _svg(left + bar + 190, height, "Patients flagged per rule, by indicator", body)


def _band_row(tally: Tally, band: str, sex: str) -> tuple[int, int]:
    row = tally.demographics.get(f"{band}|{sex}", [0, 0, 0])
    return row[1], row[2]  # eligible, with findings


def pyramid_chart(tally: Tally) -> str:
    """Female to the left, male to the right; light = eligible patients, dark = flagged."""
    mid, half, gap, row_h, top = 460, 250, 46, 34, 30
    peak = max((_band_row(tally, b, s)[0] for b in AGE_BANDS for s in SEX_COLOURS), default=0) or 1
    body = [
        _text(mid - gap - half, 16, "Women", cls="muted"),
        _text(mid + gap + half, 16, "Men", "end", "muted"),
    ]
    for i, band in enumerate(reversed(AGE_BANDS)):
        y = top + i * row_h
        body.append(_text(mid, y + 18, band, "middle"))
        for sex, sign in (("female", -1), ("male", 1)):
            eligible, flagged = _band_row(tally, band, sex)
            light, dark = SEX_COLOURS[sex]
            for value, colour in ((eligible, light), (flagged, dark)):
                w = half * value / peak
                x = mid - gap - w if sign < 0 else mid + gap
                tip = f"{sex} {band}: {flagged} of {eligible} flagged"
                body.append(_rect(x, y + 4, w, 22, colour, tip))
            share = f"{100 * flagged / eligible:.0f}%" if eligible else "–"
            label = f"{_n(flagged)} of {_n(eligible)} · {share}"
            edge = half * eligible / peak + 6
            lx = mid - gap - edge if sign < 0 else mid + gap + edge
            body.append(_text(lx, y + 19, label, "end" if sign < 0 else "start", "muted"))
    height = top + len(AGE_BANDS) * row_h + 4
    return _svg(2 * mid, height, "Eligible and flagged patients by age band and sex", body)


def rate_chart(tally: Tally) -> str:
    """Patients with at least one finding per 1,000 eligible patients, by age band."""
    left, width, height, top = 50, 640, 150, 22
    rates = []
    for band in AGE_BANDS:
        rows = [
            tally.demographics.get(f"{band}|{s}", [0, 0, 0]) for s in ("female", "male", "other", "unknown")
        ]
        rates.append((band, per_thousand(sum(r[2] for r in rows), sum(r[1] for r in rows))))
    peak = max((r for _, r in rates), default=0.0) or 1.0
    slot = width / len(rates)
    body = [
        f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#9aa3ad"/>'
    ]
    for i, (band, rate) in enumerate(rates):
        h = height * rate / peak
        x = left + i * slot + slot * 0.2
        body.append(
            _rect(x, top + height - h, slot * 0.6, round(h, 1), "#3c7d6e", f"{band}: {rate:.1f} per 1,000")
        )
        body.append(_text(x + slot * 0.3, top + height - h - 6, f"{rate:,.1f}", "middle"))
        body.append(_text(x + slot * 0.3, top + height + 18, band, "middle", "muted"))
    return _svg(left + width + 20, top + height + 28, "Flagged patients per 1,000 by age band", body)


def _tiles(tally: Tally) -> str:
    totals = {ind: sum(c.get(ind, 0) for c in tally.findings.values()) for ind in INDICATORS}
    tiles = [
        ("", _n(tally.patients), "patients swept"),
        ("", _n(tally.eligible), "eligible (alive adults)"),
        ("", _n(tally.with_findings), f"flagged · {_rate(tally.with_findings, tally.eligible)} per 1,000"),
        ("", _n(tally.total_findings), "findings"),
    ] + [(ind, _n(totals[ind]), ind) for ind in INDICATORS]
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile {cls}"><span>{escape(label)}</span><b>{value}</b></div>'
            for cls, value, label in tiles
        )
        + "</div>"
    )


def _table(tally: Tally) -> str:
    names = ("Rule", "Critical", "Warning", "Info", "Patients", "Per 1,000")
    head = "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    rows = [
        f"<tr><td>{escape(rule_title(rule))} <code>{escape(rule)}</code></td>"
        + "".join(f"<td>{_n(counts.get(ind, 0))}</td>" for ind in INDICATORS)
        + f"<td>{_n(total)}</td><td>{_rate(total, tally.eligible)}</td></tr>"
        for rule, counts, total in rule_rows(tally)
    ]
    return f"<table>{head}{''.join(rows)}</table>"


def _quality(tally: Tally, problems: int) -> str:
    outside = sum(v[0] for k, v in tally.demographics.items() if k.split("|")[0] in (UNDER_18, UNKNOWN_AGE))
    other_sex = sum(v[1] for k, v in tally.demographics.items() if k.split("|")[1] in ("other", "unknown"))
    items = [
        f"{_n(tally.bad_patients)} patient(s) could not be evaluated; "
        f"{_n(tally.rule_failures)} rule failure(s); {_n(problems)} problem(s) recorded in problems.ndjson.",
        f"{_n(outside)} patient(s) under 18 or of unknown age (no rule applies); {_n(other_sex)} eligible "
        "patient(s) of other or unknown sex are counted in the totals but not in the pyramid.",
    ]
    top = sorted(tally.ignored.items(), key=lambda kv: (-kv[1], kv[0]))[:8]
    if top:
        items.append("Resources left out, by reason: " + ", ".join(f"{k} {_n(v)}" for k, v in top) + ".")
    return "".join(f'<p class="note">{escape(i)}</p>' for i in items)


def render_report(tally: Tally, info: SweepInfo, problems: int) -> str:
    legend = "".join(f'<span><i style="background:{COLOURS[i]}"></i>{i}</span>' for i in INDICATORS)
    at = info.at.strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">
<title>osteoalert population sweep · {escape(at)}</title><style>{_CSS}</style></head>
<body><main>
<h1>Bone &amp; parathyroid care gaps</h1>
<p class="sub">Population sweep evaluated at {escape(at)} · batch rules of RULES.md 1.5 ·
source {escape(info.source)}{" · strict FHIR validation" if info.strict else ""}</p>
{_tiles(tally)}
<h2>Patients flagged, by rule</h2>
<p class="note">One finding per rule per patient; rates are per 1,000 eligible patients (alive adults).</p>
<div class="card"><div class="legend">{legend}</div>{rules_chart(tally)}</div>
<h2>Who is flagged</h2>
<p class="note">Light bars: eligible patients; dark bars: patients with at least one finding.</p>
<div class="card">{pyramid_chart(tally)}</div>
<h2>Flagged patients per 1,000, by age band</h2>
<div class="card">{rate_chart(tally)}</div>
<h2>Counts</h2>
{_table(tally)}
<h2>Data quality</h2>
{_quality(tally, problems)}
<p class="note">Worklist: worklist.csv · every finding: findings.ndjson ·
FHIR MeasureReport: measure_report.json</p>
</main></body></html>
"""
