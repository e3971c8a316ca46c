"""bench naming: the issue's baseline and the agent's ranking beyond the pack, one run."""

import json

import pytest

from agent.knowledge import default_pack
from retrieval.documents import Document, Passage
from tests.test_eval_cases import CASE_A
from training.cases import load_agentclinic
from training.matching import DiagnosisMatcher, MatchConfig, build_synonyms
from training.naming import baseline_names, compare_naming

DOCS = [
    (
        "Vital Signs",
        "Vital signs are heart rate, blood pressure, temperature and breathing rate, measured "
        "at every visit. A normal heart rate is 60 to 100 bpm; blood pressure 120/80 mmHg.",
    ),
    (
        "Myasthenia Gravis",
        "Myasthenia gravis causes double vision, a drooping eyelid (ptosis) that worsens on "
        "sustained upward gaze, and weakness that improves with rest. Acetylcholine receptor "
        "antibodies are present in the blood.",
    ),
    (
        "Botulism",
        "Botulism causes double vision, drooping eyelids and descending paralysis after eating "
        "contaminated food.",
    ),
]


class _Hit:
    def __init__(self, title, source):
        self.passage = Passage(title, title, title, source, "", "", "x")
        self.score = 1.0


def test_the_baseline_lists_medquad_topics_in_search_order_once_each():
    hits = [
        _Hit("Botulism", "MedQuAD/CDC"),
        _Hit("Diplopia", "HPO"),
        _Hit("botulism", "MedQuAD/GARD"),
        _Hit("Vital Signs", "MedQuAD/MPlusHealthTopics"),
    ]
    assert baseline_names(hits) == ["Botulism", "Vital Signs"]
    assert baseline_names(hits, n=1) == ["Botulism"]


@pytest.fixture(scope="module")
def naming_index(tmp_path_factory, embedder):
    from retrieval.index import KnowledgeIndex, build_index

    docs = [
        Document(id=f"medquad:{i}", title=t, text=x, source="MedQuAD/Test")
        for i, (t, x) in enumerate(DOCS)
    ]
    folder = tmp_path_factory.mktemp("naming") / "index"
    build_index(docs, folder, progress=False, embedder=embedder)
    return KnowledgeIndex(folder, embedder=embedder)


def test_both_rankings_are_scored_on_the_same_cases(tmp_path, naming_index):
    path = tmp_path / "cases.jsonl"
    path.write_text(json.dumps(CASE_A) + "\n")
    cases = load_agentclinic(path)
    pack = default_pack()
    matcher = DiagnosisMatcher(build_synonyms(pack, False, None), None, MatchConfig(icd10=False))
    scores = compare_naming(cases, naming_index, pack, matcher, passages=10)
    assert scores["cases"]["n"] == 1
    # the agent leaves out "Vital Signs", a topic that is not a disease, and names the disease
    assert scores["agent"]["top1"] == 1.0
    assert scores["agent_ranks"]["top1"] == 1.0  # with rank fusion, as before score fusion
    assert scores["baseline"]["top5"] == 1.0  # among the few topics there are
    for key in ("top1", "top5", "top10"):
        baseline = scores["baseline"][key]
        expected = round(scores["agent"][key] / baseline, 2) if baseline else None
        assert scores["ratio"][key] == expected
