"""The ``anamnesis`` console script: dispatches to one module per subcommand.

Run ``anamnesis --help`` for the list, ``anamnesis SUBCOMMAND --help`` for each.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS = {
    "chat": ("ui.cli.chat", "the consultation web app (Gradio), on 127.0.0.1 by default"),
    "qa": ("ui.cli.qa", "grounded question answering in the terminal"),
    "ask": ("ui.cli.ask", "a history-taking consultation in the terminal (or from a script)"),
    "kb": ("ui.cli.kb", "build, search and inspect the medical knowledge index"),
    "model": ("ui.cli.model", "prepare the embedded language model, or try a model"),
    "bench": ("ui.cli.bench", "benchmarks that print their figures"),
    "eval": ("ui.cli.eval", "score the agent against simulated patients: AgentClinic, synthetic"),
    "train": ("ui.cli.train", "self-play data and training of the questioning policy (SFT, DPO)"),
    "triage": ("ui.cli.triage", "train or try the learned emergency classifier"),
    "sessions": ("ui.cli.sessions", "list, show, export or forget logged consultations"),
    "harvest": ("ui.cli.harvest", "turn consented sessions into scrubbed SFT and preference data"),
}


def usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return (
        "usage: anamnesis SUBCOMMAND [options]\n\n"
        "Anamnesis: a consultation agent that takes a history, grounded in a medical\n"
        "knowledge base. An aid, not a doctor.\n"
        "In an emergency, call your local emergency number now.\n\n"
        "subcommands:\n" + "\n".join(lines) + "\n\nanamnesis SUBCOMMAND --help for its options."
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"anamnesis: unknown subcommand {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[name][0])
    return module.main(rest)


if __name__ == "__main__":
    sys.exit(main())
