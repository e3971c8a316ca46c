from retrieval.bm25 import BM25, stem, tokenize
from retrieval.fusion import reciprocal_rank_fusion

TEXTS = [
    "fever and cough in influenza",
    "burning urine in cystitis infections",
    "headache with aura in migraine",
    "cough cough cough chronic cough",
]


def test_tokenize_drops_stopwords_and_folds_plurals():
    assert tokenize("What are the infections of babies?") == ["infection", "baby"]
    assert stem("glass") == "glass"


def test_bm25_ranks_matching_documents_first():
    bm = BM25.build(TEXTS)
    assert bm.search("cystitis infection", 2)[0][0] == 1
    assert [i for i, _ in bm.search("cough", 4)] == [3, 0]
    assert bm.search("unrelated zebra", 3) == []


def test_bm25_round_trips(tmp_path):
    bm = BM25.build(TEXTS)
    bm.save(tmp_path)
    again = BM25.load(tmp_path)
    assert again.search("migraine aura", 1) == bm.search("migraine aura", 1)


def test_rrf_rewards_agreement():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]], k=60)
    assert [x for x, _ in fused][0] == "b"
    assert reciprocal_rank_fusion([]) == []
