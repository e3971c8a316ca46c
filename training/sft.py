"""Supervised fine-tuning of a LoRA on the questioning policy's turns, with trl's SFTTrainer.

Run ``anamnesis train sft --data DIR --out DIR``; on several GPUs
``accelerate launch --config_file configs/accelerate/multi_gpu.yaml -m ui.cli.main train sft ...``.
Also holds what the DPO script shares: the base model, the trainer arguments, the loss log and
the finished adapter folder (config, card, summary).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from agent.checkpoint import (
    EMBEDDED_NAME,
    ModelNotAvailable,
    is_prepared,
    offline,
    prepare_checkpoint,
    resolve_model,
)
from agent.config import AppConfig
from training.datasets import Card, read_rows, to_trl_sft, write_card
from training.trainconfig import EMBEDDED_HUB_NAME, RunConfig, SFTRunConfig

log = logging.getLogger(__name__)

LOSS_LOG = "loss.jsonl"
TRAIN_CONFIG = "train_config.json"
SUMMARY = "train_summary.json"
# What trainer.save_model writes that an adapter folder does not need: the base model's
# tokenizer (3.5 MB, loaded with the base anyway), a pickle of the arguments (saved as JSON
# instead), peft's empty model card, and DPO's frozen reference copy of the SFT adapter.
SURPLUS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "training_args.bin",
    "README.md",
    "ref",
)


def base_model_path(model: str, app: AppConfig) -> str:
    """The folder (or cached hub name) to load: the embedded checkpoint is converted once."""
    offline()
    if model != "embedded":
        return resolve_model(model, app.models_dir)
    from accelerate import PartialState

    with PartialState().main_process_first():  # several processes: one converts
        if not is_prepared(app.models_dir / EMBEDDED_NAME):
            log.warning("preparing the embedded model once (about 30 s)")
        return str(prepare_checkpoint(app.models_dir))


def load_tokenizer(path: str):  # noqa: ANN201 - a PreTrainedTokenizer
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except OSError as exc:
        raise ModelNotAvailable(
            f"Cannot load {path!r}: not a local folder and not in the local Hugging Face cache "
            f"(nothing is downloaded). {exc}"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def fitting(rows: list[dict], tokenizer, max_length: int) -> tuple[list[dict], int]:  # noqa: ANN001
    """The rows whose longest rendering fits in ``max_length`` tokens, and how many did not:
    a cut example would teach a reply without its end."""

    def longest(row: dict) -> list[list[dict]]:
        if "messages" in row:
            return [row["messages"]]
        return [row["prompt"] + row["chosen"], row["prompt"] + row["rejected"]]

    kept = [
        r
        for r in rows
        if all(
            len(tokenizer.apply_chat_template(m, tokenize=True, return_dict=True)["input_ids"])
            <= max_length
            for m in longest(r)
        )
    ]
    return kept, len(rows) - len(kept)


def use_cpu(config: RunConfig) -> bool:
    import torch

    return config.cpu if config.cpu is not None else not torch.cuda.is_available()


def base_dtype(config: RunConfig) -> str:
    """The base weights' number format, by the project's one device rule for 'auto'."""
    if config.base_dtype != "auto":
        return config.base_dtype
    from retrieval.device import resolve_device, resolve_dtype

    device = "cpu" if use_cpu(config) else resolve_device("auto")
    return str(resolve_dtype("auto", device)).removeprefix("torch.")


def trainer_arguments(config: RunConfig) -> dict:
    """The TrainingArguments both trainers share, from the typed run config."""
    return dict(
        output_dir=str(config.checkpoints),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        learning_rate=config.lr,
        lr_scheduler_type="linear",
        warmup_steps=config.warmup_ratio,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        max_length=config.max_length,
        bf16=config.bf16,
        use_cpu=use_cpu(config),
        gradient_checkpointing=config.gradient_checkpointing,
        seed=config.seed,
        logging_steps=config.logging_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to="none",
    )


def check_resume(config: RunConfig) -> bool | None:
    """``resume_from_checkpoint`` for ``trainer.train``; refuses to mix two runs in one folder."""
    found = sorted(config.checkpoints.glob("checkpoint-*"))
    if config.resume:
        if not found:
            raise FileNotFoundError(f"--resume: no checkpoint in {config.checkpoints}")
        return True
    if found:
        raise ValueError(
            f"{config.checkpoints} holds checkpoints of an earlier run: pass --resume to "
            "continue it, or choose another --out"
        )
    return None


class LossLog(TrainerCallback):
    """Appends each logged step (loss, learning rate, ...) to ``loss.jsonl`` as JSON lines;
    on resume, lines after the restored step are dropped so that no step appears twice."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        if state.is_world_process_zero and self.path.exists():
            lines = self.path.read_text(encoding="utf-8").splitlines()
            kept = [ln for ln in lines if ln and json.loads(ln)["step"] <= state.global_step]
            self.path.write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001, ANN201
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        row |= {k: v for k, v in logs.items() if isinstance(v, int | float)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


def finish(
    trainer,  # noqa: ANN001 - a trl trainer after train()
    config: RunConfig,
    *,
    kind: str,
    model: str,
    base: str,
    metrics: dict,
    examples: int,
    dropped: int,
    seconds: float,
    command: str,
    sources: Sequence[str],
) -> Path:
    """Save the adapter and, beside it, the resolved config, a summary and a card."""
    trainer.save_model(str(config.out))
    if not trainer.is_world_process_zero():
        return config.out
    out = config.out
    for name in SURPLUS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    adapter_config = out / "adapter_config.json"
    if model == "embedded":
        data = json.loads(adapter_config.read_text())
        data["base_model_name_or_path"] = EMBEDDED_HUB_NAME  # not this machine's folder
        adapter_config.write_text(json.dumps(data, indent=2) + "\n")
    resolved = {"kind": kind, "model": model, "base_model": base, "dtype": base_dtype(config)}
    resolved["config"] = config.model_dump(mode="json")
    resolved["trainer"] = {
        k: v for k, v in trainer.args.to_dict().items() if isinstance(v, str | int | float | bool)
    }
    (out / TRAIN_CONFIG).write_text(json.dumps(resolved, indent=2) + "\n")
    steps = int(trainer.state.global_step)
    summary = {
        "kind": kind,
        "examples": examples,
        "dropped_too_long": dropped,
        "steps": steps,
        "train_loss": metrics.get("train_loss"),
        "train_seconds": round(metrics.get("train_runtime", 0.0), 1),
        "examples_per_second": metrics.get("train_samples_per_second"),
        "total_seconds": round(seconds, 1),
        "adapter_bytes": sum(p.stat().st_size for p in out.glob("adapter_model.*")),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    cards = [Path(p) / "card.md" for p in config.data if (Path(p) / "card.md").is_file()]
    for n, card in enumerate(cards):  # the data's own cards travel with the adapter
        shutil.copyfile(card, out / ("data_card.md" if n == 0 else f"data_card_{n + 1}.md"))
    write_card(
        out,
        Card(
            title=f"LoRA adapter ({kind.upper()}) for the llm questioning policy",
            summary=(
                f"A LoRA on {EMBEDDED_HUB_NAME if model == 'embedded' else model} trained "
                f"with trl's {kind.upper()} trainer to "
                "ask the next history-taking question, or reply CONCLUDE, in the llm policy's "
                "prompt format. Load it with `--set model.adapter=` this folder."
            ),
            sources=list(sources),
            counts={k: v for k, v in summary.items() if k != "kind"},
            seeds={"seed": config.seed},
            config=resolved,
            command=command,
            notes=[
                f"Loss per logged step: {LOSS_LOG}; the resolved config: {TRAIN_CONFIG}.",
                *(["How the training data was made: data_card.md."] if cards else []),
            ],
        ),
    )
    if not config.keep_checkpoints:
        shutil.rmtree(config.checkpoints, ignore_errors=True)
    return out


def run_sft(config: SFTRunConfig, app: AppConfig, command: str = "") -> Path:
    """Train a fresh LoRA on the SFT rows; returns the adapter folder."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    start = time.perf_counter()
    resume = check_resume(config)
    rows = read_rows(config.data, "sft")
    base = base_model_path(config.model, app)
    tokenizer = load_tokenizer(base)
    rows, dropped = fitting(rows, tokenizer, config.max_length)
    if not rows:
        raise ValueError(f"every example is longer than max_length={config.max_length} tokens")
    if dropped:
        log.warning("left out %d example(s) longer than %d tokens", dropped, config.max_length)
    lora = config.lora
    layers = None
    if lora.last_layers is not None:
        from transformers import AutoConfig

        total = AutoConfig.from_pretrained(base).num_hidden_layers
        layers = list(range(max(total - lora.last_layers, 0), total))
    trainer = SFTTrainer(
        model=base,
        args=SFTConfig(
            **trainer_arguments(config),
            completion_only_loss=config.completion_only,
            model_init_kwargs={"dtype": base_dtype(config)},
        ),
        train_dataset=Dataset.from_list(to_trl_sft(rows, config.completion_only)),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=lora.r,
            lora_alpha=lora.alpha,
            lora_dropout=lora.dropout,
            target_modules=list(lora.target_modules),
            layers_to_transform=layers,
            task_type="CAUSAL_LM",
        ),
        callbacks=[LossLog(config.out / LOSS_LOG)],
    )
    result = trainer.train(resume_from_checkpoint=resume)
    return finish(
        trainer,
        config,
        kind="sft",
        model=config.model,
        base=base,
        metrics=result.metrics,
        examples=len(rows),
        dropped=dropped,
        seconds=time.perf_counter() - start,
        command=command,
        sources=[str(p) for p in config.data],
    )


if __name__ == "__main__":  # python -m training.sft ... is `anamnesis train sft ...`
    import sys

    from ui.cli.train import main

    sys.exit(main(["sft", *sys.argv[1:]]))
