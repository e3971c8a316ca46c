"""Measurements read against reference ranges: "Platelets: 900,000/mm3" is thrombocytosis.

A search engine cannot read a number, so a reported result helps name a diagnosis only once it
is put in words. ``read_measurements(text, age_years)`` finds analyte names followed by a value
in a patient's message or a reported result, compares the value with the adult reference range
in ``pack/labs.yaml`` (values in SI units recognised by size), and returns each abnormal one with
what medical texts call it. Values whose range depends on a child's age (heart rate, breathing
rate, blood pressure) are not read for children, and blood analytes are not read in a sentence
about urine or another body fluid. Pure apart from reading the table once.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

LABS_FILE = Path(__file__).parent / "pack" / "labs.yaml"
CHILD_YEARS = 12.0  # below this age, adult limits of adult_only measurements do not apply


class LabRange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    names: tuple[str, ...]
    low: float
    high: float
    terms: dict[str, str] = Field(description="'low' and/or 'high': what the value is called.")
    si_above: float | None = None  # a value above this is in SI units: divided by si_factor
    si_below: float | None = None  # a value below this is in SI units: multiplied by si_factor
    si_factor: float = 1.0
    si_unit: str | None = None  # a unit written after the value that says it is in SI units
    f_above: float | None = None  # a temperature above this is in degrees Fahrenheit
    specimen: str | None = None  # "blood": not read in a sentence about another fluid
    adult_only: bool = False
    pressure: bool = False  # systolic/diastolic, compared by the systolic value


@dataclass(frozen=True)
class Reading:
    lab: str
    value: float  # in the table's units
    direction: str  # "low" | "high"
    term: str
    text: str  # the words read


_NUMBER = r"(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)\s*([^\s;,()]{0,12})"
_PRESSURE = r"(\d{2,3})\s*/\s*(\d{2,3})"
_OTHER_FLUID = re.compile(
    r"\b(urin\w*|urinalysis|csf|cerebrospinal|synovial|stool|pleural|ascitic|peritoneal|"
    r"sputum|fluid|dipstick)\b"
)
_SEGMENTS = re.compile(r"[;\n]|(?<=[a-z%)])\.\s+")


@functools.cache
def load_ranges(path: Path = LABS_FILE) -> tuple[LabRange, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(LabRange(**row) for row in data["labs"])


def lab_range(lab_id: str) -> LabRange:
    """One measurement's row of the default table ("temperature")."""
    return next(r for r in load_ranges() if r.id == lab_id)


def _patterns(ranges: tuple[LabRange, ...]) -> tuple[tuple[re.Pattern, LabRange], ...]:
    """One pattern per (name, range), longest names first so that "hemoglobin a1c" is read
    before "hemoglobin". A short name (three letters or fewer) must be followed directly by
    its value; a longer one may have a few words between ("WBC count of 12,000")."""
    pairs = sorted(((n, r) for r in ranges for n in r.names), key=lambda p: -len(p[0]))
    out = []
    for name, lab in pairs:
        value = _PRESSURE if lab.pressure else _NUMBER
        gap = r"[^0-9;\n]{0,30}?" if len(name) > 3 else r"\s*[:=]?\s*"
        out.append((re.compile(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9]){gap}{value}"), lab))
    return tuple(out)


@functools.cache
def _default_patterns() -> tuple[tuple[re.Pattern, LabRange], ...]:
    return _patterns(load_ranges())


def table_value(raw: str, lab: LabRange, unit: str = "") -> float:
    """The value in the table's units: converted when its unit says SI, else judged by size."""
    value = float(raw.replace(",", ""))
    if lab.f_above is not None and value > lab.f_above:
        return (value - 32) / 1.8
    if lab.si_unit and lab.si_unit in unit.lower().replace("µ", "u").replace("μ", "u"):
        return value / lab.si_factor if lab.si_above is not None else value * lab.si_factor
    if lab.si_above is not None and value > lab.si_above:
        return value / lab.si_factor
    if lab.si_below is not None and value < lab.si_below:
        return value * lab.si_factor
    return value


def read_measurements(
    text: str, age_years: float | None = None, ranges: tuple[LabRange, ...] | None = None
) -> list[Reading]:
    """The abnormal measurements ``text`` reports, in the order they appear."""
    patterns = _patterns(ranges) if ranges is not None else _default_patterns()
    child = age_years is not None and age_years < CHILD_YEARS
    readings: list[tuple[int, Reading]] = []
    offset = 0
    for segment in _SEGMENTS.split(text.lower()):
        other_fluid = bool(_OTHER_FLUID.search(segment))
        taken: list[tuple[int, int]] = []
        for pattern, lab in patterns:
            if (child and lab.adult_only) or (other_fluid and lab.specimen == "blood"):
                continue
            for m in pattern.finditer(segment):
                if any(m.start() < end and start < m.end() for start, end in taken):
                    continue
                taken.append((m.start(), m.end()))
                if lab.pressure:
                    systolic, diastolic = float(m.group(1)), float(m.group(2))
                    high = systolic >= lab.high or diastolic >= 90
                    direction = "high" if high else "low" if systolic < lab.low else ""
                    value = systolic
                else:
                    value = table_value(m.group(1), lab, m.group(2))
                    direction = "high" if value > lab.high else "low" if value < lab.low else ""
                if direction and direction in lab.terms:
                    reading = Reading(lab.id, value, direction, lab.terms[direction], m.group(0))
                    readings.append((offset + m.start(), reading))
        offset += len(segment) + 1
    return [r for _, r in sorted(readings, key=lambda x: x[0])]


def measurement_terms(text: str, age_years: float | None = None) -> list[str]:
    """What the abnormal measurements in ``text`` are called, each once."""
    return list(dict.fromkeys(r.term for r in read_measurements(text, age_years)))
