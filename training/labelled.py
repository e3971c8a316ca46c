"""Labelled sets we wrote for measurement, and their scorers.

- ``training/cases/extraction_utterances.jsonl``: patient utterances with the findings they
  assert present, absent or uncertain -> ``score_extraction`` (micro precision and recall).
- ``training/cases/redflag_vignettes.jsonl``: emergencies and look-alikes ->
  ``score_triage`` (emergency recall, false-escalation rate); ``redflag_vignettes_2.jsonl`` is a
  second such set, written later by a writer who saw none of the other sets or statements.
- ``training/cases/pii_sentences.jsonl``: patient messages with their personal-data spans ->
  ``score_scrubber`` (span precision and recall, by type and type-agnostic).
Measurement only: never train on these, never tune a rule to one of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.state import Extraction

CASES_DIR = Path(__file__).parent / "cases"
UTTERANCES = CASES_DIR / "extraction_utterances.jsonl"
VIGNETTES = CASES_DIR / "redflag_vignettes.jsonl"
# A second, later set: written after the first set's errors had been studied, so that one of
# the two stays a measurement nothing was chosen on.
VIGNETTES_FRESH = CASES_DIR / "redflag_vignettes_2.jsonl"
# Ordinary non-urgent first messages, to measure false escalations in everyday use.
EVERYDAY = CASES_DIR / "everyday_messages.jsonl"
PII_SENTENCES = CASES_DIR / "pii_sentences.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass(frozen=True)
class PRF:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / max(self.tp + self.fp, 1)

    @property
    def recall(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / max(p + r, 1e-9)

    def as_dict(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def _labels(rows: Iterable[tuple[str, bool | None]]) -> set[tuple[str, str]]:
    name = {True: "present", False: "absent", None: "uncertain"}
    return {(fid, name[p]) for fid, p in rows}


def score_extraction(
    rows: list[dict], extract_fn: Callable[[str, str | None], Extraction]
) -> dict[str, object]:
    """Micro precision/recall over (finding, polarity) pairs; also per polarity and kind."""
    totals = {"all": [0, 0, 0], "present": [0, 0, 0], "absent": [0, 0, 0]}
    by_kind: dict[str, list[int]] = {}
    errors = []
    for row in rows:
        gold = {(f, "present") for f in row["present"]} | {(f, "absent") for f in row["absent"]}
        gold |= {(f, "uncertain") for f in row.get("uncertain") or []}
        result = extract_fn(row["text"], row.get("asked"))
        got = _labels((o.finding, o.present) for o in result.observations)
        kind = "short_answer" if row.get("asked") else "statement"
        by_kind.setdefault(kind, [0, 0, 0])
        for bucket in ("all", "present", "absent"):
            g = gold if bucket == "all" else {x for x in gold if x[1] == bucket}
            o = got if bucket == "all" else {x for x in got if x[1] == bucket}
            totals[bucket][0] += len(g & o)
            totals[bucket][1] += len(o - g)
            totals[bucket][2] += len(g - o)
        by_kind[kind][0] += len(gold & got)
        by_kind[kind][1] += len(got - gold)
        by_kind[kind][2] += len(gold - got)
        if gold != got:
            errors.append(
                {
                    "id": row["id"],
                    "text": row["text"],
                    "missed": sorted(gold - got),
                    "spurious": sorted(got - gold),
                }
            )
    return {
        "utterances": len(rows),
        **{k: PRF(*v).as_dict() for k, v in totals.items()},
        "by_kind": {k: PRF(*v).as_dict() for k, v in by_kind.items()},
        "errors": errors,
    }


def score_triage(rows: list[dict], is_emergency: Callable[[str], bool]) -> dict[str, object]:
    """Recall on emergencies and the false-escalation rate on look-alikes."""
    emergencies = [r for r in rows if r["label"] == "emergency"]
    benign = [r for r in rows if r["label"] != "emergency"]
    missed = [r for r in emergencies if not is_emergency(r["text"])]
    false = [r for r in benign if is_emergency(r["text"])]
    return {
        "emergencies": len(emergencies),
        "non_urgent": len(benign),
        "recall": round(1 - len(missed) / max(len(emergencies), 1), 4),
        "false_escalation_rate": round(len(false) / max(len(benign), 1), 4),
        "missed": [{"id": r["id"], "text": r["text"]} for r in missed],
        "false_escalations": [{"id": r["id"], "text": r["text"]} for r in false],
    }


def _span_scores(
    gold: list[tuple[int, int, str]], got: list[tuple[int, int, str]], typed: bool
) -> tuple[int, int]:
    """(predicted spans that overlap a gold span, gold spans overlapped by a prediction)."""

    def hit(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
        return a[0] < b[1] and b[0] < a[1] and (not typed or a[2] == b[2])

    return (
        sum(any(hit(p, g) for g in gold) for p in got),
        sum(any(hit(g, p) for p in got) for g in gold),
    )


def _overlap_prf(right_predicted: int, predicted: int, found_gold: int, gold: int) -> dict:
    precision = right_predicted / max(predicted, 1)
    recall = found_gold / max(gold, 1)
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
        "predicted": predicted,
        "gold": gold,
    }


def score_scrubber(
    rows: list[dict], find_spans: Callable[[str], Iterable[tuple[int, int, str]]]
) -> dict[str, object]:
    """Span-level precision and recall of a personal-data finder.

    A predicted span is right when it overlaps a gold span of the same type (``typed``) or of
    any type (``untyped``); a gold span is found when a right prediction overlaps it. Also per
    type, and how many sentences without personal data had something flagged."""
    counts = {"typed": [0, 0, 0, 0], "untyped": [0, 0, 0, 0]}
    per_type: dict[str, list[int]] = {}
    clean = clean_flagged = 0
    errors = []
    for row in rows:
        gold = [(s["start"], s["end"], s["type"]) for s in row["spans"]]
        got = [(int(a), int(b), str(t)) for a, b, t in find_spans(row["text"])]
        for key, typed in (("typed", True), ("untyped", False)):
            right, found = _span_scores(gold, got, typed)
            c = counts[key]
            c[0], c[1], c[2], c[3] = c[0] + right, c[1] + len(got), c[2] + found, c[3] + len(gold)
        for kind in {t for *_, t in gold} | {t for *_, t in got}:
            g = [x for x in gold if x[2] == kind]
            p = [x for x in got if x[2] == kind]
            right, found = _span_scores(g, p, True)
            c = per_type.setdefault(kind, [0, 0, 0, 0])
            c[0], c[1], c[2], c[3] = c[0] + right, c[1] + len(p), c[2] + found, c[3] + len(g)
        if not gold:
            clean += 1
            clean_flagged += bool(got)
        right, found = _span_scores(gold, got, True)
        if right < len(got) or found < len(gold):
            text = row["text"]
            errors.append(
                {
                    "id": row["id"],
                    "text": text,
                    "gold": [f"{t}:{text[a:b]}" for a, b, t in gold],
                    "predicted": [f"{t}:{text[a:b]}" for a, b, t in got],
                }
            )
    return {
        "sentences": len(rows),
        "sentences_without_pii": clean,
        "clean_sentences_flagged": clean_flagged,
        "typed": _overlap_prf(*counts["typed"]),
        "untyped": _overlap_prf(*counts["untyped"]),
        "by_type": {k: _overlap_prf(*v) for k, v in sorted(per_type.items())},
        "errors": errors,
    }
