"""Red-flag triage: the pack's red-flag rules over the findings present so far.

``screen(present, pack)`` returns every rule that fires (all of ``all_of`` present and, if
given, one of ``any_of``), most specific first. Pure; run on every turn before anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.knowledge import Pack


@dataclass(frozen=True)
class RedFlagHit:
    rule: str
    findings: tuple[str, ...]
    reason: str
    advice: str


def screen(present: Iterable[str], pack: Pack) -> list[RedFlagHit]:
    have = frozenset(present)
    hits = []
    for rule in pack.red_flags.values():
        if not set(rule.all_of) <= have:
            continue
        extra = [f for f in rule.any_of if f in have]
        if rule.any_of and not extra:
            continue
        hits.append(RedFlagHit(rule.id, (*rule.all_of, *extra), rule.reason, rule.advice))
    return sorted(hits, key=lambda h: -len(h.findings))
