"""Harvest: consented sessions of the session log become training data, scrubbed of personal data.

``harvest(log, out_dir, HarvestConfig(), command=...)`` writes ``sft.jsonl`` (one chat example per
doctor turn), ``preferences.jsonl`` (corrections of thumbs-down replies) and a data card
(``card.md``, ``card.json``). Run it as ``anamnesis harvest --out DIR``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agent.prompts import render
from agent.sessionlog import SessionLog
from training.datasets import CONCLUDE
from training.scrub import ScrubConfig, find_pii, names_in, scrub

SFT_FILE, PREFERENCES_FILE, CARD_JSON, CARD_MD = (
    "sft.jsonl",
    "preferences.jsonl",
    "card.json",
    "card.md",
)
REPLY_TYPES = ("question", "assessment", "escalation")
ENDING_TYPES = ("assessment", "escalation")


class HarvestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_correction_words: int = Field(
        3,
        ge=1,
        description="A comment on a thumbs-down reply is taken as the corrected reply (the "
        "chosen side of a preference pair) only if it has at least this many words.",
    )
    include_incomplete: bool = Field(
        False,
        description="Also use turns whose step stream was cut short (stopped early or failed).",
    )
    scrub: ScrubConfig = Field(
        default_factory=ScrubConfig, description="What the scrubber replaces."
    )
    policy_format: bool = Field(
        True,
        description="Rows in the llm policy's format, as self-play writes them: an assessment "
        "turn's reply is CONCLUDE (the decision the policy learns, not the report), and "
        "escalation turns are left out (red-flag rules decide those before any policy). False: "
        "every reply as the patient saw it.",
    )


PREFERENCE_RULES = (
    "A reply rated thumbs-down whose latest comment has at least {n} words gives one pair: "
    "chosen = the comment (taken as the correction), rejected = the reply, prompt = the system "
    "prompt and the conversation up to the patient's message.",
    "Thumbs-down replies without such a comment give no pair; thumbs-up replies give none.",
    "The latest rating of a turn counts; a comment counts with whatever rating is latest.",
)


# ------------------------------------------------------------------ scrubbing a session


def _scrub_text(
    text: str, names: list[str], config: ScrubConfig, counts: Counter, keep: list[str] = ()
) -> str:
    """Scrub until nothing more is found (a replacement can uncover a second find)."""
    for _ in range(3):
        result = scrub(text, config, names, keep)
        if not result.spans:
            break
        counts.update(result.counts)
        text = result.text
    return text


def scrub_session(
    row: dict[str, Any], config: ScrubConfig | None = None
) -> tuple[dict[str, Any], Counter[str]]:
    """A copy of an exported session (``SessionLog.export``) with personal data replaced in
    every free text: patient messages, the agent's step texts and reasons, feedback comments.
    Names found in any message are replaced wherever they recur in the session; the titles and
    links of the sources a step cites are kept."""
    config = config or ScrubConfig()
    row = copy.deepcopy(row)
    counts: Counter[str] = Counter()
    texts = [t["patient_text"] for t in row["turns"]]
    texts += [f["comment"] for t in row["turns"] for f in t["feedback"] if f["comment"]]
    names = sorted({n for text in texts for n in names_in(text, config)})
    for turn in row["turns"]:
        turn["patient_text"] = _scrub_text(turn["patient_text"], names, config, counts)
        for step in turn["steps"]:
            sources = step["payload"].get("sources", [])
            keep = [s.get(k) or "" for s in sources for k in ("title", "url", "source")]
            if step["type"] != "retrieval":  # a retrieval's text is the agent's search query
                step["text"] = _scrub_text(step["text"], names, config, counts, keep)
            step["reason"] = _scrub_text(step["reason"], names, config, counts)
        for f in turn["feedback"]:
            if f["comment"]:
                f["comment"] = _scrub_text(f["comment"], names, config, counts)
    return row, counts


# ------------------------------------------------------------------ conversations


def reply_text(steps: Iterable[dict[str, Any]]) -> tuple[str, str] | None:
    """(type, text) of the doctor's reply in a turn's steps, or None if it had none (a notice
    alone). An escalation's reply is its advice and why, as the patient saw it."""
    for step in steps:
        if step["type"] == "escalation":
            return step["type"], f"{step['text']}\n\nWhy: {step['reason']}"
        if step["type"] in REPLY_TYPES:
            return step["type"], step["text"]
    return None


