"""``anamnesis bench``: benchmarks that print their figures.

  anamnesis bench retrieval [--medquad PATH] [--questions 1000] [--seed 0] [--reuse] [--json]
builds an index of the knowledge pack, HPO and all of MedQuAD (build time, passages per
second, peak memory), then scores 1,000 sampled MedQuAD questions for BM25, dense and fused.
Also: extraction, triage, turn (one turn's latency), naming (diagnoses beyond the pack from all
of a case's facts, against the issue's baseline) and load (concurrent web sessions).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

from ui.cli.common import add_config_flags, config_from, friendly_errors

DEFAULT_MEDQUAD = "../shared/data/medquad_answered.jsonl.gz"
DEFAULT_CASES = "../shared/data/agentclinic_medqa.jsonl"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis bench", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    r = sub.add_parser("retrieval", help="retrieval quality, latency, build cost")
    r.add_argument("--medquad", metavar="PATH", help=f"MedQuAD (default: {DEFAULT_MEDQUAD})")
    r.add_argument("--questions", type=int, default=1000, help="questions sampled")
    r.add_argument("--seed", type=int, default=0, help="sampling seed")
    r.add_argument("--limit", type=int, help="index only the first N MedQuAD documents")
    r.add_argument("--reuse", action="store_true", help="reuse the benchmark index if built")
    r.add_argument("--json", action="store_true", help="print JSON")
    e = sub.add_parser("extraction", help="finding extraction on the labelled utterances")
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--lexical", action="store_true", help="no embedding matcher")
    e.add_argument("--errors", type=int, default=0, help="show N wrongly read utterances")
    t = sub.add_parser(
        "triage", help="red-flag triage on the emergency vignettes and everyday messages"
    )
    t.add_argument("--json", action="store_true", help="print JSON")
    t.add_argument("--lexical", action="store_true", help="no embedding matcher")
    t.add_argument("--rules-only", action="store_true", help="no learned classifier")
    t.add_argument("--classifier", metavar="DIR", help="a classifier other than the shipped one")
    tu = sub.add_parser("turn", help="one turn's latency: planner, extraction, retrieval, LM")
    tu.add_argument("--json", action="store_true", help="print JSON")
    tu.add_argument("--repeats", type=int, default=20, help="timed repeats per figure")
    tu.add_argument("--no-model", action="store_true", help="skip the language model figures")
    na = sub.add_parser(
        "naming", help="naming diagnoses from all of a case's facts: the baseline and the agent"
    )
    na.add_argument("--cases", help=f"agentclinic:PATH (default: agentclinic:{DEFAULT_CASES})")
    na.add_argument("--limit", type=int, help="only the first N cases")
    na.add_argument("--medquad", metavar="PATH", help="MedQuAD for diagnosis synonyms")
    na.add_argument("--json", action="store_true", help="print JSON")
    lo = sub.add_parser("load", help="concurrent web-app sessions through gradio_client")
    lo.add_argument("--url", help="a running app (default: start one here, no model)")
    lo.add_argument("--sessions", type=int, default=10, help="concurrent sessions")
    lo.add_argument("--turns", type=int, default=3, help="messages per session")
    lo.add_argument("--json", action="store_true", help="print JSON")
    for sp in sub.choices.values():
        add_config_flags(sp)
    return p


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = config_from(args)
    actions = {
        "retrieval": retrieval,
        "extraction": extraction,
        "triage": triage,
        "turn": turn,
        "naming": naming,
        "load": load,
    }
    return actions[args.what](args, config)


OPENINGS = [
    "I've had a cough and a runny nose for three days",
    "burning when I pee and going all the time since yesterday",
    "my head has been pounding for a week and light hurts my eyes",
    "tummy pain low down on the right and I feel sick",
    "itchy red rash on my arms that started two days ago",
]


def _stats(samples: list[float]) -> dict[str, float]:
    from retrieval.benchmark import _percentile

    ordered = sorted(samples)
    return {
        "p50_ms": round(ordered[len(ordered) // 2], 2),
        "p95_ms": round(_percentile(ordered, 0.95), 2),
    }


def _time_each(call, texts: list[str]) -> dict[str, float]:  # noqa: ANN001
    """p50 and p95 of ``call(text)`` over the texts, in milliseconds."""
    timings = []
    for text in texts:
        start = time.perf_counter()
        call(text)
        timings.append((time.perf_counter() - start) * 1000)
    return _stats(timings)


def turn(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.consultation import AgentConfig, Consultation
    from agent.extract import EmbeddingMatcher, PhraseTable, extract
    from agent.knowledge import default_pack
    from agent.planner import PlannerConfig, next_action
    from retrieval.embedding import Embedder

    pack = default_pack()
    table = PhraseTable.from_pack(pack)
    out: dict[str, object] = {}
    # planner: states reached by answering "no" to every question after each opening
    states, timings = [], []
    for opening in OPENINGS:
        c = Consultation(pack, table, AgentConfig())
        for text in [opening, "two days", *["no"] * 8]:
            list(c.respond(text))
            states.append(c.state)
            if c.finished:
                break
    planner = PlannerConfig()
    for state in states:
        for _ in range(max(1, args.repeats // 5)):
            start = time.perf_counter()
            next_action(state, pack, planner)
            timings.append((time.perf_counter() - start) * 1000)
    out["planner"] = {"decisions": len(timings), **_stats(timings)}
    texts = OPENINGS * max(1, args.repeats // 5)
    out["extraction_lexical"] = _time_each(lambda text: extract(text, table), texts)
    embedder = Embedder(config.index)
    matcher = EmbeddingMatcher(pack, embedder)
    out["extraction_with_embeddings"] = _time_each(
        lambda text: extract(text, table, matcher=matcher), texts
    )
    if (config.index_dir / "manifest.json").exists():
        from agent.candidates import CandidateConfig, name_outside, symptom_names
        from retrieval.index import KnowledgeIndex

        index = KnowledgeIndex(config.index_dir, embedder=embedder)
        searched = _time_each(lambda text: index.search(text, k=4), texts)
        out["retrieval"] = {"passages": len(index), **searched}
        symptoms = symptom_names(pack)
        for fusion in ("scores", "ranks"):
            candidates = CandidateConfig(fusion=fusion)
            name_outside(index, OPENINGS[0], candidates, symptoms)  # first use builds caches
            out[f"outside_names_{fusion}"] = _time_each(
                lambda text, c=candidates: name_outside(index, text, c, symptoms), texts
            )
    if not args.no_model:
        from agent.lm import GenerationOptions, load_chat_model
        from agent.planner import Ask

        model = load_chat_model(config)
        c = Consultation(pack, table, AgentConfig(), model=model)
        c.state = c.state.__class__(chief_complaint=OPENINGS[0])
        first, full = [], []
        for fid in ["fever", "sore_throat", "shortness_of_breath", "wheeze", "chest_pain"]:
            ask = Ask(fid, "finding", pack.findings[fid].question, 0.0, (), "bench")
            prompt = [{"role": "user", "content": f"Rephrase kindly: {ask.question}"}]
            start, seen = time.perf_counter(), None
            for _ in model.stream(prompt, GenerationOptions(max_new_tokens=48)):
                seen = seen or (time.perf_counter() - start) * 1000
            first.append(seen or 0.0)
            start = time.perf_counter()
            c._phrase(ask)
            full.append((time.perf_counter() - start) * 1000)
        out["lm_first_token"] = _stats(first)
        out["lm_full_question"] = _stats(full)
        out["lm"] = getattr(model, "name", "?")
    out["peak_memory_mb"] = round(peak_memory_mb())
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for key, value in out.items():
        print(f"{key:<28} {value}")
    return 0


def embedding_matcher(config):  # noqa: ANN001, ANN201
    from agent.extract import EmbeddingMatcher
    from agent.knowledge import default_pack
    from retrieval.embedding import Embedder

    return EmbeddingMatcher(default_pack(), Embedder(config.index))


def extraction(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.extract import PhraseTable, extract
    from agent.knowledge import default_pack
    from training.labelled import UTTERANCES, read_jsonl, score_extraction

    table = PhraseTable.from_pack(default_pack())
    matcher = None if args.lexical else embedding_matcher(config)
    rows = read_jsonl(UTTERANCES)
    start = time.perf_counter()
    scores = score_extraction(rows, lambda text, asked: extract(text, table, 0, asked, matcher))
    scores["ms_per_utterance"] = round((time.perf_counter() - start) / len(rows) * 1000, 2)
    errors = scores.pop("errors")
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"{scores['utterances']} labelled utterances, {scores['ms_per_utterance']} ms each")
    print(f"{'':<14}{'precision':>10}{'recall':>10}{'f1':>10}")
    rows_out = {
        "all": scores["all"],
        "present": scores["present"],
        "absent": scores["absent"],
        **scores["by_kind"],
    }
    for name, s in rows_out.items():
        print(f"{name:<14}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}")
    for e in errors[: args.errors]:
        print(f"- {e['text']}\n  missed {e['missed']}\n  spurious {e['spurious']}")
    return 0


def triage(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.answer import red_flags
    from agent.extract import PhraseTable
    from agent.knowledge import default_pack
    from training.labelled import EVERYDAY, VIGNETTES, VIGNETTES_FRESH, read_jsonl, score_triage

    pack = default_pack()
    table = PhraseTable.from_pack(pack)
    matcher = None if args.lexical else embedding_matcher(config)
    classifier = None
    if not args.rules_only:
        from agent.emergency import EmergencyClassifier

        models = config.models_dir
        classifier = (
            EmergencyClassifier.load(Path(args.classifier), models)
            if args.classifier
            else EmergencyClassifier.load(models_dir=models)
        )
    sets = {"look-alikes": read_jsonl(VIGNETTES)}
    for name, path in (("fresh", VIGNETTES_FRESH), ("everyday", EVERYDAY)):
        if path.exists():
            sets[name] = read_jsonl(path)
    texts = sorted({r["text"] for rows in sets.values() for r in rows})
    ruled = {t: red_flags(t, pack, table, matcher) is not None for t in texts}
    deciders = {"rules": ruled.__getitem__}
    if classifier is not None:  # each message scored once, as red_flags would score it
        probability = dict(zip(texts, classifier.probabilities(texts), strict=True))
        deciders["rules + classifier"] = lambda t: ruled[t] or classifier.flagged(t, probability[t])
        deciders["classifier alone"] = lambda t: probability[t] >= classifier.threshold
    runs = {
        name: {s: score_triage(rows, decide) for s, rows in sets.items()}
        for name, decide in deciders.items()
    }
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    reading = "lexical" if args.lexical else "lexical + embeddings"
    for name, scores in runs.items():
        parts = []
        for s, got in scores.items():
            part = f"{s}: "
            if got["emergencies"]:
                part += f"{got['emergencies']} emergencies, recall {got['recall']:.3f}; "
            rate = got["false_escalation_rate"]
            part += f"{got['non_urgent']} non-urgent, false escalations {rate:.3f}"
            parts.append(part)
        print(f"{name} ({reading})\n  " + "\n  ".join(parts))
    return 0


def naming(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    from agent.kb import open_library
    from agent.knowledge import default_pack
    from training.evaluate import load_cases
    from training.matching import DiagnosisMatcher, MatchConfig, build_synonyms
    from training.naming import compare_naming
    from ui.cli.eval import medquad_path

    index = open_library(config)  # a missing index says how to build it, before any work
    spec = args.cases or f"agentclinic:{DEFAULT_CASES}"
    if not spec.startswith("agentclinic:"):
        raise ValueError("bench naming reads AgentClinic cases: --cases agentclinic:PATH")
    pack = default_pack()
    cases = load_cases(spec, pack, limit=args.limit)
    if not cases:
        raise ValueError(f"no cases in {spec}")
    medquad = medquad_path(args.medquad, config.sources.medquad)
    matcher = DiagnosisMatcher(
        build_synonyms(pack, True, medquad), None, MatchConfig(medquad=medquad)
    )
    started = time.perf_counter()
    scores = compare_naming(cases, index, pack, matcher)
    scores["cases"]["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"{len(cases)} cases, every fact with exams and tests, strict matching")
    print(f"{'':<40}{'top-1':>8}{'top-5':>8}{'top-10':>8}")
    rows = (
        ("baseline: MedQuAD topics by fused search", scores["baseline"]),
        ("agent, rank fusion", scores["agent_ranks"]),
        ("agent: outside candidates", scores["agent"]),
    )
    for name, row in rows:
        print(f"{name:<40}" + "".join(f"{row[f'top{k}']:>8.3f}" for k in (1, 5, 10)))
    ratio = "".join(
        f"{'-' if v is None else format(v, '.2f'):>8}" for v in scores["ratio"].values()
    )
    print(f"{'agent / baseline':<40}{ratio}")
    return 0


def build_benchmark_index(folder, index_config, medquad: str, limit, progress: bool) -> dict:  # noqa: ANN001
    """Build the benchmark index (run in a child process, so its peak memory is its own)."""
    from agent.knowledge import pack_documents
    from retrieval.index import build_index
    from retrieval.sources import hpo_documents, medquad_documents

    docs = itertools.chain(
        pack_documents(), hpo_documents(), itertools.islice(medquad_documents(medquad), limit)
    )
    report = build_index(docs, folder, index_config, progress=progress)
    return {
        "documents": report.documents,
        "passages": report.passages,
        "build_seconds": round(report.seconds, 1),
        "embed_seconds": round(report.embed_seconds, 1),
        "passages_per_second": round(report.passages_per_second, 1),
        "by_source": report.by_source,
        "peak_memory_mb": round(peak_memory_mb()),
    }


def retrieval(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from retrieval.benchmark import evaluate, medquad_questions
    from retrieval.index import KnowledgeIndex

    medquad = args.medquad or str(config.sources.medquad or DEFAULT_MEDQUAD)
    folder = config.home / "bench" / "retrieval-index"
    build = None
    if not (args.reuse and (folder / "manifest.json").exists()):
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            build = pool.submit(
                build_benchmark_index, folder, config.index, medquad, args.limit, not args.json
            ).result()
    index = KnowledgeIndex(folder)
    questions = medquad_questions(
        medquad, args.questions, args.seed, config.index.chunk_words, config.index.chunk_overlap
    )
    if args.limit:  # only questions whose answers were indexed
        indexed = {p.text_key for p in index.passages}
        questions = [q for q in questions if q.gold & indexed]
    start = time.perf_counter()
    scores = evaluate(index, questions)
    out = {
        "questions": len(questions),
        "seed": args.seed,
        "index": index.stats(),
        "build": build,
        "scores": {m: {k: round(v, 4) for k, v in s.items()} for m, s in scores.items()},
        "eval_seconds": round(time.perf_counter() - start, 1),
        "search_peak_memory_mb": round(peak_memory_mb()),
    }
    config.save(folder, "bench_config.json")
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if build:
        print(
            f"build: {build['passages']} passages from {build['documents']} documents in "
            f"{build['build_seconds']} s ({build['passages_per_second']} passages/s), "
            f"build peak memory {build['peak_memory_mb']} MB"
        )
    print(
        f"{len(questions)} MedQuAD questions (seed {args.seed}); search process peak memory "
        f"{out['search_peak_memory_mb']} MB"
    )
    cols = ["recall@1", "recall@5", "recall@10", "mrr@10", "latency_p50_ms", "latency_p95_ms"]
    print(f"{'method':<8} " + " ".join(f"{c:>14}" for c in cols))
    for method, s in out["scores"].items():
        print(f"{method:<8} " + " ".join(f"{s[c]:>14.3f}" for c in cols))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def load(args: argparse.Namespace, config) -> int:  # noqa: ANN001
    """Concurrent sessions against a running app, or one started here without a model."""
    from ui.web.load import run_load

    app, url = None, args.url
    if url is None:
        from agent.consultation import AgentConfig
        from agent.resources import Resources
        from ui.web.app import WebConfig, build_app, launch

        web = WebConfig(port=0)
        resources = Resources.load(config, model=False, emergency=False)  # as measured
        app = build_app(resources, None, AgentConfig(), web)
        url = launch(app, web, block=False)
    try:
        result = run_load(url, sessions=args.sessions, turns=args.turns)
    finally:
        if app is not None:
            app.close()
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 1 if result["errors"] else 0
