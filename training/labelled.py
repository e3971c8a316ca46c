"""Labelled sets we wrote for measurement, and their scorers.

- ``training/cases/extraction_utterances.jsonl``: patient utterances with the findings they
  assert present, absent or uncertain -> ``score_extraction`` (micro precision and recall).
- ``training/cases/redflag_vignettes.jsonl``: emergencies and look-alikes ->
  ``score_triage`` (emergency recall, false-escalation rate).
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