def _latest(feedback: list[dict[str, Any]], key: str) -> Any:
    values = [f[key] for f in feedback if f[key] not in (None, "")]
    return values[-1] if values else None


def session_examples(
    row: dict[str, Any], system: str, config: HarvestConfig, tally: Counter[str]
) -> tuple[list[dict], list[dict]]:
    """The SFT rows and preference pairs of one (already scrubbed) session."""
    sft: list[dict] = []
    pairs: list[dict] = []
    history: list[dict[str, str]] = []
    for turn in row["turns"]:
        tally["turns"] += 1
        if turn["status"] != "complete" and not config.include_incomplete:
            tally["turns skipped: cut short"] += 1
            continue
        reply = reply_text(turn["steps"])
        if reply is None:
            tally["turns skipped: no doctor reply"] += 1
            continue
        kind, text = reply
        if config.policy_format and kind == "escalation":
            tally["turns skipped: escalation (the rules decide)"] += 1
            history = []
            continue
        if config.policy_format and kind == "assessment":
            text = CONCLUDE
        prompt = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": turn["patient_text"]},
        ]
        answer = {"role": "assistant", "content": text}
        rating = _latest(turn["feedback"], "rating")
        if rating == -1:
            tally["turns excluded from SFT: thumbs down"] += 1
            correction = _latest(turn["feedback"], "comment")
            if config.policy_format and kind == "assessment":
                tally["thumbs down on an assessment: no policy pair"] += 1
            elif correction and len(correction.split()) >= config.min_correction_words:
                chosen = {"role": "assistant", "content": correction}
                pairs.append({"prompt": prompt, "chosen": [chosen], "rejected": [answer]})
            else:
                tally["thumbs down without a usable correction"] += 1
        else:
            sft.append({"messages": [*prompt, answer]})
        history = [*prompt[1:], answer]
        if kind in ENDING_TYPES:  # the next message starts a new consultation
            history = []
    return sft, pairs


# ------------------------------------------------------------------ the harvest


def _write_jsonl(path: Path, rows: list[dict]) -> dict[str, Any]:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"rows": len(rows), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _residual(rows: Iterable[dict], config: ScrubConfig) -> int:
    """Personal data still found in any message of the output (should be 0)."""
    found = 0
    for row in rows:
        for key in ("messages", "prompt", "chosen", "rejected"):
            for m in row.get(key, []):
                if m["role"] != "system":
                    found += len(find_pii(m["content"], config))
    return found


def scrubber_figures(config: ScrubConfig | None = None) -> dict[str, Any]:
    """The scrubber measured on our labelled sentences (span precision and recall)."""
    from training.labelled import PII_SENTENCES, read_jsonl, score_scrubber

    if not PII_SENTENCES.exists():  # an install without the labelled sets
        return {"set": None, "note": f"{PII_SENTENCES.name} not found: not measured"}
    rows = read_jsonl(PII_SENTENCES)
    result = score_scrubber(rows, lambda t: [(s.start, s.end, s.type) for s in find_pii(t, config)])
    result.pop("errors")
    return {"set": str(PII_SENTENCES.name), **result}


