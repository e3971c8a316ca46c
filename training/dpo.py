"""Preference tuning (DPO) of the SFT adapter on chosen/rejected doctor turns, with trl.

Run ``anamnesis train dpo --data DIR --sft-adapter DIR --out DIR``. The SFT adapter is loaded
trainable on its base model and no ``ref_model`` is given: trl keeps a frozen copy of the SFT
adapter as the reference, so the reference is the SFT policy and the result is one adapter.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from agent.checkpoint import ModelNotAvailable
from agent.config import AppConfig
from training.datasets import read_rows, to_trl_preferences
from training.sft import (
    LOSS_LOG,
    TRAIN_CONFIG,
    LossLog,
    base_dtype,
    base_model_path,
    check_resume,
    finish,
    fitting,
    load_tokenizer,
    trainer_arguments,
)
from training.trainconfig import DPORunConfig

log = logging.getLogger(__name__)


def sft_base_model(adapter: Path) -> str:
    """The base model an SFT adapter was trained on, as recorded beside it."""
    if not (adapter / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no PEFT adapter in {adapter} (adapter_config.json is missing)")
    recorded = adapter / TRAIN_CONFIG
    if recorded.is_file():
        return json.loads(recorded.read_text())["model"]
    return json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]


def run_dpo(config: DPORunConfig, app: AppConfig, command: str = "") -> Path:
    """Continue the SFT adapter with DPO; returns the adapter folder."""
    import torch
    from datasets import Dataset
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    start = time.perf_counter()
    if config.out.resolve() == config.sft_adapter.resolve():
        raise ValueError("--out must differ from --sft-adapter: the SFT adapter is the reference")
    model_name = config.model or sft_base_model(config.sft_adapter)
    resume = check_resume(config)
    rows = read_rows(config.data, "preference")
    base = base_model_path(model_name, app)
    tokenizer = load_tokenizer(base)
    rows, dropped = fitting(rows, tokenizer, config.max_length)
    if not rows:
        raise ValueError(f"every pair is longer than max_length={config.max_length} tokens")
    if dropped:
        log.warning("left out %d pair(s) longer than %d tokens", dropped, config.max_length)
    try:
        dtype = getattr(torch, base_dtype(config))
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    except OSError as exc:
        raise ModelNotAvailable(f"Cannot load {base!r} (nothing is downloaded): {exc}") from exc
    model = PeftModel.from_pretrained(model, str(config.sft_adapter), is_trainable=True)
    losses = ["sigmoid", "sft"] if config.sft_weight else ["sigmoid"]
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(
            **trainer_arguments(config),
            beta=config.beta,
            loss_type=losses,
            loss_weights=[1.0, config.sft_weight] if config.sft_weight else None,
        ),
        train_dataset=Dataset.from_list(to_trl_preferences(rows)),
        processing_class=tokenizer,
        callbacks=[LossLog(config.out / LOSS_LOG)],
    )
    result = trainer.train(resume_from_checkpoint=resume)
    return finish(
        trainer,
        config,
        kind="dpo",
        model=model_name,
        base=base,
        metrics=result.metrics,
        examples=len(rows),
        dropped=dropped,
        seconds=time.perf_counter() - start,
        command=command,
        sources=[str(p) for p in config.data] + [f"SFT adapter: {config.sft_adapter}"],
    )


if __name__ == "__main__":  # python -m training.dpo ... is `anamnesis train dpo ...`
    import sys

    from ui.cli.train import main

    sys.exit(main(["dpo", *sys.argv[1:]]))
