"""Chunking: documents into passages of about ``chunk_words`` words on sentence boundaries.

Short documents stay whole; long ones are packed sentence by sentence, with the last
sentences of one passage repeated at the start of the next (``chunk_overlap`` words).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from retrieval.documents import Document, Passage

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])|\n\s*[-*\u2022]\s+|\n\s*\n")


def split_sentences(text: str) -> list[str]:
    parts = (" ".join(p.split()) for p in _SENTENCE_END.split(text))
    return [p for p in parts if p]


def _windows(words: list[str], size: int, overlap: int) -> Iterator[list[str]]:
    step = max(1, size - overlap)
    for start in range(0, max(1, len(words) - overlap), step):
        yield words[start : start + size]


def chunk_text(text: str, words: int, overlap: int) -> list[str]:
    """Split text into passages of at most ``words`` words (a long sentence is cut)."""
    chunks: list[str] = []
    current: list[str] = []
    for sentence in split_sentences(text):
        tokens = sentence.split()
        if len(tokens) > words:  # one sentence longer than a passage: cut it in windows
            if current:
                chunks.append(" ".join(current))
                current = []
            chunks.extend(" ".join(w) for w in _windows(tokens, words, overlap))
            continue
        if current and len(current) + len(tokens) > words:
            chunks.append(" ".join(current))
            tail: list[str] = []
            for prev in reversed(split_sentences(" ".join(current))):
                if len(tail) + len(prev.split()) > overlap:
                    break
                tail = prev.split() + tail
            current = tail
        current = current + tokens
    if current:
        chunks.append(" ".join(current))
    return chunks


def chunk_documents(docs: Iterable[Document], words: int, overlap: int) -> Iterator[Passage]:
    for doc in docs:
        for i, text in enumerate(chunk_text(doc.text, words, overlap)):
            yield Passage(
                id=f"{doc.id}#{i}",
                doc_id=doc.id,
                title=doc.title,
                source=doc.source,
                url=doc.url,
                section=doc.section,
                text=text,
            )
