"""The knowledge index: passages in a FAISS vector index built with llama-index, plus BM25.

``build_index(documents, folder, config)`` chunks, embeds (batched, with a progress bar) and
persists everything into ``folder`` with the config and a manifest; ``KnowledgeIndex.load``
opens it again, and ``search(query, k, method)`` answers with dense, BM25 or fused hits.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
from tqdm.auto import tqdm

from retrieval.bm25 import BM25
from retrieval.chunking import chunk_documents
from retrieval.config import IndexConfig
from retrieval.documents import Document, Hit, Passage
from retrieval.embedding import Embedder, LlamaIndexEmbedding
from retrieval.fusion import reciprocal_rank_fusion

log = logging.getLogger(__name__)

Method = Literal["hybrid", "dense", "bm25"]
FORMAT_VERSION = 1
_META_KEYS = ("doc_id", "title", "source", "url", "section")


class IndexUnavailable(RuntimeError):
    """Base for index problems; the message says what to do."""


class IndexNotFoundError(IndexUnavailable):
    pass


class IndexCorruptError(IndexUnavailable):
    pass


@dataclass(frozen=True)
class BuildReport:
    documents: int
    passages: int
    seconds: float
    embed_seconds: float
    by_source: dict[str, int]

    @property
    def passages_per_second(self) -> float:
        return self.passages / max(self.seconds, 1e-9)


def indexed_text(p: Passage) -> str:
    """What is embedded and BM25-indexed: the title gives a passage its topic."""
    return f"{p.title}: {p.text}" if p.title else p.text


def _faiss_index(vectors: np.ndarray, config: IndexConfig) -> faiss.Index:
    n, dim = vectors.shape
    kind = config.faiss
    if kind == "auto":
        kind = "hnsw" if n >= config.large_index else "flat"
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(64, config.candidates)
        return index
    lists = max(1, min(config.ivf_lists, n // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors)
    index.nprobe = min(config.ivf_probe, lists)
    return index


def _unique(passages: Iterable[Passage]) -> list[Passage]:
    """Drop repeated passages (same title and text), keeping the first."""
    seen: set[tuple[str, str]] = set()
    out = []
    for p in passages:
        key = (p.title, p.text_key)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def build_index(
    documents: Iterable[Document],
    folder: Path | str,
    config: IndexConfig | None = None,
    progress: bool = True,
    embedder: Embedder | None = None,
    extra_config: dict | None = None,
) -> BuildReport:
    """Build and persist an index; an existing one at ``folder`` is replaced only on success."""
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.faiss import FaissVectorStore

    config = config or IndexConfig()
    folder = Path(folder)
    start = time.perf_counter()
    docs = list(documents)
    passages = _unique(chunk_documents(docs, config.chunk_words, config.chunk_overlap))
    if not passages:
        raise ValueError("no passages to index: the sources gave no text")
    embedder = embedder or Embedder(config)
    texts = [indexed_text(p) for p in passages]
    # Embed longest first in large blocks: even batches, and an honest progress bar.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    t0 = time.perf_counter()
    block = config.embed_batch * 8
    with tqdm(total=len(texts), desc="embedding", unit="passage", disable=not progress) as bar:
        for s in range(0, len(texts), block):
            idx = order[s : s + block]
            vectors[idx] = embedder.encode([texts[i] for i in idx])
            bar.update(len(idx))
    embed_seconds = time.perf_counter() - t0

    store = FaissVectorStore(faiss_index=_faiss_index(vectors, config))
    storage = StorageContext.from_defaults(vector_store=store)
    index = VectorStoreIndex([], storage_context=storage, embed_model=LlamaIndexEmbedding(embedder))
    # Insert in batches: a node's embedding is a Python list, so making all nodes at once
    # would hold every vector several times over.
    for s in range(0, len(passages), 4096):
        index.insert_nodes(
            [
                TextNode(
                    id_=p.id,
                    text=p.text,
                    metadata={k: getattr(p, k) for k in _META_KEYS},
                    excluded_embed_metadata_keys=list(_META_KEYS),
                    excluded_llm_metadata_keys=list(_META_KEYS),
                    embedding=vectors[s + i].tolist(),
                )
                for i, p in enumerate(passages[s : s + 4096])
            ]
        )
    tmp = folder.with_name(folder.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    storage.persist(persist_dir=str(tmp / "llama"))
    BM25.build(texts, config.bm25_k1, config.bm25_b).save(tmp)
    (tmp / "passage_ids.json").write_text(json.dumps([p.id for p in passages]))
    report = BuildReport(
        documents=len(docs),
        passages=len(passages),
        seconds=time.perf_counter() - start,
        embed_seconds=embed_seconds,
        by_source=dict(Counter(p.source.split("/")[0] for p in passages)),
    )
    (tmp / "config.json").write_text(
        json.dumps({"index": config.model_dump(), **(extra_config or {})}, indent=2)
    )
    manifest = {
        "format": FORMAT_VERSION,
        "dim": embedder.dim,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **report.__dict__,
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return report


class KnowledgeIndex:
    """A persisted index opened for search."""

    def __init__(self, folder: Path | str, embedder: Embedder | None = None) -> None:
        folder = Path(folder)
        hint = f"build it with `anamnesis kb build` (index folder: {folder})"
        if not (folder / "manifest.json").exists():
            raise IndexNotFoundError(f"No knowledge index found: {hint}.")
        try:
            self.manifest = json.loads((folder / "manifest.json").read_text())
            saved = json.loads((folder / "config.json").read_text())
            self.config = IndexConfig.model_validate(saved["index"])
            ids = json.loads((folder / "passage_ids.json").read_text())
            self.bm25 = BM25.load(folder)
            self._open_llama(folder / "llama", embedder)
            self.passages = [self._passage(i) for i in ids]
        except IndexUnavailable:
            raise
        except Exception as exc:  # any unreadable or missing part
            raise IndexCorruptError(
                f"The knowledge index at {folder} is incomplete or corrupt "
                f"({type(exc).__name__}: {exc}); rebuild it with `anamnesis kb build`."
            ) from exc
        if not (len(self.passages) == self.bm25.weights.shape[0] == self.manifest["passages"]):
            raise IndexCorruptError(
                f"The knowledge index at {folder} is inconsistent (passage counts differ); "
                "rebuild it with `anamnesis kb build`."
            )
        self.folder = folder
        self._row = {p.id: i for i, p in enumerate(self.passages)}
        positions = self.vector_index.index_struct.nodes_dict
        self._position_row = [self._row[positions[str(i)]] for i in range(len(positions))]

    def _open_llama(self, folder: Path, embedder: Embedder | None) -> None:
        from llama_index.core import StorageContext, load_index_from_storage
        from llama_index.vector_stores.faiss import FaissVectorStore

        store = FaissVectorStore.from_persist_dir(str(folder))
        storage = StorageContext.from_defaults(vector_store=store, persist_dir=str(folder))
        self.embedder = embedder or Embedder(self.config)
        self.vector_index = load_index_from_storage(
            storage, embed_model=LlamaIndexEmbedding(self.embedder)
        )
        self._docstore = storage.docstore
        self._faiss = store.client
        # One query at a time is faster on one thread than split across cores.
        faiss.omp_set_num_threads(1)

    def _passage(self, node_id: str) -> Passage:
        node = self._docstore.get_node(node_id)
        meta = node.metadata
        return Passage(id=node_id, text=node.get_content(), **{k: meta[k] for k in _META_KEYS})

    def __len__(self) -> int:
        return len(self.passages)

    def dense(self, query: str, k: int) -> list[Hit]:
        """Dense retrieval: embed the query, ask llama-index's FAISS vector store."""
        from llama_index.core.vector_stores.types import VectorStoreQuery

        vector = self.embedder.encode([query])[0]
        result = self.vector_index.vector_store.query(
            VectorStoreQuery(query_embedding=vector.tolist(), similarity_top_k=k)
        )
        return [
            Hit(self.passages[self._position_row[int(pos)]], float(score), "dense")
            for pos, score in zip(result.ids or [], result.similarities or [], strict=True)
        ]

    def all_scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """The query's BM25 score and dense cosine for every passage, in passage order: what a
        caller needs to fuse by scores rather than by ranks. The vectors are read from the
        FAISS index once (an index whose vectors cannot be read back is searched in full)."""
        lexical = self.bm25.scores(query)
        vector = self.embedder.encode([query])[0].astype(np.float32)
        vectors = self._vectors()
        if vectors is not None:
            dense = vectors @ vector
        else:
            n = self._faiss.ntotal
            sims, positions = self._faiss.search(vector[None, :], n)
            dense = np.full(len(self.passages), float(sims.min()), dtype=np.float32)
            keep = positions[0] >= 0
            dense[np.asarray(self._position_row)[positions[0][keep]]] = sims[0][keep]
        return lexical, dense

    def _vectors(self) -> np.ndarray | None:
        """Every passage's vector in passage order, or None when FAISS cannot give them back."""
        if not hasattr(self, "_all_vectors"):
            try:
                stored = self._faiss.reconstruct_n(0, self._faiss.ntotal)
            except RuntimeError:  # e.g. an IVF index without a direct map
                self._all_vectors = None
            else:
                vectors = np.zeros_like(stored)
                vectors[np.asarray(self._position_row)] = stored
                self._all_vectors = vectors
        return self._all_vectors

    def lexical(self, query: str, k: int) -> list[Hit]:
        return [Hit(self.passages[i], s, "bm25") for i, s in self.bm25.search(query, k)]

    def search(self, query: str, k: int = 5, method: Method = "hybrid") -> list[Hit]:
        """The best ``k`` passages for ``query``; an empty query gives no hits."""
        query = " ".join(query.split())
        if not query or k <= 0:
            return []
        if method == "dense":
            return self.dense(query, k)
        if method == "bm25":
            return self.lexical(query, k)
        n = max(k, self.config.candidates)
        dense, lexical = self.dense(query, n), self.lexical(query, n)
        by_id = {h.passage.id: h.passage for h in dense + lexical}
        fused = reciprocal_rank_fusion(
            [[h.passage.id for h in dense], [h.passage.id for h in lexical]],
            self.config.rrf_k,
            weights=(self.config.dense_weight, 1.0),
        )
        return [Hit(by_id[pid], score, "hybrid") for pid, score in fused[:k]]

    def get(self, passage_id: str) -> Passage | None:
        row = self._row.get(passage_id)
        return None if row is None else self.passages[row]

    def stats(self) -> dict[str, object]:
        return {
            "folder": str(self.folder),
            "passages": len(self.passages),
            "documents": self.manifest.get("documents"),
            "by_source": self.manifest.get("by_source"),
            "faiss": type(self._faiss).__name__,
            "dim": self.manifest.get("dim"),
            "vocabulary": len(self.bm25.vocab),
            "built": self.manifest.get("built"),
            "build_seconds": round(self.manifest.get("seconds", 0.0), 1),
        }
