"""Integration: the real embedded model and a real index over the knowledge pack."""

import pytest

from agent.config import AppConfig, ModelConfig
from agent.lm import GenerationOptions, complete, load_chat_model

pytestmark = pytest.mark.slow


def test_embedded_model_converts_once_and_chats(prepared_home):
    from agent.checkpoint import embedded_checkpoint, is_prepared, prepare_checkpoint

    folder = embedded_checkpoint(prepared_home / "models")
    assert is_prepared(folder)
    stamp = (folder / "config.json").stat().st_mtime
    assert prepare_checkpoint(prepared_home / "models") == folder  # second call: no work
    assert (folder / "config.json").stat().st_mtime == stamp
    model = load_chat_model(AppConfig(home=prepared_home, model=ModelConfig(max_new_tokens=12)))
    messages = [
        {"role": "system", "content": "You are a doctor taking a history."},
        {"role": "user", "content": "I have had a cough for three days."},
    ]
    pieces = list(model.stream(messages))
    text = "".join(pieces)
    assert len(pieces) > 1 and len(text.split()) >= 3
    assert complete(model, messages, GenerationOptions(max_new_tokens=12)) == text  # greedy


def test_pack_index_answers_clinical_queries(tmp_path, embedder):
    from agent.knowledge import pack_documents
    from retrieval.index import KnowledgeIndex, build_index

    build_index(pack_documents(), tmp_path / "pack", progress=False, embedder=embedder)
    index = KnowledgeIndex(tmp_path / "pack", embedder=embedder)
    queries = {
        "burning when I pee and going often": "cystitis",
        "crushing chest pain spreading to my left arm and sweating": "myocardial infarction",
        "stiff neck, fever and a rash that does not fade": "mening",
    }
    for query, expected in queries.items():
        titles = [h.passage.title.lower() for h in index.search(query, k=3)]
        assert any(expected in t for t in titles), (query, titles)
