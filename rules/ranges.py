"""Reference ranges: the lab's own `referenceRange` when sane, else the defaults (RULES.md 3.4)."""

from __future__ import annotations

from rules.params import Parameters, Range
from rules.snapshot import Analyte, LabResult


def default_range(analyte: Analyte, params: Parameters) -> Range | None:
    match analyte:
        case Analyte.CA_TOTAL | Analyte.CA_LABCORR:
            return params.range_ca_total
        case Analyte.CA_ION:
            return params.range_ca_ion
        case Analyte.ALBUMIN:
            return params.range_albumin
        case Analyte.PTH:
            return params.range_pth
        case Analyte.PHOS:
            return params.range_phos
        case Analyte.MG:
            return params.range_mg
        case Analyte.TSH:
            return params.range_tsh
        case _:
            return None


def _sanity_bands(analyte: Analyte, params: Parameters) -> tuple[Range | None, Range | None]:
    """(band for a lab LLN, band for a lab ULN); None = no sanity band for that bound."""
    match analyte:
        case Analyte.CA_TOTAL | Analyte.CA_LABCORR:
            return params.sanity_ca_total_lln, params.sanity_ca_total_uln
        case Analyte.CA_ION:
            return params.sanity_ca_ion_lln, params.sanity_ca_ion_uln
        case Analyte.PTH:
            return None, params.sanity_pth_uln
        case Analyte.MG:
            return params.sanity_mg_lln, None
        case _:
            return None, None


def _inside(value: float, band: Range | None) -> bool:
    if band is None:
        return True
    return (band.low is None or value >= band.low) and (band.high is None or value <= band.high)


def is_suspect(result: LabResult, params: Parameters) -> bool:
    """A lab-supplied bound outside its sanity band: the whole lab range is ignored (`suspect-range`)."""
    low_band, high_band = _sanity_bands(result.analyte, params)
    if result.ref_low is not None and not _inside(result.ref_low, low_band):
        return True
    return result.ref_high is not None and not _inside(result.ref_high, high_band)


def range_for(result: LabResult, params: Parameters) -> Range:
    """The range that applies to this result: its own (sanity-checked) bounds, defaults for the rest."""
    default = default_range(result.analyte, params) or Range(None, None)
    if (result.ref_low is None and result.ref_high is None) or is_suspect(result, params):
        return default
    return Range(
        result.ref_low if result.ref_low is not None else default.low,
        result.ref_high if result.ref_high is not None else default.high,
    )


def uln(result: LabResult, params: Parameters) -> float | None:
    return range_for(result, params).high


def lln(result: LabResult, params: Parameters) -> float | None:
    return range_for(result, params).low
