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


def test_a_whole_consultation_with_the_real_model(prepared_home, tmp_path, embedder):
    """History taking to a cited assessment with the embedded model phrasing and summarising."""
    from agent.consultation import AgentConfig, Assessment, Question, Retrieval, Token
    from agent.extract import EmbeddingMatcher, PhraseTable
    from agent.knowledge import default_pack, pack_documents
    from agent.planner import PlannerConfig
    from retrieval.index import KnowledgeIndex, build_index

    build_index(pack_documents(), tmp_path / "pack", progress=False, embedder=embedder)
    index = KnowledgeIndex(tmp_path / "pack", embedder=embedder)
    pack = default_pack()
    model = load_chat_model(AppConfig(home=prepared_home))
    from agent.consultation import Consultation

    consultation = Consultation(
        pack,
        PhraseTable.from_pack(pack),
        AgentConfig(planner=PlannerConfig(max_questions=4), assessment_tokens=60),
        model=model,
        index=index,
        matcher=EmbeddingMatcher(pack, embedder),
    )
    steps = list(consultation.respond("It burns when I pee and I need to go all the time"))
    for answer in ("two days", "no", "no", "no", "no"):
        if consultation.finished:
            break
        steps += list(consultation.respond(answer))
    questions = [s for s in steps if isinstance(s, Question)]
    assert questions and all(q.text.strip().endswith("?") for q in questions)
    assert len({q.target for q in questions}) == len(questions)  # never repeated
    assert consultation.finished and isinstance(steps[-1], Assessment)
    assessment = steps[-1]
    assert any(isinstance(s, Token) for s in steps)  # the summary was streamed
    assert any(isinstance(s, Retrieval) for s in steps)
    retrieved = {p.id for s in steps if isinstance(s, Retrieval) for p in s.passages}
    assert {p.id for _, p in assessment.cited} <= retrieved  # only what was retrieved
    assert "cystitis" in " ".join(n.lower() for n, _ in assessment.differential)
    assert "not a diagnosis" in assessment.text


def test_the_shipped_questioning_adapter_shapes_the_llm_policy_only(prepared_home):
    import json

    from agent.checkpoint import SHIPPED_ADAPTER, resolve_adapter
    from agent.prompts import policy_messages

    assert resolve_adapter("shipped", "embedded") == SHIPPED_ADAPTER
    summary = json.loads((SHIPPED_ADAPTER / "train_summary.json").read_text())
    assert summary["kind"] == "dpo" and summary["steps"] > 0
    model = load_chat_model(AppConfig(home=prepared_home))
    assert model.adapted
    messages = policy_messages((), [("patient", "I have had a cough and a fever for three days.")])
    trained = complete(model, messages, GenerationOptions(max_new_tokens=32, policy=True))
    bare = complete(model, messages, GenerationOptions(max_new_tokens=32))
    assert trained != bare
    assert trained.strip().endswith("?") or trained.strip() == "CONCLUDE", trained
