"""The knowledge pack: loads, validates (codes included), covers what primary care sees."""

import pytest

from agent.knowledge import (
    Frequency,
    Urgency,
    condition_text,
    default_pack,
    load_pack,
    pack_documents,
    validate_pack,
)

SYSTEMS = {
    "respiratory",
    "cardiovascular",
    "gastrointestinal",
    "genitourinary",
    "neurological",
    "musculoskeletal",
    "skin",
    "ent",
    "eye",
    "mental_health",
    "endocrine",
    "infectious",
    "womens_health",
}
EMERGENCIES = [
    "myocardial infarction",
    "pulmonary embolism",
    "stroke",
    "meningitis",
    "sepsis",
    "appendicitis",
    "ectopic pregnancy",
    "diabetic ketoacidosis",
    "anaphylaxis",
]


@pytest.fixture(scope="module")
def pack():
    return default_pack()


@pytest.mark.slow
def test_pack_is_valid_with_codes_checked(pack):
    assert validate_pack(pack, check_codes=True) == []


def test_pack_covers_primary_and_urgent_care(pack):
    assert len(pack.conditions) >= 150
    assert SYSTEMS <= {c.system for c in pack.conditions.values()}
    ages = {a for c in pack.conditions.values() for a in c.demographics.ages}
    assert {"infant", "child", "adult", "older_adult"} <= ages
    names = " | ".join(n.lower() for c in pack.conditions.values() for n in [c.name, *c.synonyms])
    for emergency in EMERGENCIES:
        assert emergency in names, emergency


def test_every_condition_is_complete(pack):
    for c in pack.conditions.values():
        assert c.red_flags and c.tests and c.urgency and c.management, c.id
        assert len(c.findings) >= 3, c.id
        assert any(f.frequency in (Frequency.very_common, Frequency.common) for f in c.findings), (
            c.id
        )


def test_true_emergencies_are_marked_emergency(pack):
    for c in pack.conditions.values():
        if c.name.lower() in ("anaphylaxis", "ectopic pregnancy", "sepsis"):
            assert c.urgency == Urgency.emergency, c.name


def test_findings_have_questions_and_mostly_hpo(pack):
    assert all(f.question.endswith("?") for f in pack.findings.values())
    with_hpo = sum(1 for f in pack.findings.values() if f.hpo)
    assert with_hpo / len(pack.findings) > 0.5


def test_red_flag_catalogue_and_history_items(pack):
    assert len(pack.red_flags) >= 40
    assert all(r.advice and r.reason for r in pack.red_flags.values())
    ids = set(pack.history)
    assert {"onset", "duration", "severity", "medicines", "allergies"} <= ids


def test_validator_reports_broken_references_and_duplicates(tmp_path, pack):
    (tmp_path / "findings").mkdir()
    (tmp_path / "conditions").mkdir()
    (tmp_path / "findings" / "a.yaml").write_text(
        "findings:\n- {id: fever, name: Fever, question: 'Fever?', hpo: 'HP:0001945'}\n"
        "- {id: fever, name: Fever again, question: 'Fever?', hpo: 'HP:0001945'}\n"
        "- {id: pyrexia, name: Pyrexia, question: 'Hot?', hpo: 'HP:0001945'}\n"
    )
    condition = pack.conditions["community_acquired_pneumonia"].model_dump(mode="json")
    import yaml

    (tmp_path / "conditions" / "c.yaml").write_text(
        yaml.safe_dump({"conditions": [condition | {"icd10": "Z99.999"}]})
    )
    (tmp_path / "history.yaml").write_text("history: []\n")
    (tmp_path / "red_flags.yaml").write_text(
        "red_flags:\n- {id: x, all_of: [no_such_finding], reason: r, advice: a}\n"
    )
    problems = validate_pack(load_pack(tmp_path), check_codes=True)
    text = "\n".join(problems)
    assert "duplicate finding fever" in text
    assert "HP:0001945 used by 2" in text  # the later duplicate and pyrexia
    assert "Z99.999 does not exist" in text
    assert "'no_such_finding' is not in the catalogue" in text
    assert "is not in the catalogue" in text.replace("no_such_finding", "")


def test_malformed_file_names_the_file(tmp_path):
    (tmp_path / "findings").mkdir()
    (tmp_path / "findings" / "bad.yaml").write_text("findings: [ {id: x\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        load_pack(tmp_path)


def test_pack_becomes_documents_for_the_index(pack):
    docs = list(pack_documents(pack))
    assert len(docs) == 3 * len(pack.conditions)  # overview, tests and treatment, warnings
    assert {d.metadata["condition"] for d in docs} == set(pack.conditions)
    c = pack.conditions["community_acquired_pneumonia"]
    text = condition_text(c, pack)
    assert c.summary.split(".")[0] in text and "Tests:" in text and "When to seek care" in text
