"""``anamnesis chat``: serve the consultation web app (Gradio) on http://127.0.0.1:7860.

anamnesis chat [--host H] [--port P] [--auth USER:PASS | --open-server] [--policy planner]
               [--max-questions N] [--no-model]
Prepares the embedded model and builds the knowledge index on first use; Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import socket
import sys

from ui.cli.common import add_config_flags, config_from, friendly_errors
from ui.cli.qa import ensure_ready

CANNOT_LISTEN = (
    "cannot listen on {host}:{port}: the port is in use or the address is not this computer's; "
    "choose another --port or --host"
)


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


def can_listen(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now (checked before the slow loading)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            s.bind((host.strip("[]"), port))
    except OSError:
        return False
    return True


def refuse(problem: str) -> int:
    print(f"anamnesis chat: {problem}", file=sys.stderr)
    return 2


@friendly_errors
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ui.web.app import WebConfig, exposure_problem, parse_auth

    auth = parse_auth(args.auth)
    problem = exposure_problem(args.host, auth, args.open_server)
    if problem:  # checked before anything slow is loaded
        return refuse(problem)
    web = WebConfig(host=args.host, port=args.port, auth=auth, open_server=args.open_server)
    if not can_listen(web.host, web.port):
        return refuse(CANNOT_LISTEN.format(host=web.host, port=web.port))
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
    what = "the knowledge index" if args.no_model else "the knowledge index and the model"
    print(f"Loading {what}...", file=sys.stderr)
    resources = Resources.load(config, model=not args.no_model)
    app = build_app(resources, SessionLog.default(config), agent_config, web)
    try:
        launch(app, web)
    except OSError:  # taken meanwhile
        return refuse(CANNOT_LISTEN.format(host=web.host, port=web.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
