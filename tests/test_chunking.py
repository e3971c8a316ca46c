from retrieval.chunking import chunk_documents, chunk_text, split_sentences
from retrieval.documents import Document


def test_short_text_stays_whole():
    assert chunk_text("One sentence. Two sentences.", 50, 10) == ["One sentence. Two sentences."]


def test_long_text_is_packed_on_sentence_boundaries_with_overlap():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = chunk_text(text, 30, 10)
    assert len(chunks) > 3
    assert all(len(c.split()) <= 30 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    # each passage starts with the last sentence(s) of the one before
    assert chunks[1].split(".")[0] in chunks[0]


def test_a_sentence_longer_than_a_passage_is_cut_in_windows():
    chunks = chunk_text("word " * 100, 40, 10)
    assert all(len(c.split()) <= 40 for c in chunks)
    assert sum(len(c.split()) for c in chunks) >= 100


def test_bullets_and_paragraphs_split_sentences():
    assert split_sentences("Intro\n\n- first point\n- second point") == [
        "Intro",
        "first point",
        "second point",
    ]


def test_passages_keep_document_metadata():
    doc = Document(id="d", title="T", text="A. " * 5, source="S", url="u", section="x")
    (p,) = list(chunk_documents([doc], 50, 5))
    assert (p.id, p.doc_id, p.title, p.source, p.url, p.section) == ("d#0", "d", "T", "S", "u", "x")
