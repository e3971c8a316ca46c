"""Candidates beyond the pack: the query holds only what is present, passages are grouped by
disease, and the differential gives them the share the pack leaves unexplained."""

from dataclasses import dataclass

import numpy as np

from agent.candidates import (
    CandidateConfig,
    icd10_code,
    merge,
    outside_query,
    outside_share,
    rank_outside,
    symptom_names,
)
from agent.knowledge import default_pack
from agent.state import ConsultationState, Observation, Result
from retrieval.documents import Passage

PACK = default_pack()


def _state(present=(), absent=(), results=()) -> ConsultationState:
    obs = {f: Observation(f, True, f, 1) for f in present}
    obs |= {f: Observation(f, False, f, 1) for f in absent}
    return ConsultationState(observations=obs, results={r.key: r for r in results})


def test_the_query_never_holds_a_denied_finding_or_denied_words():
    state = _state(
        present=["fever"],
        absent=["cough"],
        results=[
            Result("chest x-ray", "Patchy consolidation in the right lower lobe", 2, {}, 0.0),
            Result("urine dipstick", "Normal", 3, {}, 0.0),
        ],
    )
    said = ["I have had a fever. No cough at all, and I do not smoke.", "Test, ECG: normal."]
    query = outside_query(state, PACK, said).lower()
    assert "fever" in query and "consolidation" in query
    assert "cough" not in query and "smoke" not in query and "normal" not in query


@dataclass
class _Hit:
    passage: Passage
    score: float


def _hit(title: str, source: str, score: float, doc_id: str = "") -> _Hit:
    passage = Passage(f"{title}-{score}", doc_id or title, title, source, "", "symptoms", "x")
    return _Hit(passage, score)


def test_passages_are_grouped_by_the_disease_they_describe():
    hits = [
        _hit("Myasthenia Gravis", "MedQuAD/GARD", 0.5),
        _hit("Eye Diseases", "MedQuAD/MPlusHealthTopics", 0.9),  # a group, not one disease
        _hit("Dyspnea", "HPO", 0.8),  # a phenotype ICD-10-CM files under symptoms (R06.0)
        _hit("Botulism", "MedQuAD/CDC", 0.6),
        _hit("myasthenia gravis", "MedQuAD/NINDS", 0.3),
    ]
    ranked = rank_outside(hits, CandidateConfig())
    assert [c.name for c in ranked] == ["Myasthenia Gravis", "Botulism"]
    assert abs(ranked[0].score - 0.8) < 1e-9 and len(ranked[0].passages) == 2


def test_a_long_document_counts_only_its_best_passages():
    hits = [_hit("Diabetes", "MedQuAD/NIDDK", 0.3) for _ in range(6)]
    hits.append(_hit("Addison Disease", "MedQuAD/GARD", 0.7))
    ranked = rank_outside(hits, CandidateConfig(per_name=2))
    assert [c.name for c in ranked] == ["Addison Disease", "Diabetes"]
    assert abs(ranked[1].score - 0.6) < 1e-9
    assert [c.name for c in rank_outside(hits, CandidateConfig(per_name=6))][0] == "Diabetes"


def test_symptoms_and_non_diagnostic_codes_are_not_candidates():
    hits = [
        _hit("Fever, unspecified", "ICD-10-CM", 0.9, "icd10:R50"),
        _hit("Problems related to housing", "ICD-10-CM", 0.8, "icd10:Z59"),
        _hit("Headache", "MedQuAD/MPlusHealthTopics", 0.7),
        _hit("Migraine", "ICD-10-CM", 0.5, "icd10:G43"),
    ]
    symptoms = symptom_names(PACK)
    assert "headache" in symptoms
    ranked = rank_outside(hits, CandidateConfig(), symptoms)
    assert [c.name for c in ranked] == ["Migraine"]


def test_phenotypes_name_a_diagnosis_only_where_icd10_classifies_them_as_one():
    hits = [
        _hit("Fever", "HPO", 0.9),  # R50.9: a symptom
        _hit("Pneumothorax", "HPO", 0.8),  # J93.9: a diagnosis
        _hit("Pneumothorax", "HPO/other", 0.7),  # the same name again, one label
        _hit("Lateral ventricle dilatation", "HPO", 0.6),  # ICD-10-CM does not name it
        _hit("Leptospirosis", "Orphanet", 0.5),  # an Orphanet disease is a label
    ]
    ranked = rank_outside(hits, CandidateConfig())
    assert [c.name for c in ranked] == ["Pneumothorax", "Leptospirosis"]
    assert ranked[0].code == "J93.9"
    none = rank_outside(hits, CandidateConfig(classified_sources=()))
    assert [c.name for c in none] == ["Leptospirosis"]
    # the pack's own symptom names stay out even when ICD-10-CM classifies them
    diplopia = [_hit("Diplopia", "HPO", 0.9)]  # H53.2
    assert [c.name for c in rank_outside(diplopia, CandidateConfig())] == ["Diplopia"]
    assert rank_outside(diplopia, CandidateConfig(), frozenset({"diplopia"})) == []


