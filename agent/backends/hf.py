"""The transformers backend: any causal LM by name or folder, optional LoRA adapter, streaming.

Loads the prepared embedded checkpoint by default; CUDA when present; bf16 where it helps.
Chat templates come from the tokenizer.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence

from agent.checkpoint import ModelNotAvailable, offline, resolve_adapter, resolve_model
from agent.config import AppConfig, ModelConfig
from agent.lm import GenerationOptions, Message, cut_at_stop
from retrieval.device import resolve_device, resolve_dtype

log = logging.getLogger(__name__)


class TransformersChatModel:
    def __init__(self, model, tokenizer, config: ModelConfig, name: str) -> None:  # noqa: ANN001
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.name = name
        self.device = str(model.device)
        self.adapted = hasattr(model, "disable_adapter")  # a PeftModel
        # Switching the adapter off is global to the model: one generation at a time.
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, app: AppConfig) -> TransformersChatModel:
        return cls.load(app.model, resolve_model(app.model.model, app.models_dir))

    @classmethod
    def load(cls, config: ModelConfig, path: str) -> TransformersChatModel:
        offline()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = resolve_device(config.device)
        dtype = resolve_dtype(config.dtype, device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except OSError as exc:
            raise ModelNotAvailable(
                f"Cannot load model {path!r}: it is neither a local folder nor in the local "
                f"Hugging Face cache (nothing is downloaded at run time). {exc}"
            ) from exc
        adapter = resolve_adapter(config.adapter, config.model)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
            log.info("applied the adapter in %s (scope: %s)", adapter, config.adapter_scope)
        model.to(device).eval()
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        log.info("loaded %s on %s in %s", path, device, dtype)
        return cls(model, tokenizer, config, name=path)

    def encode(self, messages: Sequence[Message]) -> dict:
        return self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.model.device)

    def _adapter(self, policy: bool) -> contextlib.AbstractContextManager:
        """The adapter stays on for policy decisions (or every call with scope 'all'); other
        calls run the bare model. Hold ``_lock``: switching it off is global to the model."""
        if self.adapted and not (policy or self.config.adapter_scope == "all"):
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def score(
        self, messages: Sequence[Message], replies: Sequence[str], policy: bool = True
    ) -> list[float]:
        """Mean log-probability a token of each reply as the assistant's next message: how
        much the model (with the adapter when ``policy``) would say it."""
        import torch

        prompt = self.encode(messages)["input_ids"][0]
        end = self.tokenizer.eos_token or ""
        rows = [
            self.tokenizer(reply + end, add_special_tokens=False, return_tensors="pt")["input_ids"][
                0
            ].to(prompt.device)
            for reply in replies
        ]
        width = len(prompt) + max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, device=prompt.device)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            n = len(prompt) + len(r)
            ids[i, :n] = torch.cat([prompt, r])
            mask[i, :n] = 1
        with self._lock, self._adapter(policy), torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask).logits
        logprobs = torch.log_softmax(logits.float(), -1)
        out = []
        for i, r in enumerate(rows):
            positions = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(r), device=ids.device)
            out.append(float(logprobs[i, positions, r].mean()))
        return out

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str]:
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        opts = options or GenerationOptions.from_config(self.config)
        inputs = self.encode(messages)
        streamer = TextIteratorStreamer(
            self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600
        )
        sampling = (
            {"do_sample": True, "temperature": opts.temperature, "top_p": opts.top_p}
            if opts.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        cancelled = threading.Event()
        stopping = StoppingCriteriaList([_Cancelled(cancelled)])
        kwargs = dict(
            **inputs,
            streamer=streamer,
            max_new_tokens=opts.max_new_tokens,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=stopping,
            **sampling,
        )
        if opts.stop:  # the model stops itself; cut_at_stop trims the stop string
            kwargs.update(stop_strings=list(opts.stop), tokenizer=self.tokenizer)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._lock, self._adapter(opts.policy):
                    self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced to the caller below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True, name="anamnesis-generate")
        thread.start()
        consumed = False
        try:
            yield from cut_at_stop((t for t in streamer if t), opts.stop)
            consumed = True
        finally:  # a consumer that stops early stops the generation too
            cancelled.set()
            if not consumed:
                for _ in streamer:  # up to the end signal, so the generating thread finishes
                    pass
            thread.join()
        if errors:
            raise errors[0]


class _Cancelled:
    """A stopping criterion that ends generation once the consumer has gone."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001, ANN003, ANN204
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )
