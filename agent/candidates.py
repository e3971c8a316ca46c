"""Diagnoses beyond the knowledge pack: candidates named from retrieved passages.

``outside_query(state, pack)`` builds a query from what is present only (a denied symptom never
counts as a positive), plus abnormal exam and test results and what abnormal measurements are
called. ``name_outside(index, query, config)`` names the diseases the passages describe
(MedQuAD topics, Orphanet diseases, ICD-10-CM categories, and HPO terms that ICD-10-CM
classifies as diagnoses): by default from every passage's BM25 score and dense cosine on one
scale (``fused_scores``, ``rank_scored``), a name scored by its best passages less a penalty
for having many, the last places going to diagnoses the best passages mention by their
ICD-10-CM name (``mentioned``, ``with_mentioned``); with ``fusion='ranks'`` from the index's
rank-fused hits (``rank_outside``). Scored the same way, the pack's own passages say whether
the best outside name matches the query better than any pack condition (``Outside.lead``).
``merge`` mixes the candidates into the differential with the share ``outside_share`` gives
(the larger of the probability that the condition is beyond the pack, ``belief.beyond_pack``,
and how poorly the pack's leading condition explains the findings, never less than a floor)
after the retrieval's evidence has weighed it (``weigh_share``). Pure apart from the caches of
names built once per pack and per index."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agent.extract import affirmed_text
from agent.icd10 import code_names
from agent.knowledge import Pack
from agent.labs import measurement_terms
from agent.state import ConsultationState
from retrieval.documents import Passage


class CandidateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Name candidates from the wider index.")
    passages: int = Field(200, ge=5, le=1000, description="Passages retrieved to name candidates.")
    per_name: int = Field(
        2,
        ge=1,
        le=50,
        description="Passages that count towards a name's score (its best ones): a long "
        "document must not win by its number of chunks alone.",
    )
    query_words: int = Field(
        250,
        ge=10,
        le=1000,
        description="Words of the query that names outside candidates: room for examination "
        "and test results after the history (120 cut them off when the history was long).",
    )
    fusion: Literal["scores", "ranks"] = Field(
        "scores",
        description="How BM25 and dense retrieval are fused to rank outside candidates: "
        "'scores' adds each passage's BM25 score (over the best one) and its dense cosine "
        "(above the median, over the best) across every passage of the index (``rank_scored``); "
        "'ranks' takes the index's reciprocal-rank-fused top ``passages`` (``rank_outside``). "
        "Rank fusion keeps only the order, so a passage far ahead of the rest gains nothing. "
        "On 237 out-of-pack vignettes we wrote (two rounds, the second held out), scores beat "
        "ranks on both rounds; README, Evaluation.",
    )
    hub_penalty: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Subtracted from a name's score (``fusion='scores'``) per natural log of "
        "its passages in the index: a topic with many passages has more chances of one "
        "matching any query, and without this the same few (high blood pressure, heart "
        "attack) come up for everything.",
    )
    pack_source: str = Field(
        "Anamnesis knowledge pack",
        description="Source of the pack's own passages in the index: with score fusion their "
        "best score is what the pack's conditions score on the same query (``name_outside``).",
    )
    evidence_temperature: float | None = Field(
        0.2,
        gt=0,
        description="With score fusion, the odds that the condition is beyond the pack are "
        "multiplied by exp((best outside name's score - best pack condition's score) / this) "
        "(``weigh_share``); None leaves the share as the belief gives it.",
    )
    temperature: float | None = Field(
        0.3,
        gt=0,
        description="Outside candidates share their probability by a softmax of their scores "
        "over this temperature (``merge``); None shares it in proportion to the scores. With "
        "score fusion a name's score is about 1-2 and the tenth is often within 0.3 of the "
        "first, so shares in proportion are nearly flat and the first outside name never "
        "outweighs the pack's leading condition.",
    )
    keep: int = Field(10, ge=1, le=20, description="Outside candidates kept.")
    mentioned: int = Field(
        5,
        ge=0,
        le=20,
        description="Of the ``keep`` outside places, the last ones go to diagnoses the best "
        "passages mention by their ICD-10-CM name (``mentioned``; score fusion only), with the "
        "scores of the places they take. A topic about pericarditis names cardiac tamponade; "
        "a passage about headaches names cluster headache. On the two sets of written "
        "vignettes, five of ten places took naming from all facts at top-10 from 0.429 to "
        "0.462 and from 0.348 to 0.441, top-1 unchanged (README, Evaluation); 0 turns it off.",
    )
    mention_passages: int = Field(
        20, ge=1, le=200, description="The best passages read for mentioned diagnoses."
    )
    differential: int = Field(10, ge=1, le=20, description="Names in the final differential.")
    label_sources: tuple[str, ...] = Field(
        ("MedQuAD", "ICD-10-CM", "Orphanet"),
        description="Passage sources (prefixes) whose titles name a disease; the pack's own "
        "conditions are weighed by the belief instead.",
    )
    classified_sources: tuple[str, ...] = Field(
        ("HPO",),
        description="Passage sources (prefixes) whose titles name a disease only where "
        "ICD-10-CM classifies the title as a diagnosis (outside its chapters of symptoms, "
        "signs and contacts): the HPO term 'Pneumothorax' or 'Central retinal vein occlusion' "
        "names one, 'Fever' (R50.9) does not.",
    )
    min_unexplained: float = Field(
        0.25,
        ge=0,
        le=1,
        description="When at least this share of the present findings is not listed by the "
        "leading pack condition, outside candidates get that share of the probability.",
    )
    min_share: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="The share outside candidates get at least: the pack's conditions are a "
        "small part of medicine, so a differential always leaves room for the wider index "
        "(0 restores the rule above alone). On the odd-numbered half of the AgentClinic cases "
        "0.25 (with the query from the patient's words) took the planner's top-1 from 3 to 5 "
        "of 54; the even half was not looked at.",
    )


# Topic titles that name a group of diseases rather than one ("Eye Diseases").
_GROUP = re.compile(
    r"\b(diseases|disorders|problems|conditions|infections|injuries|defects|tumors|cancers)\b$"
)
# Topic titles that name a test, a procedure or a topic of care rather than a disease ("Vital
# Signs", "Blood Count Tests", "Knee Replacement", "Child Mental Health").
_NOT_A_DISEASE = re.compile(
    r"\b(tests?|signs|screening|surgery|replacement|transplant|transplantation|safety|care|"
    r"caregiving|health|section|history|dialysis|hemodialysis|medicines|vaccines?|procedures?)$"
)
# A topic title's framing around the disease it is about.
_TITLE_FRAME = re.compile(r"^what i need to know about\s+", re.I)
# ICD-10-CM chapters that are not diagnoses: symptoms and signs (R), contact with services (Z),
# external causes (V-Y).
_NOT_DIAGNOSES = tuple(f"icd10:{c}" for c in "RZVWXY")
_NORMAL = re.compile(r"\b(normal|unremarkable|negative|not done|within normal limits)\b")
# A reading that is a number and its unit ("Hemoglobin: 13.5 g/dL", "Pulse: 88/min"): a search
# cannot read it, and its name alone pulls the search towards diseases of what was measured.
# What an abnormal one is called comes from ``labs.measurement_terms`` instead.
_READING = re.compile(r"^[^:]*:\s*(?P<value>.*\d.*)$")
_UNIT_OR_NUMBER = re.compile(
    r"[<>=~+\-]?\d[\d.,:^]*|[a-zµμ%°]*/[a-zµμ%°\d]*|%|°[cf]?|×|"
    r"\b(?:mg|g|kg|dl|l|ml|mmol|umol|µmol|μmol|nmol|pmol|mol|u|iu|meq|mmhg|bpm|min|minute|"
    r"breaths|beats|cells|mm3|mm|cm|mcl|ul|µl|pg|fl|ng|mcg|µg|s|sec|seconds|hpf|lpf|c|f|per|"
    r"degrees|kpa|x)\b|[()\[\],;.⁰¹²³⁴⁵⁶⁷⁸⁹]"
)


def bare_reading(sentence: str) -> bool:
    """Whether a reported result is only a number with its unit after its name."""
    m = _READING.search(sentence)
    if m is None:
        return False
    rest = _UNIT_OR_NUMBER.sub(" ", m.group("value").lower())
    return not re.search(r"[a-z]", rest)


# The words a reported result is labelled with ("Examination, Neurological Examination /
# Cranial Nerves: ...", "Vital Signs / Heart Rate: ..."): they say what was looked at, not what
# was found, and pull the search towards topics about examinations and vital signs.
_REPORT_WORDS = re.compile(
    r"\b(examinations?|exams?|findings|tests?|results?|vital signs|inspection|palpation|"
    r"auscultation|percussion)\b|\s/\s",
    re.I,
)


def normalise_name(name: str) -> str:
    """Lower case, accents folded ("Ménière" is "meniere"), bracketed asides and punctuation
    dropped."""
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = re.sub(r"\(.*?\)", " ", name.lower())
    name = re.sub(r"[^a-z0-9' ]+", " ", name)
    return " ".join(name.split())


@dataclass(frozen=True)
class Candidate:
    name: str
    score: float
    passages: tuple[Passage, ...]
    code: str | None = None  # ICD-10-CM code when the name is in the classification


def outside_query(
    state: ConsultationState, pack: Pack, said: Sequence[str] = (), max_words: int = 250
) -> str:
    """Present findings by name, what abnormal measurements are called (``labs``: a number
    means nothing to a search), abnormal results, then what was said in the patient's own
    words with denied and uncertain parts left out (``affirmed_text``) and normal results
    dropped; never a denied or uncertain finding."""
    parts: list[str] = []
    for fid in sorted(state.present):
        finding = pack.findings.get(fid)
        if finding is not None:
            parts.append(finding.name.lower())
    texts = [r.text for r in state.results.values()] + list(said)
    parts += measurement_terms("\n".join(texts), state.age_years)
    for result in state.results.values():
        if not _NORMAL.search(result.text.lower()):
            parts.append(result.text)
    for message in said:
        sentences = [s for s in re.split(r"(?<=[.!?;\n])\s+", message) if s.strip()]
        parts += [
            affirmed_text(s)
            for s in sentences
            if not _NORMAL.search(s.lower()) and not bare_reading(s)
        ]
    words = _REPORT_WORDS.sub(" ", " ".join(parts)).split()
    return " ".join(words[:max_words])


def rank_outside(
    hits: Sequence, config: CandidateConfig, symptoms: frozenset[str] = frozenset()
) -> list[Candidate]:
    """Candidates from search hits (objects with ``passage`` and ``score``, best first),
    grouped by the disease their document is about and scored by the sum of their
    ``per_name`` best scores, under the disease the title names (``disease_title``). Group
    titles, titles of tests, procedures and topics of care, ICD-10-CM chapters that are not
    diagnoses, and titles that name a symptom (``symptoms``, normalised names) are not
    candidates."""
    scores: dict[str, float] = {}
    names: dict[str, str] = {}
    passages: dict[str, list[Passage]] = {}
    for hit in hits:
        p = hit.passage
        title = _label(p, config, symptoms)
        if title is None:
            continue
        key = normalise_name(title)
        if len(passages.get(key, ())) >= config.per_name:
            continue
        scores[key] = scores.get(key, 0.0) + float(hit.score)
        names.setdefault(key, _display(title))
        passages.setdefault(key, []).append(p)
    ranked = sorted(scores, key=lambda k: -scores[k])
    return [
        Candidate(names[k], scores[k], tuple(passages[k][:2]), icd10_code(k))
        for k in ranked[: config.keep]
    ]


@dataclass(frozen=True)
class LabelSpace:
    """The disease each passage of an index names (``rank_outside``'s rules), as numbers."""

    rows: np.ndarray  # label number of each passage, -1 where it names none
    names: tuple[str, ...]  # display name of each label number
    counts: np.ndarray  # passages of each label


# Passages read best first by ``rank_scored``: a name whose best passage ranks below them is
# far from the top ten.
_SCAN = 5000
_LABEL_SPACES: dict[tuple, tuple[Sequence[Passage], LabelSpace]] = {}


def label_space(
    passages: Sequence[Passage], config: CandidateConfig, symptoms: frozenset[str] = frozenset()
) -> LabelSpace:
    """The label space of an index's passages, built once per passage list and rules. Only
    the latest passage list is kept for each set of rules, so an index opened again does not
    keep the old one's passages alive."""
    key = (config.label_sources, config.classified_sources, symptoms)
    cached = _LABEL_SPACES.get(key)
    if cached is not None and cached[0] is passages:
        return cached[1]
    numbers: dict[str, int] = {}
    names: list[str] = []
    rows = np.full(len(passages), -1, dtype=np.int64)
    for i, p in enumerate(passages):
        title = _label(p, config, symptoms)
        if title is None:
            continue
        label = numbers.setdefault(normalise_name(title), len(numbers))
        if label == len(names):
            names.append(_display(title))
        rows[i] = label
    counts = np.bincount(rows[rows >= 0], minlength=len(names))
    space = LabelSpace(rows, tuple(names), counts)
    _LABEL_SPACES[key] = (passages, space)
    return space


def _display(title: str) -> str:
    """A name as the differential shows it: the title with its first letter in capitals."""
    return title[:1].upper() + title[1:]


def _label(p: Passage, config: CandidateConfig, symptoms: frozenset[str]) -> str | None:
    """The disease a passage's document names, or None (see ``rank_outside``)."""
    if p.source.startswith(config.label_sources):
        if p.doc_id.startswith(_NOT_DIAGNOSES):
            return None
    elif not (config.classified_sources and p.source.startswith(config.classified_sources)):
        return None
    elif not _classified_diagnosis(p.title):
        return None
    title = disease_title(p.title)
    key = normalise_name(title)
    if not key or _GROUP.search(key) or _NOT_A_DISEASE.search(key) or key in symptoms:
        return None
    return title


def _diagnosis_code(code: str) -> bool:
    """Whether an ICD-10-CM code is outside the chapters of symptoms and signs, contacts with
    services and external causes."""
    return not f"icd10:{code}".startswith(_NOT_DIAGNOSES)


def _classified_diagnosis(title: str) -> bool:
    """Whether ICD-10-CM names ``title`` as a diagnosis (``_diagnosis_code``)."""
    code = icd10_code(title)
    return code is not None and _diagnosis_code(code)


def fused_scores(lexical: np.ndarray, dense: np.ndarray) -> np.ndarray:
    """Each passage's BM25 score over the best one, plus its dense cosine above the median
    over the best's: both on one scale, 1 for the best passage of each."""
    top = float(lexical.max()) if lexical.size else 0.0
    fused = lexical / top if top > 0 else np.zeros_like(lexical)
    if dense.size:
        middle = float(np.median(dense))
        spread = float(dense.max()) - middle
        if spread > 0:
            fused = fused + (dense - middle) / spread
    return fused


def rank_scored(
    fused: np.ndarray,
    passages: Sequence[Passage],
    config: CandidateConfig,
    symptoms: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """Candidates from every passage's fused score (``fused_scores``): a name scores the sum
    of its ``per_name`` best passages, less ``hub_penalty`` per natural log of its passages in
    the index."""
    space = label_space(passages, config, symptoms)
    labelled = np.flatnonzero(space.rows >= 0)
    order = labelled[np.argsort(-fused[labelled], kind="stable")]
    best: dict[int, list[int]] = {}
    for row in order[:_SCAN]:
        rows = best.setdefault(int(space.rows[row]), [])
        if len(rows) < config.per_name:
            rows.append(int(row))
    scores = {
        label: float(fused[rows].sum()) - config.hub_penalty * float(np.log(space.counts[label]))
        for label, rows in best.items()
    }
    ranked = sorted(scores, key=lambda label: -scores[label])[: config.keep]
    return [
        Candidate(
            space.names[label],
            scores[label],
            tuple(passages[r] for r in best[label][:2]),
            icd10_code(space.names[label]),
        )
        for label in ranked
    ]


@functools.cache
def _mention_table() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[int, ...]]]:
    """Normalised ICD-10-CM names of two words or more outside the chapters of symptoms,
    contacts and external causes, and not a residual class ("Other ..."), to (name, code); and
    for each first word, the lengths of the names it starts, longest first."""
    table: dict[str, tuple[str, str]] = {}
    lengths: dict[str, set[int]] = {}
    for code, names in code_names():
        if not _diagnosis_code(code):
            continue
        for name in names:
            key = normalise_name(name)
            words = key.split()
            if len(words) >= 2 and words[0] != "other":
                table.setdefault(key, (name, code))
                lengths.setdefault(words[0], set()).add(len(words))
    return table, {w: tuple(sorted(n, reverse=True)) for w, n in lengths.items()}


