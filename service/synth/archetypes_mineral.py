"""Archetypes of calcium, parathyroid, magnesium and vitamin D findings (RULES.md 5 A and B),
modelled on the section 9 vignettes named in each registration, with randomised values.

Women are kept under 65 unless the patient has a DXA on record, so that `osteoporosis-screening-due`
never joins the expected set by accident; measured 25-OH D is ≥ 32 ng/mL unless the archetype is
about vitamin D (an osteopenic T-score would make 20-30 ng/mL a finding).
"""

from __future__ import annotations

from service.synth.chart import Chart
from service.synth.registry import archetype
from service.synth.values import (
    NORMAL_CA,
    PTH_HIGH,
    PTH_NOT_SUPPRESSED,
    PTH_SUPPRESSED,
    VITD_OK,
    calcium,
    kidney,
    normal_egfr,
    u,
)

WARNING, INFO, CRITICAL = "warning", "info", "critical"


def person(
    c: Chart, female: tuple[int, int] = (40, 64), male: tuple[int, int] = (40, 85), share: float = 0.6
) -> None:
    """Pick sex and age (whole years at T) and write the Patient."""
    sex = "female" if c.rng.random() < share else "male"
    c.patient(c.rng.randint(*(female if sex == "female" else male)), sex)


def osteopenic_dxa(c: Chart, days: tuple[float, float] = (100, 700)) -> None:
    """A DXA with T-scores between -2.3 and -0.5 (osteopenia at worst, never osteoporosis)."""
    r = c.rng
    c.dxa(r.uniform(*days), T_LS=u(r, (-2.3, -0.5)), T_TH=u(r, (-2.0, -0.3)), T_FN=u(r, (-2.3, -0.5)))


@archetype("phpt-suspected", "PTH-dependent hypercalcaemia, no PHPT diagnosis", 2.5,
           {"phpt-suspected": WARNING}, "V01")  # fmt: skip
def phpt_suspected(c: Chart) -> None:
    r = c.rng
    person(c, share=0.7)
    values = calcium(r, (10.7, 12.0)) | {"PTH": u(r, PTH_NOT_SUPPRESSED, 0), "VITD": u(r, VITD_OK, 0)}
    values |= kidney(c, normal_egfr(c))
    if r.random() < 0.7:
        values["PO4"] = u(r, (2.2, 3.0))
    c.draw(r.uniform(3, 60), **values)
    if r.random() < 0.5:
        osteopenic_dxa(c)


@archetype("phpt-surgical-criteria-met", "Known PHPT meeting surgical criteria", 1.0,
           {"phpt-surgical-criteria": WARNING}, "V02")  # fmt: skip
def phpt_criteria_met(c: Chart) -> None:
    r = c.rng
    person(c, female=(50, 80), male=(50, 80), share=0.75)
    c.condition(r.choice(("E21.0", "36348003")), onset_days=r.uniform(120, 1500))
    values = calcium(r, (11.7, 12.8)) | {"PTH": u(r, (90, 250), 0), "VITD": u(r, VITD_OK, 0)}
    c.draw(r.uniform(5, 60), **values, **kidney(c, normal_egfr(c)), PO4=u(r, (2.0, 2.8)))
    c.urine_calcium(r.uniform(30, 300), u(r, (320, 480), 0))
    c.dxa(r.uniform(100, 700), T_LS=u(r, (-2.3, -0.8)), T_TH=u(r, (-2.0, -0.5)),
          T_FN=u(r, (-2.3, -0.8)), T_RAD=u(r, (-2.3, -0.8)))  # fmt: skip


@archetype("phpt-evaluation-incomplete", "Known mild PHPT, no DXA and no 24-h urine calcium", 1.0,
           {"phpt-surgical-criteria": INFO}, "V03")  # fmt: skip
def phpt_incomplete(c: Chart) -> None:
    r = c.rng
    person(c, female=(50, 80), male=(50, 80), share=0.75)
    c.condition(r.choice(("E21.0", "36348003")), onset_days=r.uniform(60, 900))
    # Above the ULN (10.2 default, 10.5 lab) but not by 1 mg/dL (11.2 default).
    values = calcium(r, (10.65, 11.05)) | {"PTH": u(r, (70, 160), 0), "VITD": u(r, VITD_OK, 0)}
    c.draw(r.uniform(5, 60), **values, **kidney(c, normal_egfr(c)), PO4=u(r, (2.3, 3.0)))


@archetype("hypercalcemia-pth-missing", "Hypercalcaemia, no valid PTH on file", 2.0,
           {"hypercalcemia-pth-missing": WARNING}, "V04")  # fmt: skip
def pth_missing(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 85), share=0.5)
    days = r.uniform(2, 60)
    if r.random() < 0.8:
        c.draw(days, **calcium(r, (10.7, 12.5)))
    else:  # uncorrected: no albumin (still high, RULES.md 6)
        c.draw(days, CA=u(r, (10.8, 12.5)))
    if r.random() < 0.4:  # V17: a PTH that is not final does not count
        c.void_lab("PTH", u(r, PTH_HIGH, 0), days)


