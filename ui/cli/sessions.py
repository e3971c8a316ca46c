"""``anamnesis sessions``: read the session log of consented consultations.

anamnesis sessions list [--json]               the sessions, most recent first
anamnesis sessions show ID [--json]            one session turn by turn (a unique id prefix will do)
anamnesis sessions export [--out FILE] [--raw] JSON lines, one a session; scrubbed unless --raw
anamnesis sessions forget ID                   delete a session and everything about it
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import textwrap
from pathlib import Path

from ui.cli.common import add_config_flags, config_from, friendly_errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis sessions", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="action", required=True)
    ls = sub.add_parser("list", help="the sessions, most recent first")
    ls.add_argument("--json", action="store_true", help="JSON lines output")
    sh = sub.add_parser("show", help="one session, turn by turn")
    sh.add_argument("id", help="session id or a unique prefix of it")
    sh.add_argument("--json", action="store_true", help="the whole record as JSON")
    ex = sub.add_parser("export", help="every session as JSON lines")
    ex.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    ex.add_argument(
        "--raw", action="store_true", help="do not scrub personal data (for your own backups)"
    )
    fg = sub.add_parser("forget", help="delete a session (consent withdrawn)")
    fg.add_argument("id", help="session id or a unique prefix of it")
    for sp in sub.choices.values():
        add_config_flags(sp)
    return p


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = config_from(args)
    database = config.database
    if not database.exists():
        if args.action in ("show", "forget"):
            print(f"anamnesis: no session database at {database}", file=sys.stderr)
            return 2
        if args.action == "list":
            print(f"No sessions logged yet ({database} does not exist).")
        return 0
    from agent.sessionlog import SessionLog

    with SessionLog(database) as log:
        return ACTIONS[args.action](args, log)


def list_sessions(args: argparse.Namespace, log) -> int:  # noqa: ANN001
    rows = log.sessions()
    if args.json:
        for s in rows:
            print(json.dumps(dataclasses.asdict(s)))
        return 0
    if not rows:
        print(f"No sessions logged yet in {log.path}.")
        return 0
    print(f"{'id':<12}  {'started (UTC)':<19}  {'policy':<7}  turns  {'last step':<10}  +1  -1")
    for s in rows:
        print(
            f"{s.id[:12]:<12}  {s.started[:19].replace('T', ' '):<19}  {s.policy:<7}  "
            f"{s.turns:>5}  {s.last_step or '-':<10}  {s.thumbs_up:>2}  {s.thumbs_down:>2}"
        )
    return 0


def show(args: argparse.Namespace, log) -> int:  # noqa: ANN001
    record = log.session(args.id)
    if args.json:
        print(json.dumps(record.to_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"session {record.id}  started {record.started}  policy {record.policy}")
    for turn in record.turns:
        status = "" if turn.status == "complete" else f"  [{turn.status}]"
        print(f"\n[{turn.n}] patient> {turn.patient_text}{status}")
        for step in turn.steps:
            print(f"    {step.type}: {step.reason}")
            if step.type != "retrieval":
                print(textwrap.indent(step.text, "      "))
            for source in step.payload.get("sources", []):
                print(f"      - {source.get('title', '')} {source.get('url', '')}".rstrip())
        for f in turn.feedback:
            rating = {1: "+1", -1: "-1", None: ""}[f.rating]
            comment = f" {f.comment}" if f.comment else ""
            print(f"    feedback {rating}{comment}".rstrip())
    return 0


def export(args: argparse.Namespace, log) -> int:  # noqa: ANN001
    from training.harvest import scrub_session

    out = Path(args.out).open("w", encoding="utf-8") if args.out else sys.stdout
    n = 0
    try:
        for row in log.export():
            if not args.raw:
                row, _ = scrub_session(row)
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if args.out:
            out.close()
    if args.out:
        what = "raw" if args.raw else "scrubbed"
        print(f"Exported {n} sessions ({what}) to {args.out}", file=sys.stderr)
    return 0


def forget(args: argparse.Namespace, log) -> int:  # noqa: ANN001
    record = log.session(args.id)
    log.forget(record.id)
    print(f"Deleted session {record.id} ({len(record.turns)} turns).")
    return 0


ACTIONS = {"list": list_sessions, "show": show, "export": export, "forget": forget}
