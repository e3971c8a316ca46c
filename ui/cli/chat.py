"""``anamnesis chat``: serve the consultation web app (Gradio) on http://127.0.0.1:7860.

anamnesis chat [--host H] [--port P] [--auth USER:PASS | --open-server] [--policy planner]
               [--max-questions N] [--no-model]
Prepares the embedded model and builds the knowledge index on first use; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import sys

from ui.cli.common import add_config_flags, config_from, friendly_errors
from ui.cli.qa import ensure_ready


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anamnesis chat", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument(
        "--auth", metavar="USER:PASS", help="ask for this user and password (needed off-localhost)"
    )
    p.add_argument(
        "--open-server",
        action="store_true",
        help="listen beyond localhost with no password: anyone who reaches it can use it",
    )
    p.add_argument(
        "--policy",
        choices=["planner", "hybrid", "llm"],
        default="planner",
        help="who decides the next question (default: planner)",
    )
    p.add_argument("--max-questions", type=int, help="question budget")
    p.add_argument("--no-model", action="store_true", help="no language model: catalogue wording")
    add_config_flags(p)
    return p


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ui.web.app import WebConfig, exposure_problem, parse_auth

    auth = parse_auth(args.auth)
    problem = exposure_problem(args.host, auth, args.open_server)
    if problem:  # checked before anything slow is loaded
        print(f"anamnesis chat: {problem}", file=sys.stderr)
        return 2
    web = WebConfig(host=args.host, port=args.port, auth=auth, open_server=args.open_server)
    config = config_from(args)
    if args.no_model:
        from agent.kb import build_library

        if not (config.index_dir / "manifest.json").exists():
            print(f"Building the knowledge index in {config.index_dir} (once)...", file=sys.stderr)
            build_library(config)
    else:
        ensure_ready(config)

    from agent.consultation import AgentConfig
    from agent.planner import PlannerConfig
    from agent.resources import Resources
    from agent.sessionlog import SessionLog
    from ui.web.app import build_app, launch

    planner = (
        PlannerConfig()
        if args.max_questions is None
        else PlannerConfig(max_questions=args.max_questions)
    )
    agent_config = AgentConfig(policy=args.policy, planner=planner)
    print("Loading the knowledge index and the model...", file=sys.stderr)
    resources = Resources.load(config, model=not args.no_model)
    app = build_app(resources, SessionLog.default(config), agent_config, web)
    try:
        launch(app, web)
    except OSError as exc:  # the port is taken, or the address is not ours
        print(f"anamnesis chat: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
