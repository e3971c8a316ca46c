"""Training rows in the shapes trl expects, their validators, JSONL files and data cards.

SFT rows are ``{"messages": [...]}``; preference rows are ``{"prompt": [...], "chosen":
[...], "rejected": [...]}``; either may carry a ``meta`` dict that is stripped before trl sees
it. The prompt itself is ``agent.prompts.policy_messages``, shared with the agent. ``write_card``
saves card.md and card.json beside a dataset.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from agent.lm import Message

RowKind = Literal["sft", "preference"]
ROLES = ("system", "user", "assistant")
FILES: dict[RowKind, str] = {"sft": "sft.jsonl", "preference": "preferences.jsonl"}
CONCLUDE = "CONCLUDE"


class RowError(ValueError):
    """A training row that trl would reject or mis-train on; the message says where and why."""


def _a(role: str) -> str:
    return f"an {role}" if role == "assistant" else f"a {role}"


def _check_message(m: object, where: str) -> None:
    if not isinstance(m, dict):
        raise RowError(f"{where}: a message must be an object, got {type(m).__name__}")
    if set(m) != {"role", "content"}:
        raise RowError(f"{where}: a message has exactly 'role' and 'content', got {sorted(m)}")
    if m["role"] not in ROLES:
        raise RowError(f"{where}: role {m['role']!r} is not one of {', '.join(ROLES)}")
    if not isinstance(m["content"], str) or not m["content"].strip():
        raise RowError(f"{where}: {m['role']} message has empty content")


def check_conversation(messages: object, last: str, where: str = "messages") -> None:
    """An optional leading system message, then user and assistant turns alternating from
    user, ending with ``last``."""
    if not isinstance(messages, list) or not messages:
        raise RowError(f"{where}: must be a non-empty list of messages")
    for i, m in enumerate(messages):
        _check_message(m, f"{where}[{i}]")
    turns = messages[1:] if messages[0]["role"] == "system" else messages
    if not turns:
        raise RowError(f"{where}: holds only a system message")
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m["role"] != expected:
            offset = len(messages) - len(turns)
            raise RowError(
                f"{where}[{i + offset}]: expected {_a(expected)} message, got {m['role']} "
                "(after an optional system message, user and assistant must alternate)"
            )
    if turns[-1]["role"] != last:
        raise RowError(f"{where}: must end with {_a(last)} message, ends with {turns[-1]['role']}")


def _check_keys(row: object, required: set[str]) -> dict:
    if not isinstance(row, dict):
        raise RowError(f"a row must be a JSON object, got {type(row).__name__}")
    missing = required - set(row)
    extra = set(row) - required - {"meta"}
    if missing:
        raise RowError(f"missing key(s) {sorted(missing)}")
    if extra:
        raise RowError(f"unexpected key(s) {sorted(extra)} (put extra data under 'meta')")
    if "meta" in row and not isinstance(row["meta"], dict):
        raise RowError("'meta' must be an object")
    return row


def validate_sft_row(row: object) -> None:
    """A conversation that ends with the assistant reply to learn."""
    row = _check_keys(row, {"messages"})
    check_conversation(row["messages"], last="assistant")


def validate_preference_row(row: object) -> None:
    """A prompt that ends with the user, and two different single assistant replies."""
    row = _check_keys(row, {"prompt", "chosen", "rejected"})
    check_conversation(row["prompt"], last="user", where="prompt")
    for key in ("chosen", "rejected"):
        reply = row[key]
        if not isinstance(reply, list) or len(reply) != 1:
            raise RowError(f"{key}: must be a list of exactly one assistant message")
        _check_message(reply[0], f"{key}[0]")
        if reply[0]["role"] != "assistant":
            raise RowError(f"{key}[0]: must be an assistant message, got {reply[0]['role']}")
    if row["chosen"][0]["content"].strip() == row["rejected"][0]["content"].strip():
        raise RowError("chosen and rejected are the same reply")


VALIDATORS = {"sft": validate_sft_row, "preference": validate_preference_row}


def sft_row(prompt: Sequence[Message], reply: str, **meta: object) -> dict:
    """An SFT row: the prompt messages and the assistant's reply; checked."""
    row: dict = {"messages": [*prompt, {"role": "assistant", "content": reply}]}
    if meta:
        row["meta"] = meta
    validate_sft_row(row)
    return row


def preference_row(prompt: Sequence[Message], chosen: str, rejected: str, **meta: object) -> dict:
    """A preference row: the prompt, the better reply and the worse one; checked."""
    row: dict = {
        "prompt": list(prompt),
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
    }
    if meta:
        row["meta"] = meta
    validate_preference_row(row)
    return row


def write_jsonl(path: Path, rows: Iterable[dict], kind: RowKind) -> int:
    """Validate and write rows, one JSON object a line; returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for n, row in enumerate(rows, 1):
            try:
                VALIDATORS[kind](row)
            except RowError as exc:
                raise RowError(f"row {n}: {exc}") from None
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return n


def data_file(path: Path, kind: RowKind) -> Path:
    """A JSONL file as given, or a dataset folder's standard file for ``kind``."""
    path = Path(path)
    if path.is_dir():
        path = path / FILES[kind]
    if not path.is_file():
        raise FileNotFoundError(f"no {kind} data at {path}")
    return path


def read_rows(paths: Iterable[Path], kind: RowKind) -> list[dict]:
    """Rows of every file (or folder), each validated; an error names the file and line."""
    rows = []
    for given in paths:
        path = data_file(given, kind)
        with path.open(encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    VALIDATORS[kind](row)
                except json.JSONDecodeError as exc:
                    raise RowError(f"{path}:{line_no}: not valid JSON: {exc}") from None
                except RowError as exc:
                    raise RowError(f"{path}:{line_no}: {exc}") from None
                rows.append(row)
    if not rows:
        raise RowError(f"no {kind} rows in {', '.join(map(str, paths))}")
    return rows


def to_trl_sft(rows: Iterable[dict], completion_only: bool = True) -> list[dict]:
    """SFT rows for trl: prompt/completion pairs (loss on the reply only) or plain messages."""
    if completion_only:
        return [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    return [{"messages": r["messages"]} for r in rows]


def to_trl_preferences(rows: Iterable[dict]) -> list[dict]:
    """Preference rows for trl, without ``meta``."""
    return [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]


@dataclass
class Card:
    """What a data card records about a dataset (or an adapter)."""

    title: str
    summary: str
    sources: list[str]
    counts: dict[str, object]
    seeds: dict[str, int]
    config: dict
    command: str
    notes: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    python: str = field(default_factory=platform.python_version)


def write_card(folder: Path, card: Card) -> tuple[Path, Path]:
    """Write ``card.json`` (everything) and ``card.md`` (the same, for people)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = asdict(card)
    json_path = folder / "card.json"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [f"# {card.title}", "", card.summary, "", "## Made by", "", f"    {card.command}", ""]
    lines += ["## Sources", "", *(f"- {s}" for s in card.sources), ""]
    lines += ["## Counts", "", *(f"- {k}: {v}" for k, v in card.counts.items()), ""]
    lines += ["## Seeds", "", *(f"- {k}: {v}" for k, v in card.seeds.items()), ""]
    if card.notes:
        lines += ["## Notes", "", *(f"- {n}" for n in card.notes), ""]
    lines += [
        "## Config",
        "",
        "```json",
        json.dumps(card.config, indent=2, default=str),
        "```",
        "",
        f"Created {card.created} with Python {card.python}.",
        "",
    ]
    md_path = folder / "card.md"
    md_path.write_text("\n".join(lines), encoding="utf-8")
    return md_path, json_path