def test_outside_candidates_take_the_unexplained_share_and_join_a_namesake():
    outside = rank_outside(
        [_hit("Influenza", "MedQuAD/CDC", 3.0), _hit("Q Fever", "MedQuAD/CDC", 1.0)],
        CandidateConfig(),
    )
    merged = merge([("Influenza", 0.6), ("Common cold", 0.4)], outside, share=0.5)
    as_dict = {name: (p, origin) for name, p, origin in merged}
    assert as_dict["Influenza"] == (0.3 + 0.375, "pack")
    assert as_dict["Q Fever"] == (0.125, "index")
    assert abs(sum(p for _, p, _ in merged) - 1.0) < 1e-6


def test_names_link_to_icd10_codes():
    assert icd10_code("Myasthenia gravis") == "G70.0"  # the category's name
    assert icd10_code("Acute appendicitis") == "K35"
    assert icd10_code("not a disease at all xyz") is None


def test_outside_candidates_always_get_a_floor_share():
    config = CandidateConfig(min_unexplained=0.3, min_share=0.2)
    assert outside_share(0.1, config) == 0.2  # explained well: the floor
    assert outside_share(0.6, config) == 0.6  # explained poorly: what is unexplained
    assert outside_share(0.1, CandidateConfig(min_unexplained=0.3, min_share=0.0)) == 0.0
    # the probability that the condition is beyond the pack, when it is larger
    assert outside_share(0.1, config, beyond=0.7) == 0.7
    assert outside_share(0.6, config, beyond=0.1) == 0.6


def test_titles_of_tests_procedures_and_care_are_not_candidates_and_framing_is_dropped():
    hits = [
        _hit("Vital Signs", "MedQuAD/MPlusHealthTopics", 0.9),
        _hit("Knee Replacement", "MedQuAD/MPlusHealthTopics", 0.85),
        _hit("Blood Count Tests", "MedQuAD/MPlusHealthTopics", 0.8),
        _hit("What I need to know about Gallstones", "MedQuAD/NIDDK", 0.7),
        _hit("Pyelonephritis: Kidney Infection", "MedQuAD/NIDDK", 0.6),
        _hit("Gallstones", "MedQuAD/MPlusHealthTopics", 0.5),
    ]
    ranked = rank_outside(hits, CandidateConfig())
    assert [c.name for c in ranked] == ["Gallstones", "Pyelonephritis"]
    assert abs(ranked[0].score - 1.2) < 1e-9  # one disease, two framings


@dataclass
class _Index:
    hits: list
    queries: list

    def search(self, query: str, k: int = 5) -> list:
        self.queries.append(query)
        return self.hits[:k]


def test_the_full_differential_names_outside_candidates_without_an_assessment():
    from agent.consultation import Assessment, Consultation
    from agent.extract import PhraseTable

    index = _Index([_hit("Kawasaki Disease", "MedQuAD/GARD", 0.9)], [])
    c = Consultation(PACK, PhraseTable.from_pack(PACK), index=index)
    list(c.respond("My son has had a fever for five days and a rash, his lips are cracked"))
    names = [n for n, _ in c.full_differential()]
    assert "Kawasaki Disease" in names and len(index.queries) == 1
    assert {n for n, _ in c.differential(3)} <= set(names)
    assert not c.finished  # nothing was concluded or written
    (done,) = [s for s in c.conclude() if isinstance(s, Assessment)]
    assert [n for n, _ in done.differential] == [n for n, p in c.full_differential() if p >= 0.01]


def test_the_query_leaves_out_the_words_results_are_labelled_with():
    said = ["Examination, Neurological Examination / Cranial Nerves: Presence of ptosis."]
    query = outside_query(_state(), PACK, said).lower()
    assert "ptosis" in query and "cranial nerves" in query
    assert "examination" not in query and " / " not in query


def _passage(title: str, source: str = "MedQuAD/GARD", n: int = 0) -> Passage:
    return Passage(f"{title}-{n}", title, title, source, "", "symptoms", "x")


def test_score_fusion_puts_each_method_on_one_scale():
    from agent.candidates import fused_scores

    lexical = np.array([4.0, 2.0, 0.0, 0.0, 0.0])
    dense = np.array([0.2, 0.6, 0.1, 0.1, 0.1])
    fused = fused_scores(lexical, dense)
    # BM25 over the best (1, 0.5); dense above the median (0.1) over the best's (0.5)
    assert np.allclose(fused, [1.0 + 0.2, 0.5 + 1.0, 0.0, 0.0, 0.0])
    assert np.allclose(fused_scores(np.zeros(3), np.zeros(3)), 0.0)  # nothing matched


