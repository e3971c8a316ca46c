"""``anamnesis ask``: a history-taking consultation in the terminal.

anamnesis ask                          talk to the agent; Ctrl-D or "quit" ends
anamnesis ask --script FILE [--json]   play the patient's lines from a file (one a line) and
                                       print each step with its type and reason
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator

from ui.cli.common import add_config_flags, config_from, friendly_errors


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis ask", description=__doc__.splitlines()[0])
    p.add_argument("--script", metavar="FILE", help="patient lines, one a line")
    p.add_argument("--json", action="store_true", help="JSON lines output (with --script)")
    p.add_argument("--max-questions", type=int, help="question budget")
    p.add_argument(
        "--policy",
        choices=["planner", "hybrid", "llm"],
        default="planner",
        help="who decides the next question (default: planner)",
    )
    p.add_argument("--no-model", action="store_true", help="no language model: catalogue wording")
    p.add_argument("--no-index", action="store_true", help="no retrieval in the assessment")
    p.add_argument("--lexical", action="store_true", help="read findings by wording only")
    p.add_argument(
        "--emergency-classifier",
        action=argparse.BooleanOptionalAction,
        help="the learned emergency classifier after the red-flag rules (default: the "
        "config's triage.classifier)",
    )
    add_config_flags(p)
    return p


def step_dict(step: object) -> dict:
    data = {"type": type(step).__name__.lower()}
    for f in dataclasses.fields(step):
        value = getattr(step, f.name)
        if f.name == "passages":
            value = [
                {"id": p.id, "title": p.title, "source": p.source, "url": p.url} for p in value
            ]
        elif f.name == "cited":
            value = [{"n": n, "title": p.title, "url": p.url} for n, p in value]
        data[f.name] = value
    return data


def render(step: object) -> str:
    d = step_dict(step)
    kind = d["type"]
    if kind == "question":
        return d["text"]
    if kind == "escalation":
        return f"!! {d['advice']}\n   Why: {d['reason']}"
    if kind == "assessment":
        return d["text"]
    if kind == "notice":
        return f"({d['text']})"
    return ""


def build(args: argparse.Namespace):  # noqa: ANN201 - a Consultation
    from agent.consultation import AgentConfig
    from agent.planner import PlannerConfig
    from agent.resources import Resources

    config = config_from(args)
    planner = (
        PlannerConfig()
        if args.max_questions is None
        else PlannerConfig(max_questions=args.max_questions)
    )
    resources = Resources.load(
        config,
        model=not args.no_model,
        index=not args.no_index,
        embeddings=not args.lexical,
        emergency=args.emergency_classifier,
    )
    return resources.consultation(AgentConfig(planner=planner, policy=args.policy))


def lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield line.rstrip("\n")


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    consultation = build(args)
    if args.script:
        for n, text in enumerate(lines(args.script), 1):
            if not args.json:
                print(f"patient> {text}")
            for step in consultation.respond(text):
                if type(step).__name__ == "Token":
                    continue  # the Assessment step carries the whole text
                if args.json:
                    print(json.dumps({"turn": n, "patient": text, **step_dict(step)}, default=str))
                else:
                    d = step_dict(step)
                    print(f"[{d['type']}] {d.get('reason', '')}")
                    shown = render(step)
                    if shown:
                        print(f"anamnesis> {shown}")
            if consultation.finished:
                break
        return 0
    print("Anamnesis - an aid, not a doctor. In an emergency call your local emergency number.")
    print("Tell me what is troubling you. Type 'quit' to leave.")
    while True:
        try:
            text = input("\nyou> ")
        except EOFError:
            print()
            return 0
        if text.strip().lower() in ("quit", "exit"):
            return 0
        for step in consultation.respond(text):
            shown = render(step)
            if shown:
                print(f"anamnesis> {shown}")
        if consultation.finished:
            print("\n(The consultation has ended. Type to start a new one, or 'quit'.)")


if __name__ == "__main__":
    sys.exit(main())
