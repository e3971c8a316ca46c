"""Diagnosis matching: strict rules that refuse look-alikes, synonyms, and the lenient level."""

import gzip
import json

import numpy as np
import pytest

from agent.knowledge import default_pack
from training.matching import (
    DiagnosisMatcher,
    MatchConfig,
    SynonymIndex,
    build_synonyms,
    medquad_names,
    strict_rule,
)


@pytest.fixture(scope="module")
def matcher():
    return DiagnosisMatcher(build_synonyms(default_pack(), icd10=True))


@pytest.mark.parametrize(
    ("predicted", "truth"),
    [
        ("Lung diseases", "Lung cancer"),
        ("Stroke", "Exertional heat stroke"),
        ("Stroke", "Heat stroke"),
        ("Leukemia", "Chronic lymphocytic leukemia"),
        ("Leukemia", "Chronic lymphocytic leukemia (CLL)"),
        ("Acute myeloid leukemia", "Chronic myeloid leukemia"),
        ("Acute respiratory distress syndrome", "Neonatal respiratory distress syndrome"),
        ("Acute otitis media", "Otitis externa"),  # "ear infection" in "outer ear infection"
    ],
)
def test_look_alikes_do_not_match_strictly(matcher, predicted, truth):
    assert matcher.strict(predicted, truth) is None
    assert matcher.strict(truth, predicted) is None


@pytest.mark.parametrize(
    ("predicted", "truth", "rule"),
    [
        ("Haemorrhoids", "Hemorrhoids", "exact"),
        ("Parkinson's disease", "Parkinson disease", "exact"),
        ("Diabetes mellitus type 2", "Type 2 diabetes mellitus", "exact"),
        ("Heatstroke", "Heat stroke", "exact"),
        ("Acute pancreatitis", "Pancreatitis", "modifier"),
        ("Myasthenia gravis", "Generalized myasthenia gravis", "containment"),
        ("NRDS", "Neonatal Respiratory Distress Syndrome (NRDS)", "exact"),
    ],
)
def test_same_disease_matches_strictly_by_rule(matcher, predicted, truth, rule):
    match = matcher.strict(predicted, truth)
    assert match is not None and match.rule == rule


def test_synonyms_come_from_the_pack_and_icd10(matcher):
    pack_match = matcher.strict("Heart attack", "Acute myocardial infarction")
    assert pack_match.rule.startswith("synonym") and "pack:" in pack_match.via
    icd_match = matcher.strict("Cerebral infarction", "Stroke")
    assert icd_match.rule.startswith("synonym") and "icd10:" in icd_match.via


def test_medquad_focus_names_give_synonyms(tmp_path):
    path = tmp_path / "mq.jsonl.gz"
    rows = [
        {"focus": "Tuberculosis (TB)", "answer": "TB is an infection."},
        {
            "focus": "Crusted scabies",
            "answer": "Crusted scabies (also called Norwegian "
            "scabies) is a severe form of scabies.",
        },
        {"focus": "Lonely topic", "answer": "Nothing else to say."},
    ]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows))
    groups = dict(medquad_names(path))
    assert groups == {
        "medquad:Tuberculosis (TB)": ["Tuberculosis (TB)", "Tuberculosis", "TB"],
        "medquad:Crusted scabies": ["Crusted scabies", "Norwegian scabies"],
    }
    index = SynonymIndex({}, {})
    for group, names in groups.items():
        index.add(group, names)
    assert DiagnosisMatcher(index).strict("Norwegian scabies", "Crusted scabies") is not None


def test_rules_alone_without_synonyms():
    assert strict_rule("Hemophilia", "Hemophilia A") is None  # ICD-10-CM D66 lists both
    assert strict_rule("Chronic pancreatitis", "Pancreatitis") == "modifier"
    assert strict_rule("Acute pancreatitis", "Chronic pancreatitis") is None


class FakeEmbedder:
    """Names as fixed vectors, so the lenient threshold is tested exactly."""

    vectors = {
        "ards": [1.0, 0.0],
        "neonatal rds": [0.85, np.sqrt(1 - 0.85**2)],
        "migraine": [0.0, 1.0],
    }

    def encode(self, texts):
        return np.array([self.vectors[t.lower()] for t in texts], dtype=np.float32)


def test_rank_reports_the_first_match_strict_and_lenient():
    m = DiagnosisMatcher(SynonymIndex({}, {}), FakeEmbedder(), MatchConfig())
    result = m.rank(["Migraine", "ARDS"], "Neonatal RDS")
    assert result.strict is None
    assert result.lenient.rule == "embedding" and result.lenient.rank == 2
    assert not result.hit(1, lenient=True) and result.hit(3, lenient=True)
    strict_first = m.rank(["ARDS", "Neonatal RDS"], "Neonatal RDS")
    assert strict_first.strict.rank == 2 and strict_first.lenient.rank == 1
    strict_config = MatchConfig(lenient_threshold=0.9)
    high = DiagnosisMatcher(SynonymIndex({}, {}), FakeEmbedder(), strict_config)
    assert high.rank(["Migraine", "ARDS"], "Neonatal RDS").lenient is None
