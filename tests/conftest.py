"""Shared fixtures: a temp data folder for every test, a tiny index, a tiny random LM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MEDQUAD = SHARED_DATA / "medquad_answered.jsonl.gz"


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ANAMNESIS_HOME", str(home))
    monkeypatch.delenv("ANAMNESIS_MEDQUAD", raising=False)
    return home


@pytest.fixture(scope="session")
def embedder():
    from retrieval.config import IndexConfig
    from retrieval.embedding import Embedder

    e = Embedder(IndexConfig())
    e.encode(["warm up"])
    return e


FIVE_DOCS = [
    (
        "Influenza",
        "Influenza is a viral infection with sudden fever, chills, muscle aches, dry "
        "cough and tiredness. Most people recover within a week or two with rest and fluids.",
    ),
    (
        "Migraine",
        "Migraine causes throbbing one-sided headache with nausea and sensitivity to "
        "light. Attacks last hours to days. Some people see a zigzag aura before the pain.",
    ),
    (
        "Appendicitis",
        "Appendicitis starts with pain around the navel that moves to the lower "
        "right abdomen, with fever, nausea and loss of appetite. It needs urgent surgery.",
    ),
    (
        "Asthma",
        "Asthma narrows the airways and causes wheeze, breathlessness, chest tightness "
        "and a cough that is often worse at night or with exercise.",
    ),
    (
        "Cystitis",
        "Cystitis is a bladder infection that causes burning when passing urine, "
        "needing to pass urine often and urgently, and lower tummy pain.",
    ),
]


@pytest.fixture(scope="session")
def five_docs():
    from retrieval.documents import Document

    return [
        Document(id=f"t:{i}", title=t, text=x, source="Test", url=f"https://example.org/{i}")
        for i, (t, x) in enumerate(FIVE_DOCS)
    ]


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory, five_docs, embedder):
    from retrieval.index import KnowledgeIndex, build_index

    folder = tmp_path_factory.mktemp("index") / "tiny"
    build_index(five_docs, folder, progress=False, embedder=embedder)
    return KnowledgeIndex(folder, embedder=embedder)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model's real tokenizer (read from the GGUF), saved to a temp folder."""
    from transformers import AutoTokenizer

    from agent.checkpoint import embedded_gguf

    gguf = embedded_gguf()
    folder = tmp_path_factory.mktemp("tokenizer")
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Path:
    """A tiny random llama (hidden size 8, 2 layers) with the real tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny-lm")
    LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def prepared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the real embedded model, converted once per session (~20 s)."""
    from agent.checkpoint import prepare_checkpoint

    home = tmp_path_factory.mktemp("prepared-home")
    prepare_checkpoint(home / "models")
    return home