@archetype("pth-independent-hypercalcemia", "Hypercalcaemia with suppressed PTH", 1.0,
           {"pth-independent-hypercalcemia": WARNING}, "V06")  # fmt: skip
def pth_independent(c: Chart) -> None:
    r = c.rng
    person(c, share=0.6)
    values = calcium(r, (10.7, 12.8), albumin=(2.7, 4.4)) | {"PTH": u(r, PTH_SUPPRESSED, 0)}
    c.draw(r.uniform(1, 60), **values, VITD=u(r, VITD_OK, 0), **kidney(c, normal_egfr(c)))


@archetype("severe-hypercalcemia", "Severe hypercalcaemia with suppressed PTH", 0.5,
           {"hypercalcemia-severe": CRITICAL, "pth-independent-hypercalcemia": WARNING}, "V15")  # fmt: skip
def severe(c: Chart) -> None:
    r = c.rng
    person(c, female=(50, 64), male=(50, 85), share=0.4)
    values = calcium(r, (14.3, 15.5), albumin=(3.2, 4.2)) | {"PTH": u(r, (2, 15), 0)}
    c.draw(r.uniform(0.2, 4), **values)


@archetype("drug-associated-hypercalcemia", "Hypercalcaemia on a thiazide or lithium", 1.5,
           {"drug-associated-hypercalcemia": WARNING}, "V14")  # fmt: skip
def drug_hypercalcemia(c: Chart) -> None:
    r = c.rng
    person(c, share=0.6)
    drug, dose, per_day = r.choice((
        ("hydrochlorothiazide", 25, 1), ("hydrochlorothiazide", 12.5, 1),
        ("chlorthalidone", 25, 1), ("lithium carbonate", 300, 3), ("lithium carbonate", 450, 2),
    ))  # fmt: skip
    c.med(drug, r.uniform(200, 3000), dose_mg=dose, per_day=per_day)
    values = calcium(r, (10.7, 11.6)) | {"PTH": u(r, (28, 64), 0), "VITD": u(r, VITD_OK, 0)}
    c.draw(r.uniform(3, 60), **values, **kidney(c, normal_egfr(c)))


@archetype("hypocalcemia-uncorrected", "Low total calcium, albumin not measured", 1.0,
           {"hypocalcemia": INFO}, "V08")  # fmt: skip
def hypocalcemia_uncorrected(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 85), share=0.5)
    c.draw(r.uniform(1, 30), CA=u(r, (7.7, 8.3)))


@archetype("hypoparathyroidism", "Post-surgical hypoparathyroidism, severe hypocalcaemia", 0.7,
           {"hypocalcemia": CRITICAL, "hypopara-suspected": WARNING}, "V09")  # fmt: skip
def hypopara(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 75), share=0.7)
    values = calcium(r, (6.6, 7.3), albumin=(3.8, 4.4)) | {"PTH": u(r, (2, 12), 0)}
    c.draw(r.uniform(0.3, 4), **values, MG=u(r, (1.8, 2.2)), PO4=u(r, (4.8, 5.8)))
    c.med("levothyroxine", r.uniform(40, 400), dose_mg=r.choice((0.1, 0.125, 0.15)))
    c.condition("E89.0", onset_days=r.uniform(40, 400))


@archetype("ppi-hypomagnesemia", "PPI-associated hypomagnesaemia with low calcium", 0.7,
           {"hypocalcemia": WARNING, "hypomagnesemia": CRITICAL}, "V10")  # fmt: skip
def ppi_hypomagnesemia(c: Chart) -> None:
    r = c.rng
    person(c, female=(50, 64), male=(55, 85), share=0.3)
    values = calcium(r, (7.7, 8.3), albumin=(3.7, 4.2)) | {"PTH": u(r, (8, 18), 0)}
    c.draw(r.uniform(0.5, 4), **values, MG=u(r, (0.6, 1.1)))
    drug, dose = r.choice((("omeprazole", 40), ("omeprazole", 20), ("pantoprazole", 40)))
    c.med(drug, r.uniform(300, 2000), dose_mg=dose)


@archetype("hypomagnesemia", "Mild hypomagnesaemia, normal calcium", 0.7,
           {"hypomagnesemia": WARNING})  # fmt: skip
def hypomagnesemia(c: Chart) -> None:
    r = c.rng
    person(c, share=0.5)
    c.draw(r.uniform(2, 25), **calcium(r, NORMAL_CA), MG=u(r, (1.3, 1.6)))
    if r.random() < 0.5:
        c.med("esomeprazole", r.uniform(100, 1500), dose_mg=40)


@archetype("secondary-hpt-vitd-deficiency", "Vitamin D deficiency with raised PTH, normal calcium",
           1.5, {"secondary-hpt": INFO, "vitd-deficiency": WARNING}, "V11")  # fmt: skip