def mentioned(
    fused: np.ndarray,
    passages: Sequence[Passage],
    config: CandidateConfig,
    symptoms: frozenset[str] = frozenset(),
) -> list[Candidate]:
    """Diagnoses named in the text of the ``mention_passages`` best passages (ICD-10-CM names
    of two words or more, ``_mention_table``), in reading order, best passage first, the
    longer name first where two start at one word; each keeps the passage that names it and
    that passage's fused score."""
    table, lengths = _mention_table()
    found: dict[str, Candidate] = {}
    for row in np.argsort(-fused, kind="stable")[: config.mention_passages]:
        p = passages[int(row)]
        words = normalise_name(p.text).split()
        for i, word in enumerate(words):
            for n in lengths.get(word, ()):
                key = " ".join(words[i : i + n])
                if key in table and key not in found and key not in symptoms:
                    name, code = table[key]
                    found[key] = Candidate(_display(name), float(fused[row]), (p,), code)
    return list(found.values())


def with_mentioned(
    candidates: Sequence[Candidate], mentions: Sequence[Candidate], places: int
) -> list[Candidate]:
    """The last ``places`` of the candidates given to mentioned diagnoses not named before
    them, each with the score of the place it takes, so the shares stay as they were; places
    no mention fills keep their candidates."""
    cut = max(len(candidates) - places, 0)
    head, tail = list(candidates[:cut]), list(candidates[cut:])
    taken = {normalise_name(c.name) for c in head}
    fresh = [m for m in mentions if normalise_name(m.name) not in taken][: len(tail)]
    out = head + [
        Candidate(m.name, place.score, m.passages, m.code)
        for m, place in zip(fresh, tail, strict=False)
    ]
    taken |= {normalise_name(m.name) for m in fresh}
    rest = [c for c in tail if normalise_name(c.name) not in taken]
    return out + rest[: len(tail) - len(fresh)]


