"""``anamnesis eval``: the agent against simulated patients, scored and logged.

  anamnesis eval --cases agentclinic:PATH | synthetic[:N] | redflags
                 --solver planner|hybrid|llm|upper|lower[,...] [--max-questions N]
                 [--budgets 0,2,4,8] [--out DIR] [--json] [--adapter PATH] [--seed S] [--limit N]
writes a run folder (default $ANAMNESIS_HOME/runs/<time>) with the resolved config, per-case
transcripts and scores (cases.jsonl), summary.json and accuracy_vs_budget.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

from ui.cli.common import add_config_flags, config_from, friendly_errors

DEFAULT_MEDQUAD = Path("../shared/data/medquad_answered.jsonl.gz")


def _ints(text: str) -> list[int]:
    try:
        return sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas: {text}") from exc


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis eval", description=__doc__.splitlines()[0])
    p.add_argument("--cases", required=True, help="agentclinic:PATH | synthetic[:N] | redflags")
    p.add_argument(
        "--solver",
        default="planner",
        help="planner, hybrid, llm, upper or lower; several separated by commas",
    )
    p.add_argument("--max-questions", type=int, default=12, help="question budget (default 12)")
    p.add_argument(
        "--budgets", type=_ints, default=[], help="also rerun the agent at these budgets: 0,2,4,8"
    )
    p.add_argument("--out", metavar="DIR", help="run folder (default: under the data folder)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--adapter",
        metavar="PATH|none",
        help="LoRA adapter for the llm and hybrid policies (default: the shipped one)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic cases")
    p.add_argument("--split", choices=["eval", "train"], default="eval", help="synthetic split")
    p.add_argument("--limit", type=int, help="only the first N cases")
    p.add_argument("--no-model", action="store_true", help="never load a language model")
    p.add_argument("--no-index", action="store_true", help="no knowledge index")
    p.add_argument(
        "--emergency-classifier",
        action="store_true",
        help="add the learned emergency classifier (off here: this measures the questioning)",
    )
    p.add_argument("--lexical", action="store_true", help="the agent reads findings by wording")
    p.add_argument("--patient", choices=["facts", "llm"], default="facts", help="patient voice")
    p.add_argument("--phrase", action="store_true", help="let the model phrase the questions")
    p.add_argument(
        "--no-tests", action="store_true", help="the planner may not ask for exams and tests"
    )
    p.add_argument(
        "--medquad",
        metavar="PATH",
        help=f"MedQuAD for diagnosis synonyms (default: sources.medquad, else {DEFAULT_MEDQUAD} "
        "if present; 'none' for none)",
    )
    p.add_argument("--no-icd10", action="store_true", help="no ICD-10-CM synonyms")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_config_flags(p)
    return p


def medquad_path(given: str | None, configured: Path | None) -> Path | None:
    """The MedQuAD file for synonyms: the one given (it must exist), else the configured or
    the shared one when present, else none."""
    if given and given.lower() == "none":
        return None
    if given:
        if not Path(given).exists():
            raise FileNotFoundError(f"MedQuAD not found at {given}")
        return Path(given)
    for path in (configured, DEFAULT_MEDQUAD):
        if path and Path(path).exists():
            return Path(path)
    return None


def _table(summaries: list[dict]) -> str:
    cols = [
        ("solver", "solver", "{}"),
        ("budget", "budget", "{}"),
        ("cases", "n", "{}"),
        ("top1_strict", "top1", "{:.3f}"),
        ("top3_strict", "top3", "{:.3f}"),
        ("top5_strict", "top5", "{:.3f}"),
        ("top10_strict", "top10", "{:.3f}"),
        ("top1_lenient", "top1~", "{:.3f}"),
        ("coverage", "cover", "{:.3f}"),
        ("questions", "asked", "{:.1f}"),
        ("repeated_question_rate", "repeat", "{:.3f}"),
        ("mean_question_gain", "gain", "{:.3f}"),
        ("premature_conclusion_rate", "prem", "{:.3f}"),
        ("tests_requested", "tests", "{:.2f}"),
        ("turns_to_diagnosis", "turns", "{:.1f}"),
        ("escalation_rate", "escal", "{:.3f}"),
        ("red_flag_recall", "rf-rec", "{:.3f}"),
        ("false_escalation_rate", "rf-fer", "{:.3f}"),
        ("consultations_per_minute", "per-min", "{:.1f}"),
    ]
    cols = [c for c in cols if any(s.get(c[0]) is not None for s in summaries)]
    rows = [[head for _, head, _ in cols]]
    for s in summaries:
        rows.append([fmt.format(s[k]) if s.get(k) is not None else "-" for k, _, fmt in cols])
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows)


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    extra = [f"model.adapter={args.adapter}"] if args.adapter else []
    config = config_from(args, *extra)

    from agent.extract import EmbeddingMatcher
    from agent.resources import Resources
    from retrieval.embedding import Embedder
    from training.evaluate import EvalConfig, EvalLog, Roles, evaluate, load_cases, summarise
    from training.matching import DiagnosisMatcher, MatchConfig, build_synonyms
    from training.patient import CachedEmbedder, MeasurementConfig, PatientConfig
    from training.solvers import AGENT_SOLVERS, SOLVERS, agent_config, make_solver

    solvers = [s.strip() for s in args.solver.split(",") if s.strip()]
    unknown = [s for s in solvers if s not in SOLVERS]
    if unknown or not solvers:
        raise ValueError(f"unknown solver {unknown or args.solver!r}; choose from {SOLVERS}")
    needs_model = (
        any(s in ("hybrid", "llm") for s in solvers) or args.patient == "llm" or args.phrase
    )
    if needs_model and args.no_model:
        raise ValueError("hybrid, llm, --patient llm and --phrase need a model: drop --no-model")
    if args.patient == "llm":
        from agent.prompts import PROMPT_DIR

        if not (PROMPT_DIR / "patient_voice.jinja").exists():
            raise ValueError(f"--patient llm needs {PROMPT_DIR / 'patient_voice.jinja'}")
    notes: list[str] = []
    use_index = not args.no_index and (config.index_dir / "manifest.json").exists()
    if not args.no_index and not use_index:
        notes.append(f"no knowledge index at {config.index_dir}: run without retrieval")
    if args.adapter and not needs_model:
        notes.append("--adapter unused: no solver here uses the language model")
    if not needs_model:
        notes.append(
            "no language model: planner and bounds decide without one; the "
            "assessment's model summary is not scored"
        )

    from agent.checkpoint import resolve_adapter

    adapter = resolve_adapter(config.model.adapter, config.model.model) if needs_model else None
    started = time.perf_counter()
    load = {"model": needs_model, "index": use_index, "embeddings": False}
    load["emergency"] = args.emergency_classifier
    resources = Resources.load(config, **load)
    emergency = getattr(resources, "emergency", None) is not None
    if not emergency:
        notes.append("no learned emergency classifier: red-flag rules only")
    base = resources.index.embedder if resources.index is not None else Embedder(config.index)
    embedder = CachedEmbedder(base)
    if not args.lexical:
        resources.matcher = EmbeddingMatcher(resources.pack, embedder)
    medquad = medquad_path(args.medquad, config.sources.medquad)
    match_config = MatchConfig(medquad=medquad, icd10=not args.no_icd10)
    synonyms = build_synonyms(resources.pack, match_config.icd10, medquad)
    matcher = DiagnosisMatcher(synonyms, embedder, match_config)
    patient_config = PatientConfig(voice=args.patient)
    roles = Roles(
        resources.pack,
        resources.table,
        embedder,
        patient_config,
        MeasurementConfig(),
        resources.model,
    )
    tests = False if args.no_tests else None  # None: the planner's own default
    cases = load_cases(args.cases, resources.pack, args.seed, args.split, args.limit)
    if not cases:
        raise ValueError(f"no cases in {args.cases}")
    if len(cases) * len(solvers) >= 20:  # worth embedding the pack's wordings up front
        roles.prepare()
    eval_config = EvalConfig(
        cases=args.cases,
        solvers=solvers,
        max_questions=args.max_questions,
        budgets=args.budgets,
        seed=args.seed,
        split=args.split,
        limit=args.limit,
        phrase_questions=args.phrase,
        allow_tests=agent_config("planner", 1, allow_tests=tests).planner.allow_tests,
        model=getattr(resources.model, "name", None) if resources.model else None,
        adapter=str(adapter) if adapter else None,
        index=use_index,
        agent_embeddings=not args.lexical,
        emergency_classifier=emergency,
        patient=patient_config,
        measurement=roles.measurement_config,
        matching=match_config,
        synonym_sources=list(synonyms.sources),
        notes=notes,
    )
    setup = time.perf_counter() - started

    results, summaries = [], []
    for name in solvers:
        budgets = [args.max_questions]
        if name in AGENT_SOLVERS:
            budgets = sorted({*args.budgets, args.max_questions})
        for budget in budgets:
            solver = make_solver(name, resources, budget, args.phrase, tests)
            run = evaluate(
                cases,
                solver,
                roles,
                matcher,
                budget if name in AGENT_SOLVERS else None,
                progress=not args.no_progress,
            )
            results += run
            summaries.append(summarise(run))

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    source = args.cases.split(":")[0]
    folder = (
        Path(args.out) if args.out else config.runs_dir / f"{stamp}-{source}-{'-'.join(solvers)}"
    )
    log = EvalLog(eval_config, summaries, results, setup)
    log.save(folder)
    config.save(folder)
    failed = [r for r in results if r.error]
    if args.json:
        print(json.dumps({"run": str(folder), "summaries": summaries}, indent=2))
        return 1 if failed else 0
    print(_table(summaries))
    for note in notes:
        print(f"note: {note}")
    print(f"setup {setup:.1f} s; run folder: {folder}")
    if failed:
        # a consultation that raised is scored as a miss; the figures above are not to be used
        print(
            f"error: {len(failed)} of {len(results)} consultations failed, first "
            f"{failed[0].case}: {failed[0].error}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
