"""``anamnesis harvest``: turn consented, logged sessions into scrubbed training data.

anamnesis harvest --out DIR [--database FILE] [--min-correction-words N] [--include-incomplete]
                  [--force]
Writes DIR/sft.jsonl, DIR/preferences.jsonl, DIR/card.md and DIR/card.json.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ui.cli.common import add_config_flags, config_from, friendly_errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis harvest", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the data and card")
    p.add_argument(
        "--database", metavar="FILE", help="session database (default: the data folder's)"
    )
    p.add_argument(
        "--min-correction-words",
        type=int,
        default=3,
        metavar="N",
        help="a thumbs-down comment of at least N words becomes a preference pair (default 3)",
    )
    p.add_argument(
        "--include-incomplete", action="store_true", help="also use turns that were cut short"
    )
    p.add_argument("--force", action="store_true", help="overwrite an earlier harvest in DIR")
    add_config_flags(p)
    return p


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    config = config_from(args)
    database = Path(args.database) if args.database else config.database
    if not database.exists():
        raise FileNotFoundError(f"no session database at {database}: nothing to harvest")
    from agent.sessionlog import SessionLog
    from training.harvest import HarvestConfig, harvest

    settings = HarvestConfig(
        min_correction_words=args.min_correction_words,
        include_incomplete=args.include_incomplete,
    )
    command = shlex.join(["anamnesis", "harvest", *argv])
    with SessionLog(database) as log:
        card = harvest(log, Path(args.out), settings, command=command, overwrite=args.force)
    counts = card["counts"]
    skipped = ", ".join(f"{k} {v}" for k, v in counts["sessions_skipped"].items()) or "none"
    print(
        f"Harvested {counts['sft_examples']} SFT examples and {counts['preference_pairs']} "
        f"preference pairs from {counts['sessions_used']} of {counts['sessions']} sessions "
        f"(skipped: {skipped}) into {args.out}; see card.md."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
