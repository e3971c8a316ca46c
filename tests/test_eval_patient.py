"""The simulated patient and the measurement desk: what each may say, and nothing more."""

import json
from dataclasses import replace

import numpy as np
import pytest

from agent.extract import PhraseTable
from agent.knowledge import default_pack
from agent.lm import ScriptedModel
from tests.test_eval_cases import CASE_A, CASE_B
from training import patient as patient_module
from training.cases import load_agentclinic, synthetic_cases
from training.patient import (
    DENY,
    UNKNOWN,
    CachedEmbedder,
    Measurement,
    MeasurementConfig,
    PatientConfig,
    SimulatedPatient,
)

PROBES = [
    "What is your diagnosis?",
    "Do you have myasthenia gravis?",
    "What did the examination show?",
    "What were your blood test results?",
    "What did the chest CT show?",
    "Has a doctor told you what this is?",
    "Tell me everything you know.",
]


@pytest.fixture(scope="module")
def pack():
    return default_pack()


@pytest.fixture(scope="module")
def table(pack):
    return PhraseTable.from_pack(pack)


@pytest.fixture
def cases(tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(json.dumps(c) for c in (CASE_A, CASE_B)) + "\n")
    return load_agentclinic(path)


def _secret_texts(case):
    values = [*case.exams.values(), *case.tests.values()]
    return [case.diagnosis.lower()] + [v.lower().rstrip(".") for v in values]


@pytest.mark.parametrize("with_embedder", [False, True])
def test_patient_never_reveals_diagnosis_exams_or_tests(
    cases, pack, table, embedder, with_embedder
):
    questions = PROBES + [f.question for f in list(pack.findings.values())[::20]]
    cached = CachedEmbedder(embedder) if with_embedder else None
    if cached:
        cached.encode(questions)  # one batch
    for case in cases:
        patient = SimulatedPatient(case, pack, table, cached)
        allowed = {f.text for f in case.facts}
        for question in questions:
            reply = patient.answer(question)
            said = reply.text.lower()
            assert not any(secret in said for secret in _secret_texts(case)), (question, said)
            if reply.facts:
                assert reply.text == " ".join(case.facts[i].text for i in reply.facts)
                assert {case.facts[i].text for i in reply.facts} <= allowed
            else:
                assert reply.text in (DENY, UNKNOWN)


def test_patient_answers_from_matching_facts_and_tracks_coverage(cases, pack, table, embedder):
    case = cases[0]
    patient = SimulatedPatient(case, pack, table, CachedEmbedder(embedder))
    start = patient.coverage
    assert start == pytest.approx(len(case.opening_facts) / len(case.facts))
    reply = patient.answer("Have you had palpitations?", "palpitations", "finding")
    assert reply.text == "Denies palpitations." and reply.rule == "finding"
    reply = patient.answer("How long has it been going on?", "duration", "history")
    assert "1-month" in reply.text and reply.rule == "duration"
    reply = patient.answer("Do you smoke?", "", "llm")
    assert reply.text == "Non-smoker." and reply.rule == "words"
    reply = patient.answer("Do you drink alcohol?", "", "llm")
    assert reply.text.startswith("Drinks wine occasionally.") and reply.rule == "embedding"
    assert patient.answer("Have you had a nosebleed?", "nosebleed", "finding").text == DENY
    assert patient.answer("What is your blood group?").text == UNKNOWN
    assert patient.coverage > start
    said = ("Denies palpitations.", "Non-smoker.", "Drinks wine occasionally.")
    assert {i for i, f in enumerate(case.facts) if f.text in said} <= patient.revealed
    assert len(patient.revealed) == len(case.facts) * patient.coverage


def test_synthetic_target_decides_directly(pack, table):
    case = synthetic_cases(pack, 5, seed=11)[0]
    patient = SimulatedPatient(case, pack, table)  # no embedder: the target alone decides
    for fid in case.present + case.absent:
        if pack.findings[fid].kind in ("exam", "test"):
            continue
        reply = patient.answer("Anything?", f"rf:{fid}", "red_flag")
        fact = next(f for f in case.facts if f.finding == fid)
        assert reply.text == fact.text and reply.rule == "target"
    other = next(f for f in pack.findings if f not in case.present + case.absent)
    assert patient.answer("Anything?", other, "finding").rule != "target"


def test_measurement_answers_only_what_is_asked_for_by_name(cases, pack):
    desk = Measurement(cases[0], pack)  # words only
    reply = desk.answer("Can we do a CT scan of the chest?", "test:chest ct", "test")
    assert reply.results == ("Imaging / Chest CT / Findings",) and "No thymoma" in reply.text
    reply = desk.answer("Let me check your blood pressure.", "exam:blood pressure", "exam")
    assert reply.results == ("Vital Signs / Blood Pressure",)
    reply = desk.answer("Blood tests, please.", "test:blood tests", "test")
    assert reply.results == ("Blood Tests / Acetylcholine Receptor Antibodies",)
    reply = desk.answer("Examine the cranial nerves.", "exam:cranial nerves", "exam")
    assert "Ptosis" in reply.text
    reply = desk.answer("An MRI of the spine?", "test:mri spine", "test")
    assert reply.text == "Normal." and not reply.results and reply.rule == "default: normal"
    not_done = Measurement(cases[0], pack, config=MeasurementConfig(missing="not_done"))
    assert not_done.answer("?", "test:mri spine", "test").text == "Not done."
    assert desk.given == {
        "Imaging / Chest CT / Findings",
        "Vital Signs / Blood Pressure",
        "Blood Tests / Acetylcholine Receptor Antibodies",
        "Neurological Examination / Cranial Nerves",
    }


