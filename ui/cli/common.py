"""What every subcommand shares: the config flags, logging, and turning errors into messages."""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Callable

from agent.checkpoint import ModelNotAvailable
from agent.config import AppConfig, load_config
from retrieval.index import IndexUnavailable


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config file")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a config value, e.g. --set model.backend=llamacpp (repeatable)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")


def config_from(args: argparse.Namespace, *extra: str) -> AppConfig:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    return load_config(args.config, [*args.set, *extra])


def friendly_errors(main: Callable[..., int]) -> Callable[..., int]:
    """Known failures become one clear line on stderr and exit code 2, not a traceback."""

    @functools.wraps(main)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            return main(argv)
        except (IndexUnavailable, ModelNotAvailable, FileNotFoundError, ValueError) as exc:
            print(f"anamnesis: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\nanamnesis: interrupted", file=sys.stderr)
            return 130

    return wrapper
