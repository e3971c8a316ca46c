import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.config import AppConfig, ModelConfig
from agent.lm import GenerationOptions, ScriptedModel, complete, cut_at_stop, load_chat_model

MSGS = [{"role": "user", "content": "I have a cough."}]


def test_scripted_model_streams_queued_replies():
    model = ScriptedModel(["How long have you had it?"], default="ok")
    pieces = list(model.stream(MSGS))
    assert len(pieces) == 6 and "".join(pieces) == "How long have you had it?"
    assert complete(model, MSGS) == "ok"
    assert model.calls[0] == MSGS


@pytest.mark.parametrize("split", [1, 2, 3, 7])
def test_cut_at_stop_across_pieces(split):
    text = "Question: any fever?\nPatient: yes"
    pieces = [text[i : i + split] for i in range(0, len(text), split)]
    assert "".join(cut_at_stop(pieces, ["\nPatient:"])) == "Question: any fever?"


def test_cut_at_stop_without_stop_passes_everything():
    assert "".join(cut_at_stop(["a", "b"], [])) == "ab"


class _FakeOpenAI(BaseHTTPRequestHandler):
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeOpenAI.seen.append((self.path, body, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ["Do you ", "have a ", "fever?"]:
            event = {"choices": [{"delta": {"content": piece}}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_openai_backend_streams_from_a_server(fake_server, monkeypatch):
    monkeypatch.setenv("TEST_KEY", "secret")
    config = AppConfig(
        model=ModelConfig(
            backend="openai", model="big-model", base_url=fake_server, api_key_env="TEST_KEY"
        )
    )
    model = load_chat_model(config)
    pieces = list(model.stream(MSGS, GenerationOptions(max_new_tokens=9)))
    assert pieces == ["Do you ", "have a ", "fever?"]
    path, body, auth = _FakeOpenAI.seen[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer secret"
    assert body["model"] == "big-model" and body["stream"] is True and body["max_tokens"] == 9


def test_openai_backend_unreachable_server_is_a_clear_error():
    from agent.backends.openai_http import ServerError

    config = AppConfig(model=ModelConfig(backend="openai", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(ServerError, match="cannot reach"):
        complete(load_chat_model(config), MSGS)


def test_transformers_backend_streams_with_the_chat_template(tiny_lm_dir):
    config = AppConfig(model=ModelConfig(model=str(tiny_lm_dir), max_new_tokens=5))
    model = load_chat_model(config)
    assert model.device == "cpu"
    prompt = model.tokenizer.decode(model.encode(MSGS)["input_ids"][0])
    assert "<|im_start|>user" in prompt and prompt.rstrip().endswith("<|im_start|>assistant")
    text = complete(model, MSGS)
    assert isinstance(text, str) and len(model.tokenizer(text)["input_ids"]) <= 6


def test_a_consumer_that_stops_early_stops_the_generation(tiny_lm_dir):
    import threading

    model = load_chat_model(
        AppConfig(model=ModelConfig(model=str(tiny_lm_dir), max_new_tokens=8000))
    )
    model.model.generation_config.eos_token_id = None  # nothing ends it but the consumer

    def generating() -> bool:
        return any(t.name == "anamnesis-generate" for t in threading.enumerate())

    stream = model.stream(MSGS)
    next(stream)
    assert generating()  # 8,000 tokens to go, in its own thread
    stream.close()  # the consumer goes away
    assert not generating()  # and the generation stopped with it
    assert len(list(model.stream(MSGS, GenerationOptions(max_new_tokens=3)))) >= 1


def test_transformers_backend_applies_a_lora_adapter(tiny_lm_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    peft_model = get_peft_model(
        base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    config = AppConfig(
        model=ModelConfig(
            model=str(tiny_lm_dir), adapter=str(tmp_path / "adapter"), dtype="float32"
        )
    )
    adapted = load_chat_model(config)
    plain = load_chat_model(AppConfig(model=ModelConfig(model=str(tiny_lm_dir), dtype="float32")))
    ids = plain.encode(MSGS)
    with torch.no_grad():
        a = adapted.model(**ids).logits
        b = plain.model(**ids).logits
    assert not torch.allclose(a, b)


def test_the_adapter_shapes_policy_decisions_only_unless_its_scope_is_all(tiny_lm_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_lm_dir)
    lora = LoraConfig(
        r=4,
        lora_alpha=64,
        target_modules=["q_proj", "v_proj", "down_proj"],
        init_lora_weights=False,
    )
    peft_model = get_peft_model(base, lora)
    peft_model.save_pretrained(tmp_path / "adapter")

    def load(**changes: object):  # noqa: ANN202
        model = ModelConfig(model=str(tiny_lm_dir), dtype="float32", **changes)
        return load_chat_model(AppConfig(model=model))

    def say(model, policy: bool) -> str:  # noqa: ANN001
        return "".join(model.stream(MSGS, GenerationOptions(max_new_tokens=12, policy=policy)))

    scoped = load(adapter=str(tmp_path / "adapter"))
    everywhere = load(adapter=str(tmp_path / "adapter"), adapter_scope="all")
    bare = load(adapter="none")
    assert say(everywhere, False) != say(bare, False)  # the adapter does change the replies
    assert say(scoped, True) == say(everywhere, False)
    assert say(scoped, False) == say(bare, False)


def test_scoring_replies_in_a_batch_matches_scoring_each_alone(tiny_lm_dir):
    import torch

    model = load_chat_model(AppConfig(model=ModelConfig(model=str(tiny_lm_dir), dtype="float32")))
    replies = ["Do you have a fever?", "How long?", "Any pain when you breathe in deeply?"]
    batched = model.score(MSGS, replies)
    prompt = model.encode(MSGS)["input_ids"][0]
    for reply, got in zip(replies, batched, strict=True):
        r = model.tokenizer(reply + model.tokenizer.eos_token, add_special_tokens=False)
        r = torch.tensor(r["input_ids"])
        with torch.no_grad():
            logits = model.model(input_ids=torch.cat([prompt, r])[None]).logits[0]
        logp = torch.log_softmax(logits.float(), -1)[len(prompt) - 1 : -1]
        assert abs(got - float(logp[torch.arange(len(r)), r].mean())) < 1e-4
    assert len(set(batched)) == 3


def test_the_shipped_adapter_is_only_for_the_embedded_model(tmp_path):
    from agent.checkpoint import ModelNotAvailable, resolve_adapter

    assert resolve_adapter("shipped", str(tmp_path)) is None
    assert resolve_adapter("none", "embedded") is None and resolve_adapter(None, "x") is None
    with pytest.raises(ModelNotAvailable, match="adapter_config.json"):
        resolve_adapter(str(tmp_path), "embedded")


def test_unknown_model_is_a_clear_error(tmp_path):
    from agent.checkpoint import ModelNotAvailable

    config = AppConfig(model=ModelConfig(model=str(tmp_path / "no-such-model")))
    with pytest.raises(ModelNotAvailable, match="nothing is downloaded"):
        load_chat_model(config)


def test_embedded_model_must_be_prepared_first():
    from agent.checkpoint import ModelNotAvailable

    with pytest.raises(ModelNotAvailable, match="anamnesis model prepare"):
        load_chat_model(AppConfig())


def test_llamacpp_backend_without_the_extra_says_how_to_install():
    pytest.importorskip("llama_cpp", reason="llama-cpp-python installed") if False else None
    try:
        import llama_cpp  # noqa: F401

        pytest.skip("llama-cpp-python is installed here")
    except ImportError:
        pass
    from agent.checkpoint import ModelNotAvailable

    with pytest.raises(ModelNotAvailable, match=r"anamnesis-agent\[llamacpp\]"):
        load_chat_model(AppConfig(model=ModelConfig(backend="llamacpp")))
