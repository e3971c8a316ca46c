"""Typed configs of the training commands: self-play data, SFT and DPO runs.

``anamnesis train selfplay|sft|dpo`` fill these from flags; each run saves its resolved config
as JSON beside what it made (``selfplay_config.json`` in the data card, ``train_config.json``
beside the adapter), so a dataset or an adapter says exactly how it was made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.planner import PlannerConfig

EMBEDDED_HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraSettings(_Config):
    r: int = Field(8, ge=1, le=256, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: tuple[str, ...] = Field(
        ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        min_length=1,
        description="Module names that get a LoRA: a llama's attention and MLP projections (on "
        "four examples, 8 steps took the loss from 2.98 to 1.33 with these, to 2.77 with the "
        "attention ones only at half the learning rate).",
    )
    last_layers: int | None = Field(
        None,
        ge=1,
        description="LoRA only on the last N decoder layers (None: all). Gradients then stop "
        "at the lowest adapted layer, which makes a CPU step several times cheaper.",
    )


class RunConfig(_Config):
    """What SFT and DPO runs share: data, model, schedule, precision, checkpoints."""

    data: tuple[Path, ...] = Field(
        min_length=1,
        description="JSONL files or dataset folders (the folder's standard file is used).",
    )
    out: Path = Field(description="Folder for the adapter, its config, card and loss log.")
    model: str = Field(
        "embedded",
        description="'embedded' (the prepared SmolLM2 checkpoint), a local folder, or a Hugging "
        "Face name already in the local cache.",
    )
    epochs: float = Field(1.0, gt=0, description="Passes over the data (if max_steps is unset).")
    max_steps: int | None = Field(None, ge=1, description="Optimizer steps; overrides epochs.")
    lr: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate (linear decay).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of steps warming up.")
    batch_size: int = Field(4, ge=1, description="Examples per device per forward pass.")
    grad_accum: int = Field(1, ge=1, description="Forward passes per optimizer step.")
    max_length: int = Field(
        1024, ge=32, description="Tokens per example; longer examples are dropped, not cut."
    )
    base_dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description="Number format of the frozen base weights (the LoRA stays fp32). 'auto': "
        "bf16 on CUDA and on CPUs with bf16 units, as inference loads it, else fp32; bf16 made "
        "a CPU step 2.6 times faster here.",
    )
    bf16: bool = Field(False, description="bf16 mixed precision (CUDA, or CPUs with bf16 units).")
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations to save memory (slower)."
    )
    seed: int = Field(0, description="Seed of the LoRA initialisation and data order.")
    logging_steps: int = Field(1, ge=1, description="Steps between loss-log lines.")
    save_steps: int = Field(50, ge=1, description="Steps between resumable checkpoints.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept while training.")
    resume: bool = Field(False, description="Continue from the last checkpoint in out.")
    keep_checkpoints: bool = Field(
        False, description="Keep out/checkpoints after a finished run (they hold optimizer state)."
    )
    cpu: bool | None = Field(None, description="Force CPU; None: CPU exactly when no CUDA.")

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"


class SFTRunConfig(RunConfig):
    """Supervised fine-tuning of a fresh LoRA on ``{"messages": [...]}`` rows."""

    lora: LoraSettings = Field(default_factory=LoraSettings)
    completion_only: bool = Field(
        True, description="Loss on the doctor's reply only, not on the prompt."
    )


class DPORunConfig(RunConfig):
    """Preference tuning that continues an SFT adapter; the reference is that SFT adapter."""

    sft_adapter: Path = Field(description="Folder of the SFT adapter to start from.")
    model: str | None = Field(  # type: ignore[assignment]
        None, description="Base model; None: the one recorded with the SFT adapter."
    )
    lr: float = Field(5e-5, gt=0, lt=1, description="Peak learning rate (linear decay).")
    beta: float = Field(0.1, gt=0, description="DPO temperature: how far from the reference.")
    sft_weight: float = Field(
        0.0, ge=0, description="Weight of an added NLL loss on the chosen reply (0: pure DPO)."
    )


class SelfPlayConfig(_Config):
    """The planner-guided doctor meets simulated patients from train-split synthetic cases."""

    cases: int = Field(200, ge=1, description="Synthetic cases consulted.")
    seed: int = Field(0, description="Seed of the cases and of the rejected-reply choices.")
    planner: PlannerConfig = Field(
        default_factory=lambda: PlannerConfig(allow_tests=False),
        description="The planner the doctor follows. No exam or test requests by default: the "
        "llm policy cannot route a request to a result yet, so it should not learn to ask.",
    )
    retrieval: bool = Field(
        True, description="Put passages for the chief complaint into the system prompt."
    )
    passages: int = Field(3, ge=0, le=10, description="Passages in the system prompt.")
    pairs_per_turn: int = Field(
        2, ge=0, le=4, description="Preference pairs made at each doctor turn (distinct kinds)."
    )
    low_gain_rank: int = Field(
        8, ge=2, description="A low-gain question is drawn from this rank of the planner's list on."
    )
    premature_turns: int = Field(
        3, ge=1, description="A CONCLUDE before this many questions is premature."
    )
    max_patient_turns: int = Field(
        30, ge=2, description="Safety stop for a consultation that never ends."
    )

    @model_validator(mode="after")
    def _budget(self) -> SelfPlayConfig:
        if self.max_patient_turns <= self.planner.max_questions:
            raise ValueError("max_patient_turns must exceed the planner's max_questions")
        return self
