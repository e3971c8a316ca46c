"""The data that flows through retrieval: documents in, passages and hits out.

Every source yields ``Document``s; chunking turns them into ``Passage``s; a search returns
``Hit``s. Plain frozen dataclasses, so they cross process and JSON boundaries easily.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Document:
    """A unit of knowledge from one source, with what is needed to cite it."""

    id: str
    title: str
    text: str
    source: str
    url: str = ""
    section: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Passage:
    """A chunk of a document: what is embedded, retrieved and cited."""

    id: str
    doc_id: str
    title: str
    source: str
    url: str
    section: str
    text: str

    @property
    def text_key(self) -> str:
        """A short hash of the text, equal for equal passages from different documents."""
        return text_key(self.text)

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A passage returned by a search, with its score and the method that found it."""

    passage: Passage
    score: float
    method: str

    def to_dict(self) -> dict[str, object]:
        return {"score": round(self.score, 5), "method": self.method, **self.passage.to_dict()}


def text_key(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode()).hexdigest()[:16]
