"""Measurements read against reference ranges (agent/labs.py), without a model."""

import pytest

from agent.candidates import outside_query
from agent.knowledge import default_pack
from agent.labs import load_ranges, measurement_terms, read_measurements
from agent.state import ConsultationState


def _read(text, age=None):
    return [(r.lab, r.direction) for r in read_measurements(text, age)]


def test_abnormal_values_are_named_and_normal_ones_are_not():
    text = (
        "Complete Blood Count / Hemoglobin: 10.6 g/dL; Complete Blood Count / Platelets: "
        "900,000/mm3; Complete Blood Count / WBC: 7,500 /uL"
    )
    assert _read(text) == [("hemoglobin", "low"), ("platelets", "high")]
    assert "thrombocytosis raised platelets" in measurement_terms(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hemoglobin 106 g/L", [("hemoglobin", "low")]),  # SI units, by size
        ("WBC 15.2 x10^9/L", [("white_cells", "high")]),
        ("Creatinine 180 umol/L", [("creatinine", "high")]),
        ("Glucose 5.5 mmol/L", []),  # mmol/L, by size: normal
        ("Glucose 15 mmol/L", [("glucose", "high")]),
        ("Calcium 2.3 mmol/L", []),
        ("Calcium 2.9 mmol/L", [("calcium", "high")]),
        ("Glucose 250 mg/dL", [("glucose", "high")]),
        ("Bilirubin 15 umol/L", []),  # SI by its unit, where size cannot tell
        ("Bilirubin 4.5 mg/dL", [("bilirubin_total", "high")]),
        ("Troponin 10 ng/L", []),
        ("Troponin 50 ng/L", [("troponin", "high")]),
        ("Troponin 0.5 ng/mL", [("troponin", "high")]),
        ("Troponin 2.5 ng/mL", [("troponin", "high")]),
        ("Troponin 900 ng/L", [("troponin", "high")]),
        ("Temperature: 101.3 F", [("temperature", "high")]),  # Fahrenheit, by size
        ("Temperature: 36.6 C (97.9 F)", []),
        ("Blood pressure 85/50 mmHg", [("blood_pressure", "low")]),
        ("Blood pressure 150/95 mmHg", [("blood_pressure", "high")]),
        ("Blood pressure 120/80", []),
    ],
)
def test_units_and_pressures(text, expected):
    assert _read(text) == expected


def test_longer_names_win_and_short_names_need_their_value_next_to_them():
    assert _read("HbA1c: 8.2%") == [("hba1c", "high")]  # not haemoglobin 8.2
    assert _read("Hemoglobin A1c 8.2") == [("hba1c", "high")]
    assert _read("Glucose 110 mg/dL, potassium 4.1") == []  # "mg" is a unit, not magnesium
    assert _read("The pt was seen 3 times") == []  # "pt" needs its value next to it


def test_other_fluids_and_childrens_vital_signs_are_not_read_with_adult_blood_limits():
    assert _read("Urinalysis / WBC: 50-100/hpf") == []
    assert _read("Synovial fluid leukocyte count 60,000/mm3") == []
    assert _read("Heart rate 150 bpm", age=0.2) == []  # a baby's normal
    assert _read("Heart rate 150 bpm", age=40) == [("heart_rate", "high")]
    assert _read("Temperature 39.2 C", age=0.2) == [("temperature", "high")]


def test_every_range_is_coherent():
    for lab in load_ranges():
        assert lab.low <= lab.high, lab.id
        assert set(lab.terms) <= {"low", "high"} and lab.terms, lab.id


def test_the_outside_query_names_abnormal_results():
    pack = default_pack()
    state = ConsultationState(age_years=40.0)
    said = ["Complete Blood Count / Platelets: 900,000/mm3; Vital Signs / Heart Rate: 72 bpm"]
    query = outside_query(state, pack, said)
    assert "thrombocytosis" in query and "tachycardia" not in query