def secondary_vitd(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 80), share=0.6)
    values = calcium(r, NORMAL_CA) | {"PTH": u(r, PTH_HIGH, 0), "VITD": u(r, (5, 10.8))}
    c.draw(r.uniform(5, 40), **values, **kidney(c, normal_egfr(c)))
    c.draw(r.uniform(100, 200), **calcium(r, NORMAL_CA), PTH=u(r, (75, 150), 0))


@archetype("normocalcemic-phpt-possible", "Raised PTH, normal calcium, secondary causes excluded",
           0.7, {"normocalcemic-phpt-possible": INFO}, "V12")  # fmt: skip
def nphpt(c: Chart) -> None:
    r = c.rng
    person(c, female=(40, 64), male=(40, 75), share=0.7)
    values = calcium(r, (9.1, 9.9)) | {"PTH": u(r, (75, 140), 0), "VITD": u(r, VITD_OK, 0)}
    if r.random() < 0.5:
        values["ICA"] = u(r, (1.16, 1.28), 2)
    c.draw(r.uniform(5, 40), **values, **kidney(c, normal_egfr(c)))
    c.draw(r.uniform(100, 250), **calcium(r, NORMAL_CA), PTH=u(r, (70, 130), 0))


@archetype("pth-raised-no-calcium", "Raised PTH with no calcium measured near it", 0.7,
           {"secondary-hpt": INFO}, "V40")  # fmt: skip
def pth_no_calcium(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 75), share=0.4)
    days = r.uniform(20, 60)
    c.draw(days, PTH=u(r, PTH_HIGH, 0), VITD=u(r, VITD_OK, 0), **kidney(c, normal_egfr(c)))
    if r.random() < 0.5:  # an old normal calcium, far from the PTH
        c.draw(days + r.uniform(45, 200), **calcium(r, NORMAL_CA))


@archetype("intermittent-hypercalcemia", "Calcium high months ago, normal now, PTH raised", 0.6,
           {"phpt-suspected": WARNING}, "V43")  # fmt: skip
def intermittent(c: Chart) -> None:
    r = c.rng
    person(c, female=(45, 64), male=(45, 80), share=0.7)
    values = calcium(r, (9.3, 10.0)) | {"PTH": u(r, PTH_HIGH, 0), "VITD": u(r, VITD_OK, 0)}
    c.draw(r.uniform(5, 30), **values, **kidney(c, normal_egfr(c)))
    c.draw(r.uniform(120, 330), **calcium(r, (10.8, 11.6)))


@archetype("vitd-intoxication", "25-OH D above 150 ng/mL with hypercalcaemia, PTH suppressed",
           0.5, {"pth-independent-hypercalcemia": WARNING, "vitd-excess": WARNING}, "V35")  # fmt: skip
def vitd_intoxication(c: Chart) -> None:
    r = c.rng
    person(c, share=0.6)
    c.med("cholecalciferol", r.uniform(100, 400), dose_mg=1.25, every_days=7)
    values = calcium(r, (10.7, 12.5)) | {"PTH": u(r, PTH_SUPPRESSED, 0)}
    c.draw(r.uniform(2, 30), **values, VITD=u(r, (155, 250), 0))


@archetype("vitd-deficiency-severe", "25-OH vitamin D below 12 ng/mL", 1.0,
           {"vitd-deficiency": WARNING})  # fmt: skip
def vitd_severe(c: Chart) -> None:
    r = c.rng
    person(c, female=(25, 64), male=(25, 85), share=0.6)
    c.draw(r.uniform(10, 300), VITD=u(r, (4, 10.8)), **calcium(r, NORMAL_CA))


@archetype("vitd-deficiency", "25-OH vitamin D 12-20 ng/mL", 1.5, {"vitd-deficiency": INFO})
def vitd_deficiency(c: Chart) -> None:
    r = c.rng
    person(c, female=(25, 64), male=(25, 85), share=0.6)
    values = {"VITD": u(r, (13, 19.2))} | kidney(c, normal_egfr(c))
    c.draw(r.uniform(10, 300), **values)


@archetype("vitd3-molar", "25-OH D3 only, next to a 1,25(OH)2D that must be ignored", 0.5,
           {"vitd-deficiency": INFO}, "V36")  # fmt: skip
def vitd3_molar(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 64), share=0.8)
    c.draw(r.uniform(5, 200), VITD3=u(r, (12.8, 18.8)), CALCITRIOL=u(r, (20, 60), 0))


@archetype("ionized-hypocalcemia", "Low ionised calcium while corrected total looks normal", 0.4,
           {"hypocalcemia": CRITICAL}, "V37")  # fmt: skip
def ionized_low(c: Chart) -> None:
    r = c.rng
    person(c, female=(50, 64), male=(50, 85), share=0.3)
    values = calcium(r, (8.9, 9.6), albumin=(2.3, 2.9)) | {"ICA": u(r, (0.8, 0.97), 2)}
    c.draw(r.uniform(0.2, 3), **values)