@dataclass(frozen=True)
class Outside:
    """Outside candidates, and how much better the best of them matches the query than the
    best of the pack's conditions (None when the index gives no scores to compare)."""

    candidates: list[Candidate]
    lead: float | None = None


def name_outside(
    index,  # noqa: ANN001 - a KnowledgeIndex, or anything with search(query, k)
    query: str,
    config: CandidateConfig,
    symptoms: frozenset[str] = frozenset(),
) -> Outside:
    """Outside candidates for a query, fused by scores when the index gives every passage's
    scores (``all_scores``) and ``fusion`` asks for it, else by ranks. With scores, the pack's
    own passages are scored the same way and the lead of the best outside name over the best
    pack condition is returned."""
    if config.fusion == "scores" and hasattr(index, "all_scores"):
        lexical, dense = index.all_scores(query)
        fused = fused_scores(lexical, dense)
        candidates = rank_scored(fused, index.passages, config, symptoms)
        if config.mentioned:
            mentions = mentioned(fused, index.passages, config, symptoms)
            candidates = with_mentioned(candidates, mentions, config.mentioned)
        pack = config.model_copy(
            update={"label_sources": (config.pack_source,), "classified_sources": (), "keep": 1}
        )
        best_pack = rank_scored(fused, index.passages, pack)
        lead = None
        if candidates and best_pack:
            lead = candidates[0].score - best_pack[0].score
        return Outside(candidates, lead)
    hits = index.search(query, k=config.passages)
    return Outside(rank_outside(hits, config, symptoms))


