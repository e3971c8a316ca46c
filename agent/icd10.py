"""ICD-10-CM names: every code's name and inclusion terms, read once from ``simple-icd-10-cm``.

``code_names()`` gives (code, names) for every code without a 7th-character extension, names
cleaned of bracketed asides and trailing "without ..." qualifiers; the evaluation's matcher
reads them as synonyms, and the naming beyond the pack reads them as the diagnoses a passage
may mention (``agent.candidates.mentioned``).
"""

from __future__ import annotations

import functools
import re


def clean(name: str) -> str:
    """A code's name without bracketed asides or a trailing "without ..." or "not elsewhere
    classified"."""
    name = re.sub(r"\([^)]*\)", " ", name)
    name = re.sub(r"\s+(without|not having|not elsewhere)\b.*$", "", name)
    return " ".join(name.split()).strip(" ,")


@functools.cache
def code_names() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(code, names) for every ICD-10-CM code without a 7th-character extension."""
    import simple_icd_10_cm as cm

    out = []
    for code in cm.get_all_codes(with_dots=True):
        if cm.is_chapter_or_block(code) or cm.is_extended_subcategory(code):
            continue
        names = [cm.get_description(code), *cm.get_inclusion_term(code)]
        out.append((code, tuple(dict.fromkeys(clean(n) for n in names if n))))
    return tuple(out)
