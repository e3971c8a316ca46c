"""Typed configuration of the knowledge index: chunking, embedding, FAISS and fusion.

One ``IndexConfig`` is saved beside every index it built (``config.json``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class IndexConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunk_words: int = Field(150, ge=20, le=400, description="Target words per passage.")
    chunk_overlap: int = Field(15, ge=0, le=200, description="Words repeated between passages.")
    embedder: str = Field(
        "packaged", description="Sentence-embedding model: 'packaged' (all-MiniLM-L6-v2) or a path."
    )
    max_seq_length: int = Field(
        256, ge=32, le=512, description="Embedder's token limit per passage."
    )
    embed_batch: int = Field(64, ge=1, le=1024, description="Passages embedded per batch.")
    device: str = Field("auto", description="'auto' (cuda when present), 'cpu' or 'cuda'.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="'auto': bf16 on CUDA or on CPUs with bf16 matrix units, else fp32."
    )
    faiss: Literal["auto", "flat", "hnsw", "ivf"] = Field(
        "auto", description="'auto' is exact (flat) below `large_index` vectors, HNSW above."
    )
    large_index: int = Field(200_000, ge=1000, description="Vectors from which 'auto' uses HNSW.")
    hnsw_m: int = Field(32, ge=4, le=128, description="HNSW graph degree.")
    ivf_lists: int = Field(1024, ge=16, description="IVF cells (ivf only).")
    ivf_probe: int = Field(32, ge=1, description="IVF cells searched per query.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    dense_weight: float = Field(
        1.5, ge=0, description="Weight of the dense ranking against BM25's (1) in fusion."
    )
    candidates: int = Field(50, ge=5, le=1000, description="Hits per method before fusion.")
    bm25_k1: float = Field(1.2, gt=0, description="BM25 term saturation.")
    bm25_b: float = Field(0.75, ge=0, le=1, description="BM25 length normalisation.")
