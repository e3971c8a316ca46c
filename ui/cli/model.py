"""``anamnesis model``: prepare the embedded model once, or try the configured model.

anamnesis model prepare [--force]      convert the embedded GGUF into a checkpoint
anamnesis model try "a message"        stream one reply from the configured model
"""

from __future__ import annotations

import argparse
import sys
import time

from ui.cli.common import add_config_flags, config_from, friendly_errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis model", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    prep = sub.add_parser("prepare", help="convert the embedded GGUF (once)")
    prep.add_argument("--force", action="store_true", help="convert again")
    t = sub.add_parser("try", help="stream one reply")
    t.add_argument("message", nargs="+")
    for sp in sub.choices.values():
        add_config_flags(sp)
    return p


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = config_from(args)
    if args.action == "prepare":
        from agent.checkpoint import prepare_checkpoint

        start = time.perf_counter()
        folder = prepare_checkpoint(config.models_dir, force=args.force)
        print(f"The embedded model is ready in {folder} ({time.perf_counter() - start:.0f} s).")
        return 0
    from agent.lm import load_chat_model

    model = load_chat_model(config)
    for piece in model.stream([{"role": "user", "content": " ".join(args.message)}]):
        print(piece, end="", flush=True)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
