"""Any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama) over HTTP, streaming.

This is how a deployment scales past one machine: serve a large model elsewhere and point
``model.base_url`` at it. The API key, if any, is read from ``model.api_key_env``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence

import httpx

from agent.config import ModelConfig
from agent.lm import GenerationOptions, Message, cut_at_stop


class ServerError(RuntimeError):
    pass


class OpenAIChatModel:
    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.name = config.model
        self.url = config.base_url.rstrip("/") + "/chat/completions"

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.config.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str]:
        opts = options or GenerationOptions.from_config(self.config)
        body = {
            "model": self.config.model,
            "messages": list(messages),
            "max_tokens": opts.max_new_tokens,
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "stream": True,
        }
        if opts.stop:
            body["stop"] = list(opts.stop)
        try:
            with httpx.stream(
                "POST", self.url, json=body, headers=self._headers(), timeout=self.config.timeout
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise ServerError(
                        f"{self.url} answered {response.status_code}: {response.text[:300]}"
                    )
                yield from cut_at_stop(_sse_content(response.iter_lines()), opts.stop)
        except httpx.HTTPError as exc:
            raise ServerError(f"cannot reach the model server at {self.url}: {exc}") from exc


def _sse_content(lines: Iterator[str]) -> Iterator[str]:
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        for choice in event.get("choices", []):
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece
