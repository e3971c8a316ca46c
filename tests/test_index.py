import json

import pytest

from retrieval.index import IndexCorruptError, IndexNotFoundError, KnowledgeIndex, build_index


@pytest.mark.parametrize("method", ["hybrid", "dense", "bm25"])
def test_each_method_finds_the_right_document(tiny_index, method):
    hits = tiny_index.search("burning when I pass urine", k=3, method=method)
    assert hits[0].passage.title == "Cystitis"
    assert all(h.method == method for h in hits)


def test_dense_finds_paraphrases_bm25_misses(tiny_index):
    # no word in common with the asthma passage beyond meaning
    assert (
        tiny_index.search("whistling noise when breathing", 1, "dense")[0].passage.title == "Asthma"
    )


def test_hits_carry_citation_fields(tiny_index):
    hit = tiny_index.search("throbbing headache", 1)[0]
    d = hit.to_dict()
    assert {"score", "title", "source", "url", "text"} <= d.keys()
    assert d["url"].startswith("https://example.org/")


def test_empty_query_gives_no_hits(tiny_index):
    assert tiny_index.search("   ", 5) == []


def test_index_saves_config_and_manifest(tiny_index):
    manifest = json.loads((tiny_index.folder / "manifest.json").read_text())
    assert manifest["passages"] == len(tiny_index) == 5
    assert "chunk_words" in json.loads((tiny_index.folder / "config.json").read_text())["index"]


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexNotFoundError, match="anamnesis kb build"):
        KnowledgeIndex(tmp_path / "nothing")


@pytest.mark.parametrize(
    "damage", ["bm25.npz", "passage_ids.json", "llama/default__vector_store.json"]
)
def test_corrupt_index_says_how_to_rebuild(tmp_path, five_docs, embedder, damage):
    folder = tmp_path / "idx"
    build_index(five_docs, folder, progress=False, embedder=embedder)
    (folder / damage).write_bytes(b"\x00garbage")
    with pytest.raises(IndexCorruptError, match="rebuild"):
        KnowledgeIndex(folder, embedder=embedder)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_work(tmp_path, five_docs, embedder, kind):
    from retrieval.config import IndexConfig

    folder = tmp_path / kind
    build_index(five_docs, folder, IndexConfig(faiss=kind), progress=False, embedder=embedder)
    index = KnowledgeIndex(folder, embedder=embedder)
    assert index.search("wheeze and breathlessness", 1, "dense")[0].passage.title == "Asthma"
    # every passage's scores, from the vectors FAISS gives back, or by searching them all
    _, dense = index.all_scores("wheeze and breathlessness")
    assert index.passages[int(dense.argmax())].title == "Asthma"
    index._all_vectors = None  # as if FAISS could not give them back
    _, searched = index.all_scores("wheeze and breathlessness")
    assert index.passages[int(searched.argmax())].title == "Asthma"
    assert abs(float(searched.max()) - float(dense.max())) < 1e-4


def test_failed_build_keeps_the_old_index(tmp_path, five_docs, embedder):
    folder = tmp_path / "idx"
    build_index(five_docs, folder, progress=False, embedder=embedder)
    with pytest.raises(ValueError):
        build_index([], folder, progress=False, embedder=embedder)
    assert len(KnowledgeIndex(folder, embedder=embedder)) == 5


def test_duplicate_passages_are_indexed_once(tmp_path, five_docs, embedder):
    folder = tmp_path / "dup"
    build_index(five_docs + five_docs[:2], folder, progress=False, embedder=embedder)
    assert len(KnowledgeIndex(folder, embedder=embedder)) == 5


def test_every_passage_has_a_score_in_passage_order(tiny_index):
    query = "chest pain radiating to the left arm"
    lexical, dense = tiny_index.all_scores(query)
    assert lexical.shape == dense.shape == (len(tiny_index),)
    for hit in tiny_index.dense(query, 3):
        assert abs(dense[tiny_index._row[hit.passage.id]] - hit.score) < 1e-4
    for hit in tiny_index.lexical(query, 3):
        assert abs(lexical[tiny_index._row[hit.passage.id]] - hit.score) < 1e-4
    assert not tiny_index.all_scores("zzzz qqqq")[0].any()  # no known word: no BM25 score