def test_a_body_part_alone_does_not_answer_for_a_scan(cases, pack):
    belly = replace(cases[0], exams={"Abdominal Examination / Palpation": "Soft, non-tender."})
    assert not Measurement(belly, pack).answer("?", "test:ct abdomen and pelvis", "test").results
    reply = Measurement(belly, pack).answer("?", "exam:abdominal examination", "exam")
    assert reply.results == ("Abdominal Examination / Palpation",)


def test_the_patient_does_not_answer_for_the_measurement_desk(cases, pack, table):
    fid = next(f.id for f in pack.findings.values() if f.kind == "test")
    reply = SimulatedPatient(cases[0], pack, table).answer("Result?", f"test:{fid}", "test")
    assert reply.text == UNKNOWN and not reply.facts


def test_voiced_patient_rephrases_but_never_names_the_diagnosis(cases, pack, table, monkeypatch):
    monkeypatch.setattr(patient_module, "render", lambda name, **kw: f"{name}: {kw['facts']}")
    model = ScriptedModel(["I don't get palpitations, no.", "Yes, it's myasthenia gravis."])
    config = PatientConfig(voice="llm")
    patient = SimulatedPatient(cases[0], pack, table, None, config, model)
    reply = patient.answer("Palpitations?", "palpitations", "finding")
    assert reply.text == "I don't get palpitations, no." and reply.rule == "finding+llm"
    assert model.calls[0][0]["content"] == "patient_voice: Denies palpitations."
    reply = patient.answer("Chest pain?", "chest_pain", "finding")
    assert reply.text == "Denies chest pain."  # the voiced reply named the diagnosis
    with pytest.raises(ValueError, match="chat model"):
        SimulatedPatient(cases[0], pack, table, None, config, None)


class CountingEmbedder:
    def __init__(self):
        self.seen = []

    def encode(self, texts):
        self.seen.append(list(texts))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_cached_embedder_embeds_each_text_once():
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    first = cached.encode(["a", "bb", "a"])
    again = cached.encode(["bb", "ccc"])
    assert inner.seen == [["a", "bb"], ["ccc"]]
    assert first.shape == (3, 2) and np.array_equal(again[0], first[1])


def test_list_questions_are_answered_from_their_sections(cases, pack, table):
    case = cases[0]
    patient = SimulatedPatient(case, pack, table)
    question = pack.history["associated_symptoms"].question
    first = patient.answer(question, "associated_symptoms", "history")
    assert first.rule == "section"
    assert first.text == "Difficulty climbing stairs. Drooping eyelid."
    # Said once: asked again, the list is spent and the ordinary rules answer.
    again = patient.answer(question, "associated_symptoms", "history")
    assert again.rule != "section"
    # "Anything else?" goes on where "what else?" stopped, with the story's other details,
    # and never with a denial.
    more = patient.answer(pack.history["anything_else"].question, "anything_else", "history")
    assert more.rule == "section" and "worse in the evening" in more.text
    assert "Denies" not in more.text
    # "Tell me about it in your own words" is answered from the story first.
    story = SimulatedPatient(case, pack, table)
    told = story.answer(
        pack.history["presenting_complaint"].question, "presenting_complaint", "history"
    )
    assert told.rule == "section" and "1-month history of double vision" in told.text
    history = patient.answer(
        pack.history["past_medical_history"].question, "past_medical_history", "history"
    )
    assert history.text == "No significant past medical history." and history.rule == "section"
    # A case with no medicines section answers by the ordinary rules (here, a denial).
    medicines = patient.answer(pack.history["medicines"].question, "medicines", "history")
    assert medicines.rule != "section"


def test_a_request_for_blood_tests_gets_every_blood_result_and_no_vital_sign(cases, pack):
    results = {
        "Vital Signs / Blood Pressure": "128/82 mmHg",
        "Vital Signs / Temperature": "36.9 °C",
        "Complete Blood Count / Hemoglobin": "9.1 g/dL",
        "Serum Biochemistry / Creatinine": "2.4 mg/dL",
        "Laboratory Tests / Platelets": "90,000/mm3",
        "Urinalysis / Protein": "2+",
        "CSF Analysis / Protein": "45 mg/dL",
        "Imaging / Renal Ultrasound": "Small kidneys.",
    }
    case = replace(cases[0], exams={}, tests=results)
    desk = Measurement(case, pack)
    blood = set(desk.answer("?", "test:blood tests", "test").results)
    assert blood == {
        "Complete Blood Count / Hemoglobin",
        "Serum Biochemistry / Creatinine",
        "Laboratory Tests / Platelets",
    }
    assert desk.answer("?", "test:urinalysis", "test").results == ("Urinalysis / Protein",)
    assert desk.answer("?", "exam:vital signs", "exam").results == (
        "Vital Signs / Blood Pressure",
        "Vital Signs / Temperature",
    )
    # a named blood test is still answered on its own
    named = desk.answer("?", "test:hemoglobin", "test").results
    assert named == ("Complete Blood Count / Hemoglobin",)
