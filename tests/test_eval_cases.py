"""Evaluation cases: the AgentClinic loader, synthetic cases and their split, the vignettes."""

import json

import pytest

from agent.knowledge import Frequency, default_pack
from agent.state import age_group
from training.cases import (
    atomic_facts,
    load_agentclinic,
    redflag_cases,
    split_of,
    synthetic_cases,
)

CASE_A = {
    "OSCE_Examination": {
        "Objective_for_Doctor": "Assess the patient.",
        "Patient_Actor": {
            "Demographics": "35-year-old female",
            "History": "She reports a 1-month history of double vision. It is worse in the "
            "evening.",
            "Symptoms": {
                "Primary_Symptom": "Double vision",
                "Secondary_Symptoms": ["Difficulty climbing stairs", "Drooping eyelid"],
            },
            "Past_Medical_History": "No significant past medical history.",
            "Social_History": "Non-smoker, drinks wine occasionally, works as a designer.",
            "Review_of_Systems": "Denies chest pain, palpitations, or shortness of breath.",
        },
        "Physical_Examination_Findings": {
            "Vital_Signs": {"Heart_Rate": "72 bpm", "Blood_Pressure": "125/80 mmHg"},
            "Neurological_Examination": {"Cranial_Nerves": "Ptosis worse on upward gaze."},
        },
        "Test_Results": {
            "Blood_Tests": {"Acetylcholine_Receptor_Antibodies": "Present (elevated)"},
            "Imaging": {"Chest_CT": {"Findings": "No thymoma."}},
        },
        "Correct_Diagnosis": "Myasthenia gravis",
    }
}
CASE_B = {
    "OSCE_Examination": {
        "Patient_Actor": {
            "Demographics": "8-month-old boy",
            "History": "Fussy for the past few days.",
            "Symptoms": {"Primary_Symptom": "Crying", "Secondary_Symptoms": []},
            "Social_History": "Information not provided.",
        },
        "Physical_Examination_Findings": {},
        "Test_Results": {"Abdominal_X-ray": {"Findings": "Dilated colon"}},
        "Correct_Diagnosis": "Hirschsprung disease",
    }
}


@pytest.fixture
def two_cases(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in (CASE_A, CASE_B)) + "\n")
    return path


def test_loader_splits_facts_and_flattens_results(two_cases):
    a, b = load_agentclinic(two_cases)
    assert a.diagnosis == "Myasthenia gravis" and b.diagnosis == "Hirschsprung disease"
    assert a.demographics.age_years == 35 and a.demographics.sex == "female"
    assert a.opening == "I'm a 35-year-old female. My main problem is double vision."
    texts = [f.text for f in a.facts]
    assert texts[a.opening_facts[0]] == "Double vision."
    for denial in ("Denies chest pain.", "Denies palpitations.", "Denies shortness of breath."):
        assert denial in texts
    assert {"Non-smoker.", "Drinks wine occasionally.", "Works as a designer."} <= set(texts)
    assert next(f for f in a.facts if f.text == "Denies palpitations.").present is False
    assert [f.topic for f in a.facts if "1-month" in f.text] == ["duration"]
    assert a.exams["Neurological Examination / Cranial Nerves"] == "Ptosis worse on upward gaze."
    assert a.tests["Imaging / Chest CT / Findings"] == "No thymoma."
    assert b.demographics.age_years == pytest.approx(8 / 12)
    assert b.opening.startswith("I'm here about my son, an 8-month-old boy.")
    assert all("not provided" not in f.text for f in b.facts)  # empty statements are dropped
    assert not any("Myasthenia" in f.text for f in a.facts)


def test_facts_that_name_the_diagnosis_are_withheld(tmp_path):
    row = json.loads(json.dumps(CASE_A))
    row["OSCE_Examination"]["Patient_Actor"]["History"] = "Known myasthenia gravis. Tired."
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (case,) = load_agentclinic(path)
    assert case.withheld == ("Known myasthenia gravis.",)
    assert all("myasthenia" not in f.text.lower() for f in case.facts)


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "line 2 is not JSON"), ('{"OSCE_Examination": {}}', "line 2 lacks")],
)
def test_loader_names_the_bad_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(CASE_A) + "\n" + line + "\n")
    with pytest.raises(ValueError, match=message):
        load_agentclinic(path)


def test_atomic_facts_keep_long_sentences_whole():
    facts = atomic_facts(
        "The pain started in the evening after a long walk, and it spread to the back.", "history"
    )
    assert len(facts) == 1


def test_synthetic_cases_are_deterministic_and_grounded_in_the_pack():
    pack = default_pack()
    first, again = synthetic_cases(pack, 12, seed=3), synthetic_cases(pack, 12, seed=3)
    assert [c.to_dict() for c in first] == [c.to_dict() for c in again]
    assert [c.id for c in synthetic_cases(pack, 12, seed=4)] != [c.id for c in first]
    for case in first:
        condition = pack.conditions[case.condition]
        assert case.diagnosis == condition.name
        listed = {f.id for f in condition.findings}
        assert set(case.present) | set(case.absent) == listed
        assert case.demographics.sex in ("female", "male")
        lead = case.facts[case.opening_facts[0]]
        assert lead.finding in case.present
        frequency = {f.id: list(Frequency).index(f.frequency) for f in condition.findings}
        voiced = [f.finding for f in case.facts if f.finding and f.present]
        assert frequency[lead.finding] == min(frequency[f] for f in voiced)
        assert lead.text.rstrip(".").lower() in case.opening.lower()
        for fact in case.facts:
            if fact.finding and fact.present:
                lay = [w.lower() for w in pack.findings[fact.finding].lay]
                assert fact.text.rstrip(".").lower() in lay
        assert any(f.topic == "duration" for f in case.facts)


def test_train_and_eval_splits_never_overlap():
    pack = default_pack()
    evals = synthetic_cases(pack, 40, seed=0, split="eval")
    trains = synthetic_cases(pack, 160, seed=0, split="train")
    other_seed = synthetic_cases(pack, 160, seed=7, split="train")

    def content(c):  # what the patient can say: condition, findings, age group and sex
        group = age_group(c.demographics.age_years)
        return (c.condition, tuple(sorted(c.present)), group, c.demographics.sex)

    assert len({c.id for c in evals}) == 40
    assert not {c.id for c in evals} & {c.id for c in trains + other_seed}
    assert not {content(c) for c in evals} & {content(c) for c in trains + other_seed}
    assert all(c.split == "eval" for c in evals) and all(c.split == "train" for c in trains)
    assert split_of("some key") in ("train", "eval")
    with pytest.raises(ValueError, match="split"):
        synthetic_cases(pack, 1, split="test")


def test_redflag_vignettes_load_with_labels():
    cases = redflag_cases()
    labels = {c.label for c in cases}
    assert labels == {"emergency", "non_urgent"} and len(cases) > 100
    assert all(c.opening and not c.diagnosis for c in cases)


def test_the_out_of_pack_vignettes_load_whole_and_never_name_their_diagnosis():
    from pathlib import Path

    from training.cases import load_agentclinic

    folder = Path(__file__).resolve().parents[1] / "training" / "cases"
    seen: set[str] = set()
    for n, expected in ((1, 119), (2, 118)):
        cases = load_agentclinic(folder / f"outside_vignettes_{n}.jsonl")
        assert len(cases) == expected
        for case in cases:
            assert case.exams and case.tests and case.facts
            assert not case.withheld  # no patient fact names the diagnosis
            assert case.diagnosis.lower() not in seen  # no diagnosis twice, across both sets
            seen.add(case.diagnosis.lower())
