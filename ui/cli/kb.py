"""``anamnesis kb``: build, search and inspect the knowledge index; pack statistics.

anamnesis kb build [--medquad PATH] [--docs DIR] [--no-hpo] [--no-icd10]
anamnesis kb search QUERY [-k K] [--method hybrid|dense|bm25] [--json]
anamnesis kb stats | pack-stats | download-medquad --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap

from ui.cli.common import add_config_flags, config_from, friendly_errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis kb", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build the index into the data folder")
    b.add_argument("--medquad", metavar="PATH", help="MedQuAD JSONL(.gz) or XML folder")
    b.add_argument("--docs", metavar="DIR", action="append", default=[], help="your documents")
    b.add_argument("--no-pack", action="store_true", help="leave out the knowledge pack")
    b.add_argument("--no-hpo", action="store_true", help="leave out HPO terms")
    b.add_argument(
        "--no-orphanet", action="store_true", help="leave out Orphanet diseases and their features"
    )
    b.add_argument("--no-icd10", action="store_true", help="leave out ICD-10-CM categories")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("search", help="search the index")
    s.add_argument("query", nargs="+")
    s.add_argument("-k", type=int, default=5, help="hits to show")
    s.add_argument("--method", choices=["hybrid", "dense", "bm25"], default="hybrid")
    s.add_argument("--json", action="store_true", help="JSON lines output")
    sub.add_parser("stats", help="what the index holds")
    ps = sub.add_parser("pack-stats", help="counts of the knowledge pack, and its problems")
    ps.add_argument("--no-codes", action="store_true", help="skip ICD-10/HPO code checks")
    d = sub.add_parser("download-medquad", help="fetch the public MedQuAD XML (needs internet)")
    d.add_argument("--out", required=True, metavar="DIR")
    for sp in sub.choices.values():
        add_config_flags(sp)
    return p


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    extra = []
    if args.action == "build":
        if args.medquad:
            extra.append(f"sources.medquad={args.medquad}")
        if args.docs:
            extra.append(f"sources.docs={json.dumps(args.docs)}")
        extra += [
            f"sources.{k}=false"
            for k in ("pack", "hpo", "orphanet", "icd10")
            if getattr(args, f"no_{k}")
        ]
    config = config_from(args, *extra)
    return ACTIONS[args.action](args, config)


def build(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.kb import build_library

    print(f"Building the knowledge index in {config.index_dir} ...", file=sys.stderr)
    report = build_library(config, progress=not args.quiet)
    print(
        f"Indexed {report.passages} passages from {report.documents} documents in "
        f"{report.seconds:.0f} s ({report.passages_per_second:.0f} passages/s): "
        + ", ".join(f"{k} {v}" for k, v in report.by_source.items())
    )
    return 0


def search(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.kb import open_library

    query = " ".join(args.query)
    if not query.strip():
        print("anamnesis: the query is empty", file=sys.stderr)
        return 2
    hits = open_library(config).search(query, k=args.k, method=args.method)
    if args.json:
        for h in hits:
            print(json.dumps(h.to_dict(), ensure_ascii=False))
        return 0
    if not hits:
        print("No passages found.")
    for n, h in enumerate(hits, 1):
        p = h.passage
        print(
            f"[{n}] {h.score:.4f}  {p.title}  ({p.source}{', ' + p.section if p.section else ''})"
        )
        if p.url:
            print(f"    {p.url}")
        print(textwrap.indent(textwrap.fill(p.text[:400], 96), "    "))
    return 0


def stats(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.kb import open_library

    print(json.dumps(open_library(config).stats(), indent=2))
    return 0


def pack_stats(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.knowledge import default_pack, validate_pack

    pack = default_pack()
    print(json.dumps(pack.stats(), indent=2))
    problems = validate_pack(pack, check_codes=not args.no_codes)
    for p in problems:
        print(f"problem: {p}")
    print(f"{len(problems)} problems" if problems else "The pack is valid.")
    return 1 if problems else 0


def download(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from retrieval.sources import download_medquad

    folder = download_medquad(args.out)
    print(f"MedQuAD XML is in {folder}; build with: anamnesis kb build --medquad {folder}")
    return 0


ACTIONS = {
    "build": build,
    "search": search,
    "stats": stats,
    "pack-stats": pack_stats,
    "download-medquad": download,
}
