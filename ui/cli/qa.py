"""``anamnesis qa``: a terminal question-answering chat grounded in the knowledge index, streamed.

Prepares the embedded model and builds the default index on first use (explicitly, with a
progress bar). Type a message; an empty line is ignored; Ctrl-D or "quit" ends the chat.
"""

from __future__ import annotations

import argparse
import sys

from ui.cli.common import add_config_flags, config_from, friendly_errors

BANNER = (
    "Anamnesis - an aid, not a doctor. If this is an emergency, call your local emergency\n"
    "number now (999, 911, 112). Answers come from the knowledge index and cite it.\n"
    "Type 'quit' or press Ctrl-D to leave."
)
MAX_MESSAGE = 2000


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis qa", description=__doc__.splitlines()[0])
    p.add_argument("-k", type=int, default=4, help="passages retrieved per message")
    add_config_flags(p)
    return p


def ensure_ready(config) -> None:  # noqa: ANN001
    """First use: convert the embedded model and build the default index, saying so."""
    from agent.checkpoint import embedded_checkpoint, is_prepared, prepare_checkpoint
    from agent.kb import build_library

    if config.model.backend == "transformers" and config.model.model == "embedded":
        if not is_prepared(embedded_checkpoint(config.models_dir)):
            print("Preparing the embedded model (once)...", file=sys.stderr)
            prepare_checkpoint(config.models_dir)
    if not (config.index_dir / "manifest.json").exists():
        print(f"Building the knowledge index in {config.index_dir} (once)...", file=sys.stderr)
        build_library(config)


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = config_from(args)
    ensure_ready(config)
    from agent.answer import Answered, Escalated, Retrieved, Token, answer
    from agent.extract import EmbeddingMatcher, PhraseTable
    from agent.kb import open_library
    from agent.knowledge import default_pack
    from agent.lm import load_chat_model

    pack = default_pack()
    index = open_library(config)
    triage = (pack, PhraseTable.from_pack(pack), EmbeddingMatcher(pack, index.embedder))
    model = load_chat_model(config)
    print(BANNER)
    history: list = []
    while True:
        try:
            text = input("\nyou> ").strip()
        except EOFError:
            print()
            return 0
        if not text:
            print("(Please type a message, or 'quit' to leave.)")
            continue
        if text.lower() in ("quit", "exit"):
            return 0
        if len(text) > MAX_MESSAGE:
            print(f"(Your message is long; the first {MAX_MESSAGE} characters are used.)")
            text = text[:MAX_MESSAGE]
        print("anamnesis> ", end="", flush=True)
        final, retrieved = None, ()
        for step in answer(text, index, model, history[-4:], k=args.k, triage=triage):
            if isinstance(step, Escalated):
                print(f"\n!! {step.advice}\n   Why: {step.reason}")
            elif isinstance(step, Token):
                print(step.text, end="", flush=True)
            elif isinstance(step, Answered):
                final = step
            elif isinstance(step, Retrieved):
                retrieved = step.passages
                if not retrieved:
                    print("(nothing relevant in the knowledge index)", end=" ")
        print()
        if final and final.cited:
            print("sources:")
            for n, p in final.cited:
                print(f"  [{n}] {p.title} - {p.source} {p.url}".rstrip())
        elif final and retrieved:  # nothing cited: show what the answer was given to read
            print("passages given to the model (none cited):")
            for p in retrieved:
                print(f"  - {p.title} - {p.source} {p.url}".rstrip())
        reply = final.text if final else ""
        history += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]


if __name__ == "__main__":
    sys.exit(main())
