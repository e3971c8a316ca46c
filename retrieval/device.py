"""Where models run: the one place that picks the device and the number format.

``resolve_device("auto")`` gives "cuda" when a GPU is present, else "cpu"; ``resolve_dtype``
picks bf16 where it is fast (CUDA with bf16, or CPUs with AMX / AVX-512 bf16 units).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available")
    return device


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (Intel AMX or AVX-512 BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_dtype(dtype: str, device: str) -> torch.dtype:
    if dtype != "auto":
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            dtype
        ]
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32
