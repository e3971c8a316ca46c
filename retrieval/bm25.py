"""Okapi BM25 over passages, as a sparse matrix of precomputed term weights.

A query's score is the sum of its terms' columns, so a search over tens of thousands of
passages is a few sparse column sums. Saved as ``bm25.npz`` plus ``bm25_vocab.json``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    """a an and are as at be been but by can do does for from had has have how i if in into is
    it its may me my no not of on or so such than that the their them then there these they this
    to was what when where which who why will with you your are is am were what's""".split()
)


def stem(word: str) -> str:
    """A light plural/suffix folding: 'infections' -> 'infection', 'babies' -> 'baby'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25:
    def __init__(self, weights: sparse.csc_matrix, vocab: dict[str, int]) -> None:
        self.weights = weights
        self.vocab = vocab

    @classmethod
    def build(cls, texts: Sequence[str], k1: float = 1.2, b: float = 0.75) -> BM25:
        vocab: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        lengths = np.zeros(len(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                tfs.append(tf)
        tf = np.asarray(tfs, dtype=np.float32)
        col = np.asarray(cols, dtype=np.int64)
        row = np.asarray(rows, dtype=np.int64)
        n = max(len(texts), 1)
        df = np.bincount(col, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        avgdl = float(lengths.mean()) if len(texts) else 1.0
        norm = k1 * (1 - b + b * lengths[row] / max(avgdl, 1e-9))
        w = idf[col] * tf * (k1 + 1) / (tf + norm)
        weights = sparse.csc_matrix((w, (row, col)), shape=(len(texts), len(vocab)))
        return cls(weights, vocab)

    def scores(self, query: str) -> np.ndarray:
        """The query's score for every document (zeros when no query word is known)."""
        ids = sorted({self.vocab[t] for t in tokenize(query) if t in self.vocab})
        if not ids:
            return np.zeros(self.weights.shape[0], dtype=np.float32)
        return np.asarray(self.weights[:, ids].sum(axis=1), dtype=np.float32).ravel()

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        if self.weights.shape[0] == 0:
            return []
        scores = self.scores(query)
        if not scores.any():
            return []
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def save(self, folder: Path) -> None:
        sparse.save_npz(folder / "bm25.npz", self.weights)
        (folder / "bm25_vocab.json").write_text(json.dumps(self.vocab))

    @classmethod
    def load(cls, folder: Path) -> BM25:
        weights = sparse.load_npz(folder / "bm25.npz").tocsc()
        vocab = json.loads((folder / "bm25_vocab.json").read_text())
        return cls(weights, vocab)
