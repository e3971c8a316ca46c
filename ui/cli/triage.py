"""``anamnesis triage``: the learned emergency classifier.

anamnesis triage fit [--out DIR] [--epochs N]      train it on agent/pack/triage/*.jsonl (35-60 min)
anamnesis triage calibrate [--classifier DIR]      its threshold from the calibration messages
anamnesis triage check "a message"                 P(emergency) and what the rules say
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ui.cli.common import add_config_flags, config_from, friendly_errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis triage", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fit", help="train the classifier on the pack's triage statements")
    f.add_argument("--out", help="adapter folder (default: the shipped one in the package)")
    f.add_argument("--epochs", type=int, help="passes over the statements")
    f.add_argument("--seed", type=int, help="seed")
    f.add_argument("--held-out-by", choices=["statement", "rule"], help="how to hold out")
    f.add_argument(
        "--threshold-only", action="store_true", help="keep the adapter; choose its threshold"
    )
    k = sub.add_parser("calibrate", help="choose the threshold on the calibration messages")
    k.add_argument("--classifier", help="adapter folder (default: the shipped one)")
    k.add_argument("--messages", help="a JSONL folder of labelled messages (default: the pack's)")
    k.add_argument("--recall", type=float, default=0.99, help="emergency recall to keep")
    k.add_argument("--dry-run", action="store_true", help="report, do not write the card")
    c = sub.add_parser("check", help="score one message")
    c.add_argument("text", help="a patient message")
    for sp in sub.choices.values():
        add_config_flags(sp)
    return p


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    from agent.emergency import (
        SHIPPED,
        EmergencyClassifier,
        EmergencyConfig,
        calibrate,
        fit,
        load_statements,
    )

    args = parser().parse_args(argv)
    config = config_from(args)
    models = config.models_dir
    if args.what == "fit":
        given = (("epochs", args.epochs), ("seed", args.seed), ("held_out_by", args.held_out_by))
        changes = {k: v for k, v in given if v is not None}
        out = Path(args.out) if args.out else SHIPPED
        report = fit(
            out, EmergencyConfig(**changes), threshold_only=args.threshold_only, models_dir=models
        )
        print(json.dumps(report, indent=2))
        return 0
    if args.what == "calibrate":
        rows = load_statements(Path(args.messages)) if args.messages else None
        path = Path(args.classifier) if args.classifier else SHIPPED
        report = calibrate(path, rows, args.recall, models, write=not args.dry_run)
        print(json.dumps(report, indent=2))
        return 0
    classifier = EmergencyClassifier.load(models_dir=models)
    p = classifier.probability(args.text)
    verdict = "emergency" if p >= classifier.threshold else "not flagged"
    print(f"P(emergency) = {p:.3f} (threshold {classifier.threshold:.3f}): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