def weigh_share(share: float, lead: float | None, temperature: float | None) -> float:
    """The share beyond the pack after the retrieval's evidence: its odds times
    exp(lead / temperature)."""
    if lead is None or not temperature or not 0 < share < 1:
        return share
    odds = share / (1 - share) * float(np.exp(np.clip(lead / temperature, -30, 30)))
    return odds / (1 + odds)


def disease_title(title: str) -> str:
    """The disease a topic title names: "What I need to know about Gallstones" is about
    gallstones, and "Pyelonephritis: Kidney Infection" about pyelonephritis (the words after a
    colon describe it)."""
    title = _TITLE_FRAME.sub("", title.strip())
    head, colon, _ = title.partition(": ")
    return head.strip() if colon and head.strip() else title


_SYMPTOM_NAMES: dict[int, tuple[Pack, frozenset[str]]] = {}


def symptom_names(pack: Pack) -> frozenset[str]:
    """The pack's finding names, normalised: a retrieved document titled with one of them
    (MedQuAD's "Fever", "Headache") describes a symptom, not a diagnosis. Built once a pack."""
    cached = _SYMPTOM_NAMES.get(id(pack))
    if cached is not None and cached[0] is pack:
        return cached[1]
    names = frozenset(normalise_name(f.name) for f in pack.findings.values())
    _SYMPTOM_NAMES[id(pack)] = (pack, names)
    return names


