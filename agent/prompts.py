"""Prompt templates: Jinja files shipped in ``agent/prompts``, rendered with strict undefined.

``render("grounded_answer", question=..., passages=...)`` fails loudly on a missing variable.
``policy_messages`` is the llm policy's whole prompt, shared by the agent and its training data.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def policy_messages(passages: Sequence[Any], transcript: Sequence[tuple[str, str]]) -> list[dict]:
    """The llm policy's prompt: its system prompt with the passages (objects with ``title``
    and ``text``), then the conversation (patient -> user, doctor -> assistant). The agent
    sends it and the questioning adapter is trained on it, so both see the same text."""
    messages = [{"role": "system", "content": render("llm_policy.system", passages=passages)}]
    return messages + [
        {"role": "user" if role == "patient" else "assistant", "content": text}
        for role, text in transcript
    ]
