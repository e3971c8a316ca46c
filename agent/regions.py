"""Which body system a complaint is about, from its words: the examination a clinician would
do first when the findings catalogue matched nothing of it ("a skin lesion on the chest" has no
catalogue finding, yet it asks for the skin to be examined).

``system_votes(text)`` counts the words and phrases of ``pack/examinations.yaml`` in a text,
each split between the systems that list it. Pure after the lexicon is read once.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from agent.extract import content_tokens

LEXICON = Path(__file__).parent / "pack" / "examinations.yaml"


@lru_cache(maxsize=4)
def _entries(path: Path) -> tuple[dict, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return tuple(data.get("examinations") or [])


@lru_cache(maxsize=4)
def lexicon(path: Path = LEXICON) -> dict[tuple[str, ...], dict[str, float]]:
    """Each normalised phrase -> the systems that list it, sharing one vote."""
    listed: dict[tuple[str, ...], set[str]] = {}
    for entry in _entries(path):
        for word in entry.get("words") or []:
            phrase = content_tokens(str(word))
            if phrase:
                listed.setdefault(phrase, set()).add(str(entry["system"]))
    return {p: {s: 1 / len(systems) for s in systems} for p, systems in listed.items()}


def examinations(path: Path = LEXICON) -> dict[str, str]:
    """System -> the name of its examination."""
    return {str(e["system"]): str(e["exam"]) for e in _entries(path)}


def system_tests(path: Path = LEXICON) -> dict[str, str]:
    """System -> the first-line test for its complaints, where it has one."""
    return {str(e["system"]): str(e["test"]) for e in _entries(path) if e.get("test")}


def system_votes(text: str, path: Path = LEXICON) -> dict[str, float]:
    """The systems a text's words point to, with their votes; a phrase counts once however
    often it is said, and a longer phrase takes its words from shorter ones."""
    words = content_tokens(text)
    table = lexicon(path)
    longest = max((len(p) for p in table), default=0)
    seen: set[tuple[str, ...]] = set()
    votes: dict[str, float] = {}
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            phrase = words[i : i + n]
            if phrase in table:
                if phrase not in seen:
                    seen.add(phrase)
                    for system, share in table[phrase].items():
                        votes[system] = votes.get(system, 0.0) + share
                i += n
                break
        else:
            i += 1
    return votes