def harvest(
    log: SessionLog,
    out: Path,
    config: HarvestConfig | None = None,
    *,
    command: str = "",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the SFT set, the preference set and the data card to ``out``; returns the card."""
    config = config or HarvestConfig()
    out = Path(out)
    existing = [n for n in (SFT_FILE, PREFERENCES_FILE, CARD_JSON, CARD_MD) if (out / n).exists()]
    if existing and not overwrite:
        raise ValueError(f"{out} already holds {', '.join(existing)}; choose another folder")
    system = render("llm_policy.system", passages=[])
    tally: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    replaced: Counter[str] = Counter()
    sft: list[dict] = []
    pairs: list[dict] = []
    sessions = used = 0
    for row in log.export():
        sessions += 1
        if not row["consent"]:
            skipped["no consent"] += 1
            continue
        if not row["turns"]:
            skipped["no turns"] += 1
            continue
        clean, counts = scrub_session(row, config.scrub)
        replaced.update(counts)
        rows, prefs = session_examples(clean, system, config, tally)
        if not rows and not prefs:
            skipped["no usable turn"] += 1
            continue
        used += 1
        sft += rows
        pairs += prefs
    out.mkdir(parents=True, exist_ok=True)
    files = {
        SFT_FILE: _write_jsonl(out / SFT_FILE, sft),
        PREFERENCES_FILE: _write_jsonl(out / PREFERENCES_FILE, pairs),
    }
    card = {
        "kind": "anamnesis harvest",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "source": {"database": str(log.path.resolve()), "schema_version": log.version},
        "config": config.model_dump(mode="json"),
        "system_prompt": "agent/prompts/llm_policy.system.jinja rendered with no passages",
        "counts": {
            "sessions": sessions,
            "sessions_used": used,
            "sessions_skipped": dict(sorted(skipped.items())),
            "turns": tally.pop("turns", 0),
            "sft_examples": len(sft),
            "preference_pairs": len(pairs),
            "turns_by_outcome": dict(sorted(tally.items())),
        },
        "preference_rules": [r.format(n=config.min_correction_words) for r in PREFERENCE_RULES],
        "scrubber": {
            "replacements": {t: replaced.get(t, 0) for t in config.scrub.types},
            "residual_detections": _residual([*sft, *pairs], config.scrub),
            "measured": scrubber_figures(config.scrub),
        },
        "files": files,
    }
    (out / CARD_JSON).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    (out / CARD_MD).write_text(card_markdown(card))
    return card


def card_markdown(card: dict[str, Any]) -> str:
    """The data card as Markdown, from the same figures as card.json."""
    counts, scrubber = card["counts"], card["scrubber"]
    measured = scrubber["measured"]
    lines = [
        "# Data card: harvested consultations",
        "",
        f"- Created: {card['created']}",
        f"- Command: `{card['command']}`",
        f"- Source: `{card['source']['database']}` (schema {card['source']['schema_version']})",
        f"- System prompt: {card['system_prompt']}",
        "",
        "## Counts",
        "",
        f"- Sessions in the log: {counts['sessions']}; used: {counts['sessions_used']}",
    ]
    for reason, n in counts["sessions_skipped"].items():
        lines.append(f"- Sessions skipped, {reason}: {n}")
    lines.append(f"- Turns read: {counts['turns']}")
    for outcome, n in counts["turns_by_outcome"].items():
        lines.append(f"- {outcome[0].upper()}{outcome[1:]}: {n}")
    lines += [
        f"- SFT examples (`{SFT_FILE}`, one per doctor turn): {counts['sft_examples']}",
        f"- Preference pairs (`{PREFERENCES_FILE}`): {counts['preference_pairs']}",
        "",
        "## How preference pairs were made",
        "",
        *(f"- {rule}" for rule in card["preference_rules"]),
        "",
        "## Personal data",
        "",
        "Every patient message, agent reply, step reason and comment passed the rule-based "
        "scrubber (`training/scrub.py`) before it was written; names found anywhere in a "
        "session were replaced wherever they recur in it.",
        "",
        "| placeholder | replaced here | precision | recall | gold spans |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for kind, n in scrubber["replacements"].items():
        m = measured.get("by_type", {}).get(kind, {})
        lines.append(
            f"| [{kind}] | {n} | {m.get('precision', '-')} | {m.get('recall', '-')} "
            f"| {m.get('gold', 0)} |"
        )
    if measured.get("set"):
        typed, untyped = measured["typed"], measured["untyped"]
        lines += [
            "",
            f"Measured on `{measured['set']}` ({measured['sentences']} sentences, "
            f"{measured['sentences_without_pii']} without personal data, of which "
            f"{measured['clean_sentences_flagged']} had something flagged): span precision "
            f"{typed['precision']}, recall {typed['recall']} with the type required; "
            f"{untyped['precision']} / {untyped['recall']} for any type. A span counts when "
            "it overlaps a gold span.",
        ]
    else:
        lines += ["", measured["note"]]
    lines += [
        "Rules miss what they do not anticipate: review the data before sharing it.",
        f"Detections left in the written messages: {scrubber['residual_detections']}.",
        "",
        "## Files",
        "",
        *(
            f"- `{name}`: {f['rows']} rows, sha256 {f['sha256']}"
            for name, f in card["files"].items()
        ),
        "",
    ]
    return "\n".join(lines)
