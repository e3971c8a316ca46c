"""Does a predicted diagnosis name the true one? Transparent two-level matching.

Strict: the same normalised words, names that differ only by generic modifiers (acute,
chronic, ...), whole-word containment covering most of the longer name, or the same words or
modifiers through a synonym (pack, ICD-10-CM names and inclusion terms, MedQuAD focus
names). Lenient adds MiniLM cosine >= 0.8. ``DiagnosisMatcher(...).rank(predicted, truth)``
says which rule matched.
"""

from __future__ import annotations

import gzip
import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from agent.icd10 import code_names
from agent.knowledge import Pack

STOPWORDS = frozenset("of the an and in with due to or by nos unspecified site type".split())
# Words that qualify a diagnosis without naming a different one. Names differing only by these
# match when one side's modifiers include the other's ("acute pancreatitis" ~ "pancreatitis"),
# never when they conflict ("acute myeloid leukemia" !~ "chronic myeloid leukemia").
GENERIC_MODIFIERS = frozenset(
    """acute chronic subacute hyperacute severe mild moderate recurrent simple uncomplicated
    complicated idiopathic primary left right bilateral unilateral disease disorder syndrome
    condition""".split()
)
_SPELLING = (
    ("haem", "hem"),
    ("anaem", "anem"),
    ("aemia", "emia"),
    ("oedem", "edem"),
    ("oesoph", "esoph"),
    ("oestr", "estr"),
    ("oea", "ea"),
    ("paed", "ped"),
    ("leukaem", "leukem"),
    ("tumour", "tumor"),
    ("ae", "e"),
)


def words(name: str) -> tuple[str, ...]:
    """A name's normalised words: lower case, no accents or possessives, American spelling,
    crude singular, stopwords and bracketed asides dropped."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\[[^\]]*\]", " ", text).replace("'s", "")
    out = []
    for w in re.findall(r"[a-z0-9]+", text):
        for old, new in _SPELLING:
            w = w.replace(old, new)
        if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
        if w not in STOPWORDS:
            out.append(w)
    return tuple(out)


def key(name: str) -> str:
    """Order-free normalised form: equal keys mean the same words."""
    return " ".join(sorted(set(words(name))))


def _contiguous(short: tuple[str, ...], long: tuple[str, ...]) -> bool:
    n = len(short)
    return any(long[i : i + n] == short for i in range(len(long) - n + 1))


def strict_rule(a: str, b: str) -> str | None:
    """The strict rule by which two names (without synonyms) match, or None."""
    wa, wb = words(re.sub(r"\([^)]*\)", " ", a)), words(re.sub(r"\([^)]*\)", " ", b))
    if not wa or not wb:
        return None
    if set(wa) == set(wb) or "".join(wa) == "".join(wb):
        return "exact"
    ga, gb = set(wa) - GENERIC_MODIFIERS, set(wb) - GENERIC_MODIFIERS
    ma, mb = set(wa) & GENERIC_MODIFIERS, set(wb) & GENERIC_MODIFIERS
    if ga and ga == gb and (ma <= mb or mb <= ma):
        return "modifier"
    short, long = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    if len(short) / len(long) > 0.5 and _contiguous(short, long):
        return "containment"
    return None


def name_variants(name: str) -> list[str]:
    """A name, the name without its bracketed aside, and a short aside alone
    ("Neonatal respiratory distress syndrome (NRDS)" -> also "NRDS")."""
    out = [name]
    inner = re.findall(r"\(([^)]*)\)", name)
    bare = " ".join(re.sub(r"\([^)]*\)", " ", name).split())
    if bare and bare != name:
        out.append(bare)
    for part in inner:
        part = re.sub(r"^(also (known as|called)|aka)\s+", "", part.strip(), flags=re.I)
        if part and len(part.split()) <= 6:
            out.append(part)
    return out


@dataclass
class SynonymIndex:
    """Names grouped by what they name (a pack condition, an ICD-10-CM code, a MedQuAD
    topic); a name's synonyms are the other names of its groups."""

    groups: dict[str, set[str]]  # key -> group ids
    names: dict[str, list[str]]  # group id -> names
    sources: tuple[str, ...] = ()

    def add(self, group: str, names: Iterable[str]) -> None:
        for name in names:
            k = key(name)
            if not k:
                continue
            self.names.setdefault(group, []).append(name)
            self.groups.setdefault(k, set()).add(group)

    def synonyms(self, name: str) -> list[tuple[str, str]]:
        """(synonym, group id) pairs for a name, itself excluded."""
        own = {key(v) for v in name_variants(name)}
        out: dict[str, str] = {}
        for k in own:
            for group in sorted(self.groups.get(k, ())):
                for other in self.names[group]:
                    if key(other) not in own:
                        out.setdefault(other, group)
        return list(out.items())


