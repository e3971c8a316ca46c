"""Prompt templates: Jinja files shipped in ``agent/prompts``, rendered with strict undefined.

``render("grounded_answer", question=..., passages=...)`` fails loudly on a missing variable.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

PROMPT_DIR = Path(__file__).parent / "prompts"


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(PROMPT_DIR),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(name: str, **variables: object) -> str:
    return _environment().get_template(f"{name}.jinja").render(**variables).strip()