def test_score_fusion_ranks_names_by_their_best_passages_less_a_hub_penalty():
    from agent.candidates import fused_scores, rank_scored

    passages = [
        _passage("Myasthenia Gravis"),
        _passage("High Blood Pressure", "MedQuAD/NHLBI", 0),
        *[_passage("High Blood Pressure", "MedQuAD/NHLBI", i) for i in range(1, 20)],
        _passage("Dyspnea", "HPO"),  # a symptom, not a diagnosis
        _passage("Eye Diseases"),  # a group
    ]
    n = len(passages)
    lexical = np.zeros(n)
    lexical[0], lexical[1], lexical[2], lexical[-2] = 1.0, 0.9, 0.9, 5.0
    dense = np.zeros(n)
    plain = CandidateConfig(hub_penalty=0.0, per_name=1)
    assert [c.name for c in rank_scored(fused_scores(lexical, dense), passages, plain)][:1] == [
        "Myasthenia Gravis"
    ]
    two = CandidateConfig(hub_penalty=0.0, per_name=2)  # 0.18 + 0.18 beats 0.2 alone
    ranked = rank_scored(fused_scores(lexical, dense), passages, two)
    assert [c.name for c in ranked] == ["High Blood Pressure", "Myasthenia Gravis"]
    assert len(ranked[0].passages) == 2
    penalised = CandidateConfig(hub_penalty=0.1, per_name=2)  # 20 passages: 0.36 - 0.1 ln 20
    assert [c.name for c in rank_scored(fused_scores(lexical, dense), passages, penalised)][0] == (
        "Myasthenia Gravis"
    )


def test_outside_names_come_from_every_passage_score_when_the_index_gives_them():
    from agent.candidates import name_outside

    passages = [
        _passage("Botulism"),
        _passage("Myasthenia Gravis"),
        _passage("Bell's palsy", "Anamnesis knowledge pack"),
    ]

    class Scored(_Index):
        def all_scores(self, query: str):
            self.queries.append(query)
            return np.array([0.0, 3.0, 1.5]), np.array([0.1, 0.5, 0.1])

    scored = Scored([_hit("Botulism", "MedQuAD/CDC", 0.9)], [])
    scored.passages = passages
    named = name_outside(scored, "ptosis", CandidateConfig(hub_penalty=0.0))
    assert [c.name for c in named.candidates] == ["Myasthenia Gravis", "Botulism"]
    assert abs(named.lead - (2.0 - 0.5)) < 1e-6  # over the pack's best condition
    ranks = name_outside(scored, "ptosis", CandidateConfig(fusion="ranks"))
    assert [c.name for c in ranks.candidates] == ["Botulism"] and ranks.lead is None
    plain = _Index([_hit("Botulism", "MedQuAD/CDC", 0.9)], [])  # no all_scores: ranks
    assert [c.name for c in name_outside(plain, "ptosis", CandidateConfig()).candidates] == [
        "Botulism"
    ]


def test_the_share_beyond_the_pack_follows_the_retrieval_evidence():
    from agent.candidates import weigh_share

    assert weigh_share(0.5, None, 0.2) == 0.5  # no scores to compare
    assert weigh_share(0.5, 0.3, None) == 0.5  # switched off
    assert abs(weigh_share(0.5, 0.2, 0.2) - np.e / (1 + np.e)) < 1e-9  # odds times e
    assert weigh_share(0.25, -0.4, 0.2) < 0.05 < 0.9 < weigh_share(0.25, 0.8, 0.2)


def test_names_are_compared_without_accents():
    from agent.candidates import normalise_name

    assert normalise_name("Ménière's disease") == normalise_name("Meniere's Disease")
    assert normalise_name("Henoch-Schönlein purpura (HSP)") == "henoch schonlein purpura"


def test_a_temperature_lets_a_clear_first_outside_name_outweigh_the_pack():
    from agent.candidates import Candidate

    outside = [Candidate("Sarcoidosis", 2.0, ()), Candidate("Lymphoma", 1.8, ())]
    pack_top = [("Asthma", 0.9)]
    flat = merge(pack_top, outside, 0.6)
    assert flat[0][0] == "Asthma"  # 0.36 against 0.32 and 0.28
    sharp = merge(pack_top, outside, 0.6, temperature=0.1)
    assert [n for n, _, _ in sharp] == ["Sarcoidosis", "Asthma", "Lymphoma"]
    assert abs(sum(p for _, p, _ in sharp) - 0.96) < 1e-3  # the pack's 0.1 left is not shown
    assert abs(sharp[0][1] - 0.6 / (1 + np.exp(-2))) < 1e-3


