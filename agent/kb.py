"""The agent's knowledge library: which sources make the index, and opening it.

``library_documents(sources)`` chains the configured sources; ``build_library`` builds the
index into the data folder; ``open_library`` opens it (a clear error when it is missing).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from agent.config import AppConfig, SourcesConfig
from agent.knowledge import pack_documents
from retrieval.documents import Document
from retrieval.index import BuildReport, KnowledgeIndex, build_index
from retrieval.sources import (
    folder_documents,
    hpo_documents,
    icd10_documents,
    medquad_documents,
    orphanet_documents,
)


def library_documents(sources: SourcesConfig) -> Iterator[Document]:
    parts: list = []
    if sources.pack:
        parts.append(pack_documents())
    if sources.hpo:
        parts.append(hpo_documents())
    if sources.orphanet:
        parts.append(orphanet_documents())
    if sources.icd10:
        parts.append(icd10_documents())
    if sources.medquad:
        parts.append(medquad_documents(sources.medquad))
    parts.extend(folder_documents(d) for d in sources.docs)
    return itertools.chain.from_iterable(parts)


def build_library(config: AppConfig, progress: bool = True) -> BuildReport:
    return build_index(
        library_documents(config.sources),
        config.index_dir,
        config.index,
        progress=progress,
        extra_config={"sources": config.sources.model_dump(mode="json")},
    )


def open_library(config: AppConfig) -> KnowledgeIndex:
    return KnowledgeIndex(config.index_dir)
