"""The medical knowledge index: documents in, cited passages out.

Knows nothing of the agent, training or UI.
"""

from retrieval.config import IndexConfig
from retrieval.documents import Document, Hit, Passage
from retrieval.index import (
    IndexCorruptError,
    IndexNotFoundError,
    IndexUnavailable,
    KnowledgeIndex,
    build_index,
)

__all__ = [
    "Document",
    "Hit",
    "IndexConfig",
    "IndexCorruptError",
    "IndexNotFoundError",
    "IndexUnavailable",
    "KnowledgeIndex",
    "Passage",
    "build_index",
]