def outside_share(unexplained_share: float, config: CandidateConfig, beyond: float = 0.0) -> float:
    """The probability the outside candidates share, from how much the pack leaves
    unexplained and the probability that the condition is beyond the pack."""
    gated = unexplained_share if unexplained_share >= config.min_unexplained else 0.0
    return max(config.min_share, gated, beyond)


def unexplained(state: ConsultationState, pack: Pack, condition_id: str) -> float:
    """The share of present findings the condition does not list."""
    present = state.present
    if not present:
        return 0.0
    listed = {f.id for f in pack.conditions[condition_id].findings}
    return len(present - listed) / len(present)


def merge(
    pack_top: Sequence[tuple[str, float]],
    outside: Sequence[Candidate],
    share: float,
    n: int = 5,
    temperature: float | None = None,
) -> list[tuple[str, float, str]]:
    """The differential as (name, probability, origin): pack conditions keep ``1 - share`` of
    the probability, outside candidates share ``share`` in proportion to their scores, or by
    a softmax of their scores over ``temperature`` when one is given. A candidate with the
    same name as a pack condition adds to it."""
    out: dict[str, list] = {}
    for name, p in pack_top:
        out[normalise_name(name)] = [name, p * (1 - share), "pack"]
    scores = np.array([c.score for c in outside], dtype=float)
    if temperature and len(scores):
        weights = np.exp((scores - scores.max()) / temperature)
    else:
        weights = scores
    total = float(weights.sum()) or 1.0
    for c, w in zip(outside, weights, strict=True):
        key = normalise_name(c.name)
        weight = share * float(w) / total
        if key in out:
            out[key][1] += weight
        else:
            out[key] = [c.name, weight, "index"]
    ranked = sorted(out.values(), key=lambda row: -row[1])[:n]
    return [(name, round(p, 4), origin) for name, p, origin in ranked]


@functools.cache
def _icd10_names() -> dict[str, str]:
    try:
        import simple_icd_10_cm as cm
    except ImportError:  # pragma: no cover - a declared dependency
        return {}
    names: dict[str, str] = {}
    for code in cm.get_all_codes(with_dots=True):
        for text in [cm.get_description(code), *cm.get_inclusion_term(code)]:
            names.setdefault(normalise_name(text), code)
    return names


def icd10_code(name: str) -> str | None:
    """The ICD-10-CM code whose name or inclusion term equals ``name`` (normalised)."""
    key = normalise_name(name)
    table = _icd10_names()
    return table.get(key) or table.get(key + " unspecified")
