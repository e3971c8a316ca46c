"""Retrieval benchmark: does a chunk of a MedQuAD question's own answer come back?

``medquad_questions(path, n, seed)`` samples questions with the text keys of their answer's
chunks; ``evaluate(index, questions)`` reports recall@1/5/10, MRR@10 and query latency per
method (BM25, dense, fused). Run it with ``anamnesis bench retrieval``.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass

from retrieval.chunking import chunk_text
from retrieval.documents import text_key
from retrieval.index import KnowledgeIndex, Method
from retrieval.sources import medquad_documents

METHODS: tuple[Method, ...] = ("bm25", "dense", "hybrid")


@dataclass(frozen=True)
class Question:
    text: str
    gold: frozenset[str]  # text keys of the chunks of its own answer


def medquad_questions(
    path: str, n: int, seed: int, chunk_words: int, chunk_overlap: int
) -> list[Question]:
    docs = [d for d in medquad_documents(path) if d.metadata.get("question")]
    picked = random.Random(seed).sample(docs, min(n, len(docs)))
    return [
        Question(
            d.metadata["question"],
            frozenset(text_key(c) for c in chunk_text(d.text, chunk_words, chunk_overlap)),
        )
        for d in picked
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def evaluate(
    index: KnowledgeIndex, questions: list[Question], methods: tuple[Method, ...] = METHODS
) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for method in methods:
        index.search(questions[0].text, k=10, method=method)  # warm up
        ranks: list[int | None] = []
        latencies: list[float] = []
        for q in questions:
            start = time.perf_counter()
            hits = index.search(q.text, k=10, method=method)
            latencies.append((time.perf_counter() - start) * 1000)
            keys = [h.passage.text_key for h in hits]
            ranks.append(next((r for r, k in enumerate(keys, 1) if k in q.gold), None))
        n = len(questions)
        results[method] = {
            "recall@1": sum(1 for r in ranks if r and r <= 1) / n,
            "recall@5": sum(1 for r in ranks if r and r <= 5) / n,
            "recall@10": sum(1 for r in ranks if r and r <= 10) / n,
            "mrr@10": sum(1 / r for r in ranks if r) / n,
            "latency_p50_ms": statistics.median(latencies),
            "latency_p95_ms": _percentile(latencies, 0.95),
        }
    return results