def test_the_pack_s_own_passages_move_the_share_of_outside_names_both_ways():
    from agent.consultation import Consultation, Retrieval
    from agent.extract import PhraseTable

    passages = [
        _passage("Migraine", "Anamnesis knowledge pack"),
        _passage("Familial hemiplegic migraine"),
        _passage("Cluster headache", "MedQuAD/NINDS"),
    ]

    def outside_probability(lexical, dense, evidence: bool) -> tuple[float, list]:
        class Scored(_Index):
            def all_scores(self, query: str):
                return np.array(lexical), np.array(dense)

        index = Scored([], [])
        index.passages = passages
        c = Consultation(PACK, PhraseTable.from_pack(PACK), index=index)
        if not evidence:
            quiet = c.config.candidates.model_copy(update={"evidence_temperature": None})
            c.config = c.config.model_copy(update={"candidates": quiet})
        list(c.respond("I get a throbbing headache and one side of my body goes weak"))
        steps = [s for s in c.conclude() if isinstance(s, Retrieval) and "wider" in s.reason]
        return dict(c.full_differential()).get("Familial hemiplegic migraine", 0.0), steps

    outside_first = ([0.2, 3.0, 1.0], [0.1, 0.6, 0.3])
    ahead, steps = outside_probability(*outside_first, evidence=True)
    assert "better than any pack condition" in steps[0].reason
    neutral, steps = outside_probability(*outside_first, evidence=False)
    assert "pack condition" not in steps[0].reason
    pack_first = ([6.0, 1.0, 1.0], [0.6, 0.1, 0.3])
    behind, steps = outside_probability(*pack_first, evidence=True)
    assert "worse than any pack condition" in steps[0].reason
    assert behind < neutral < ahead and ahead > 0.9


def test_diagnoses_the_best_passages_mention_by_name_are_found():
    from agent.candidates import mentioned

    passages = [
        Passage(
            "p1",
            "Pericarditis",
            "Pericarditis",
            "MedQuAD/NHLBI",
            "",
            "complications",
            "Pericarditis can lead to cardiac tamponade or to chronic constrictive pericarditis; "
            "a fever and other specified diseases of pericardium are also mentioned.",
        ),
        Passage("p2", "x", "Asthma", "MedQuAD/NHLBI", "", "x", "Acute appendicitis."),
    ]
    fused = np.array([2.0, 0.1])
    found = mentioned(fused, passages, CandidateConfig(mention_passages=1))
    # two-word names or longer, in reading order; residual classes ("Other ...") and single
    # words are not read, and the second passage is beyond the first one read
    assert [c.name for c in found] == ["Cardiac tamponade", "Chronic constrictive pericarditis"]
    assert found[0].code == "I31.4" and found[0].score == 2.0
    assert found[0].passages[0].id == "p1"
    both = mentioned(fused, passages, CandidateConfig(mention_passages=2))
    assert [c.name for c in both][-1] == "Acute appendicitis"
    no_symptom = mentioned(
        fused, passages, CandidateConfig(mention_passages=1), frozenset({"cardiac tamponade"})
    )
    assert [c.name for c in no_symptom] == ["Chronic constrictive pericarditis"]


def test_mentioned_diagnoses_take_the_last_places_and_their_scores():
    from agent.candidates import Candidate, with_mentioned

    ranked = [Candidate("Pericarditis", 3.0, ()), Candidate("Heart Attack", 2.0, ())]
    ranked.append(Candidate("Heart Failure", 1.0, ()))
    mentions = [Candidate("pericarditis", 9.0, ()), Candidate("Cardiac tamponade", 9.0, ())]
    out = with_mentioned(ranked, mentions, places=2)
    # the first place stays; a mention already named before the places is skipped; the
    # mention takes the score of the place it takes, and an unfilled place keeps its name
    assert [(c.name, c.score) for c in out] == [
        ("Pericarditis", 3.0),
        ("Cardiac tamponade", 2.0),
        ("Heart Attack", 2.0),
    ]
    assert with_mentioned(ranked, mentions, places=0) == ranked
    assert [c.name for c in with_mentioned(ranked, [], places=2)] == [c.name for c in ranked]


def test_a_bare_reading_is_left_out_of_the_query_and_an_abnormal_one_is_named():
    from agent.candidates import bare_reading, outside_query

    said = [
        "Complete Blood Count / Hemoglobin: 7.1 g/dL; Vital Signs / Pulse: 76/min; "
        "Chest X-ray / Findings: Consolidation in the right lower lobe; "
        "Anti-dsDNA: positive at 1:320"
    ]
    query = outside_query(ConsultationState(), default_pack(), said).lower()
    assert "7.1" not in query and "pulse" not in query and "76" not in query  # bare readings
    assert "anemia" in query  # what the low value is called
    assert "consolidation" in query and "positive" in query  # results said in words
    assert bare_reading("Platelets: 250 x 10^9/L") and not bare_reading("ALT: elevated, 450 U/L")
