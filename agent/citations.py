"""Citations: number retrieved passages, and keep only the markers that point at one of them.

The model may invent ``[7]`` when only three passages were retrieved; ``clean_citations``
removes such markers so that a cited number always names a passage that was actually retrieved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.documents import Passage

_MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")


def clean_citations(text: str, passages: Sequence[Passage]) -> tuple[str, list[int]]:
    """The text with invalid markers removed, and the valid numbers cited (1-based, sorted)."""
    cited: set[int] = set()

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(passages)]
        cited.update(valid)
        if not valid:
            return ""
        lead = match.group(0)[: len(match.group(0)) - len(match.group(0).lstrip())]
        return f"{lead}[{', '.join(map(str, valid))}]"

    return _MARKER.sub(keep, text), sorted(cited)