def pack_names(pack: Pack) -> Iterable[tuple[str, list[str]]]:
    for c in pack.conditions.values():
        yield f"pack:{c.id}", [c.name, *c.synonyms]


def medquad_names(path: Path | str) -> Iterable[tuple[str, list[str]]]:
    """MedQuAD topics with the other names they give: in the focus itself ("Tuberculosis
    (TB)", "... (also known as Chagas Disease)") or where an answer opens with the focus
    followed by "(also called X)" or ", also known as X,"."""
    path = Path(path)
    seen: dict[str, list[str]] = {}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            focus = re.sub(r"^[A-Z][a-z]+ - ", "", (row.get("focus") or "").strip())
            if not focus:
                continue
            names = seen.setdefault(focus, name_variants(focus))
            answer = (row.get("answer") or "").strip()
            if answer.lower().startswith(focus.lower()):
                rest = answer[len(focus) :]
                m = re.match(r"\s*(?:\(|,\s*)(?:also (?:called|known as)\s+)([^),;]{2,60})", rest)
                if m and m.group(1).strip() not in names:
                    names.append(m.group(1).strip())
    for focus, names in seen.items():
        if len(names) > 1:
            yield f"medquad:{focus}", names


def build_synonyms(
    pack: Pack | None, icd10: bool = True, medquad: Path | str | None = None
) -> SynonymIndex:
    index = SynonymIndex({}, {})
    sources = []
    if pack is not None:
        for group, names in pack_names(pack):
            index.add(group, names)
        sources.append("pack")
    if icd10:
        for code, names in code_names():
            index.add(f"icd10:{code}", names)
        sources.append("icd10cm")
    if medquad and Path(medquad).exists():
        for group, names in medquad_names(medquad):
            index.add(group, names)
        sources.append(f"medquad:{medquad}")
    index.sources = tuple(sources)
    return index


class MatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lenient_threshold: float = Field(
        0.8, ge=0, le=1, description="MiniLM cosine at which lenient matching accepts a name."
    )
    icd10: bool = Field(True, description="Use ICD-10-CM names and inclusion terms as synonyms.")
    medquad: Path | None = Field(None, description="MedQuAD JSONL(.gz) for focus-name synonyms.")


@dataclass(frozen=True)
class Match:
    rule: str  # exact | modifier | containment | synonym:<rule> | embedding
    predicted: str
    via: str = ""  # the synonym or group that made the match, or the cosine
    rank: int = 0  # 1-based rank in the differential


@dataclass(frozen=True)
class CaseMatch:
    strict: Match | None
    lenient: Match | None

    def hit(self, k: int, lenient: bool = False) -> bool:
        m = self.lenient if lenient else self.strict
        return m is not None and m.rank <= k


class DiagnosisMatcher:
    """Matches a differential against the true diagnosis, strictly and leniently."""

    def __init__(
        self,
        synonyms: SynonymIndex,
        embedder=None,  # noqa: ANN001 - anything with encode(texts) -> normalised rows
        config: MatchConfig | None = None,
    ) -> None:
        self.synonyms = synonyms
        self.embedder = embedder
        self.config = config or MatchConfig()

    def strict(self, predicted: str, truth: str) -> Match | None:
        for a in name_variants(predicted):
            for b in name_variants(truth):
                rule = strict_rule(a, b)
                if rule:
                    return Match(rule, predicted)
        pred_syn = [(predicted, "")] + self.synonyms.synonyms(predicted)
        true_syn = [(truth, "")] + self.synonyms.synonyms(truth)
        for a, ga in pred_syn:
            for b, gb in true_syn:
                if not (ga or gb):
                    continue
                rule = strict_rule(a, b)
                if rule in ("exact", "modifier"):  # containment across synonyms drifts
                    left = f"{a} ({f'synonym, {ga}' if ga else 'predicted'})"
                    right = f"{b} ({f'synonym, {gb}' if gb else 'truth'})"
                    return Match(f"synonym:{rule}", predicted, f"{left} ~ {right}")
        return None

    def rank(self, predicted: Sequence[str], truth: str) -> CaseMatch:
        """The first name of the differential that matches, strictly and leniently."""
        strict = next(
            (
                Match(m.rule, m.predicted, m.via, i)
                for i, name in enumerate(predicted, 1)
                if (m := self.strict(name, truth))
            ),
            None,
        )
        lenient = strict
        if self.embedder is not None and predicted:
            names = list(predicted)
            sims = self.embedder.encode([truth, *names])
            cos = sims[1:] @ sims[0]
            for i, c in enumerate(cos, 1):
                if strict is not None and strict.rank <= i:
                    break
                if c >= self.config.lenient_threshold:
                    lenient = Match("embedding", names[i - 1], f"cosine {c:.3f}", i)
                    break
        return CaseMatch(strict, lenient)
