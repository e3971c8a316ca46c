import gzip
import json

import pytest

from retrieval.sources import folder_documents, icd10_documents, medquad_documents
from tests.conftest import MEDQUAD

ROW = {
    "source": "NIDDK",
    "url": "https://example.org/a",
    "focus": "Kidney Stones",
    "qtype": "symptoms",
    "question": "What are the symptoms of Kidney Stones ?",
    "answer": "Severe pain in the side and back.",
}

XML = """<?xml version="1.0" encoding="UTF-8"?>
<Document id="0001" source="GHR" url="https://example.org/x">
<Focus>Example syndrome</Focus>
<QAPairs>
<QAPair pid="1"><Question qid="1" qtype="information">What is Example syndrome?</Question>
<Answer>Example syndrome is a made-up condition used in tests.</Answer></QAPair>
<QAPair pid="2"><Question qid="2" qtype="treatment">How to treat it?</Question>
<Answer></Answer></QAPair>
</QAPairs></Document>"""


def test_medquad_jsonl_and_gzip(tmp_path):
    plain = tmp_path / "m.jsonl"
    plain.write_text(json.dumps(ROW) + "\n\n" + json.dumps({**ROW, "answer": ""}) + "\n")
    packed = tmp_path / "m.jsonl.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write(json.dumps(ROW) + "\n")
    for path in (plain, packed):
        (doc,) = list(medquad_documents(path))
        assert (doc.title, doc.section, doc.url) == ("Kidney Stones", "symptoms", ROW["url"])
        assert doc.source == "MedQuAD/NIDDK"
        assert doc.metadata["question"] == ROW["question"]


def test_medquad_xml_folder(tmp_path):
    (tmp_path / "1_GHR").mkdir()
    (tmp_path / "1_GHR" / "0001.xml").write_text(XML)
    (doc,) = list(medquad_documents(tmp_path))
    assert doc.title == "Example syndrome" and doc.section == "information"
    assert doc.url == "https://example.org/x" and "made-up" in doc.text


def test_medquad_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(medquad_documents(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="line 1"):
        list(medquad_documents(bad))


@pytest.mark.skipif(not MEDQUAD.exists(), reason="../shared/data is not present")
def test_the_shared_medquad_loads():
    docs = list(medquad_documents(MEDQUAD))
    assert len(docs) > 16_000
    assert all(d.text and d.url for d in docs[:100])


def test_folder_documents_reads_markdown_and_text(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "chest_pain_pathway.md").write_text("# Chest pain\nRefer to the ED if ...")
    (tmp_path / "sub" / "notes.txt").write_text("Clinic phone triage notes.")
    (tmp_path / "ignored.csv").write_text("a,b")
    docs = sorted(folder_documents(tmp_path), key=lambda d: d.title)
    assert [d.title for d in docs] == ["chest pain pathway", "notes"]
    assert all(d.source == "Your documents" and d.url.startswith("file://") for d in docs)


def test_icd10_categories_have_names_and_codes():
    docs = {d.metadata["code"]: d for d in icd10_documents()}
    assert len(docs) > 1500
    assert docs["J18"].title == "Pneumonia, unspecified organism"
    assert "J18.9" in docs["J18"].text
    assert max(len(d.text.split()) for d in docs.values()) < 250


@pytest.mark.slow
def test_hpo_terms_with_lay_synonyms():
    from retrieval.sources import hpo_documents

    docs = {d.id: d for d in hpo_documents()}
    assert len(docs) > 15_000
    fever = docs["hpo:HP:0001945"]
    assert fever.title == "Fever" and "Pyrexia" in fever.text


@pytest.mark.slow
def test_orphanet_diseases_are_described_by_their_phenotypes():
    from retrieval.sources import orphanet_documents

    docs = list(orphanet_documents())
    assert len(docs) > 4000 and len({d.id for d in docs}) == len(docs)
    lepto = next(d for d in docs if d.title == "Leptospirosis")
    assert lepto.source == "Orphanet" and lepto.id.startswith("orpha:")
    assert lepto.url == f"https://hpo.jax.org/browse/disease/ORPHA:{lepto.metadata['orpha']}"
    assert lepto.text.startswith("Leptospirosis. Features: ")
    assert "Acute kidney injury" in lepto.text
