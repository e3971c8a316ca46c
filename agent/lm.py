"""The chat-model protocol every backend implements, and the factory that picks one.

``model.stream(messages, options)`` yields text pieces as they are generated; ``complete``
joins them. Backends: transformers (default), llama-cpp-python, any OpenAI-compatible server,
and ``ScriptedModel`` for tests and dry runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypedDict, runtime_checkable

from agent.config import AppConfig, ModelConfig


class Message(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class GenerationOptions:
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 0.95
    stop: tuple[str, ...] = field(default_factory=tuple)
    # A policy decision: the questioning adapter applies (with adapter_scope 'policy', only here)
    policy: bool = False

    @classmethod
    def from_config(cls, config: ModelConfig, **changes: object) -> GenerationOptions:
        base = cls(config.max_new_tokens, config.temperature, config.top_p)
        return cls(**{**base.__dict__, **changes})


@runtime_checkable
class ChatModel(Protocol):
    name: str

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str]: ...


def complete(
    model: ChatModel, messages: Sequence[Message], options: GenerationOptions | None = None
) -> str:
    return "".join(model.stream(messages, options))


def cut_at_stop(pieces: Iterable[str], stop: Sequence[str]) -> Iterator[str]:
    """Pass text through until a stop string appears; hold back what might start one."""
    if not stop:
        yield from pieces
        return
    held = ""
    longest = max(len(s) for s in stop)
    for piece in pieces:
        held += piece
        cuts = [held.find(s) for s in stop if s in held]
        if cuts:
            yield held[: min(cuts)]
            return
        safe = len(held) - (longest - 1)
        if safe > 0:
            yield held[:safe]
            held = held[safe:]
    if held:
        yield held


class ScriptedModel:
    """A fake model that replies with queued texts, word by word (tests, dry runs)."""

    name = "scripted"

    def __init__(self, replies: Iterable[str] = (), default: str = "") -> None:
        self.replies = list(replies)
        self.default = default
        self.calls: list[list[Message]] = []

    def enqueue(self, *replies: str) -> None:
        self.replies.extend(replies)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str]:
        self.calls.append(list(messages))
        reply = self.replies.pop(0) if self.replies else self.default
        stop = options.stop if options else ()
        words = reply.split(" ")
        yield from cut_at_stop((w if i == 0 else " " + w for i, w in enumerate(words)), stop)


def load_chat_model(config: AppConfig) -> ChatModel:
    """The chat model the config names. Raises a clear error when it cannot be loaded."""
    m = config.model
    if m.backend == "scripted":
        return ScriptedModel(default="(scripted model: no reply queued)")
    if m.backend == "openai":
        from agent.backends.openai_http import OpenAIChatModel

        return OpenAIChatModel(m)
    if m.backend == "llamacpp":
        from agent.backends.llamacpp import LlamaCppChatModel

        return LlamaCppChatModel(m)
    from agent.backends.hf import TransformersChatModel

    return TransformersChatModel.from_config(config)
