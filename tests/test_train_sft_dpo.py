"""SFT then DPO on a tiny random llama: the adapter changes, loads back, and its run is recorded."""

import json

import pytest
import torch
from safetensors.torch import load_file

from agent.config import AppConfig
from training.datasets import RowError, preference_row, sft_row, write_jsonl
from training.dpo import run_dpo
from training.sft import run_sft
from training.trainconfig import DPORunConfig, SFTRunConfig
from ui.cli.train import main

SYSTEM = {"role": "system", "content": "You are a careful clinician. Ask one question."}
COMPLAINTS = ["I have a cough", "My head hurts", "I feel dizzy", "My knee is swollen"]


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    prompts = [[SYSTEM, {"role": "user", "content": c}] for c in COMPLAINTS]
    sft = [sft_row(p, "How long has it been going on?") for p in prompts]
    pairs = [preference_row(p, "Any fever?", "CONCLUDE", kind="premature") for p in prompts]
    write_jsonl(folder / "sft.jsonl", sft, "sft")
    write_jsonl(folder / "preferences.jsonl", pairs, "preference")
    (folder / "card.md").write_text("# How these rows were made\n")
    return folder


def _weights(folder):
    return load_file(str(folder / "adapter_model.safetensors"))


def _logits(model_dir, adapter=None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    with torch.no_grad():
        return model(torch.tensor([[1, 2, 3, 4]])).logits


def test_sft_then_dpo_train_the_adapter_and_it_loads_back(tiny_lm_dir, data, tmp_path):
    app = AppConfig()
    common = dict(data=(data,), model=str(tiny_lm_dir), max_steps=3, batch_size=2, lr=5e-2)
    sft_dir = run_sft(SFTRunConfig(out=tmp_path / "sft", **common), app, command="test sft")
    sft = _weights(sft_dir)
    lora_b = [v for k, v in sft.items() if "lora_B" in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # B starts at zero
    assert not torch.allclose(_logits(tiny_lm_dir), _logits(tiny_lm_dir, sft_dir))
    lines = [json.loads(ln) for ln in (sft_dir / "loss.jsonl").read_text().splitlines()]
    assert [ln["step"] for ln in lines] == [1, 2, 3] and all("loss" in ln for ln in lines)
    recorded = json.loads((sft_dir / "train_config.json").read_text())
    assert recorded["kind"] == "sft" and recorded["config"]["max_steps"] == 3
    assert recorded["dtype"] in ("bfloat16", "float32")  # 'auto' resolved, as inference does
    assert (sft_dir / "card.md").exists() and not (sft_dir / "checkpoints").exists()
    assert (sft_dir / "data_card.md").read_text() == "# How these rows were made\n"

    dpo_dir = run_dpo(
        DPORunConfig(out=tmp_path / "dpo", sft_adapter=sft_dir, **common), app, command="test dpo"
    )
    dpo = _weights(dpo_dir)
    assert dpo.keys() == sft.keys()
    assert any(not torch.equal(dpo[k], sft[k]) for k in sft)
    assert not (dpo_dir / "ref").exists()  # the frozen reference copy is not shipped
    assert json.loads((dpo_dir / "train_config.json").read_text())["model"] == str(tiny_lm_dir)
    summary = json.loads((dpo_dir / "train_summary.json").read_text())
    assert summary["examples"] == 4 and summary["steps"] == 3 and summary["adapter_bytes"] > 0
    assert not torch.allclose(_logits(tiny_lm_dir, sft_dir), _logits(tiny_lm_dir, dpo_dir))


def test_the_cli_resumes_a_run_and_refuses_to_mix_two(tiny_lm_dir, data, tmp_path, capsys):
    out = tmp_path / "sft"
    args = ["sft", "--data", str(data), "--out", str(out), "--model", str(tiny_lm_dir)]
    args += ["--batch-size", "2", "--save-steps", "1", "--keep-checkpoints", "--lora-layers", "1"]
    assert main([*args, "--max-steps", "2"]) == 0
    assert "Adapter in" in capsys.readouterr().out
    assert main([*args, "--max-steps", "3"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main([*args, "--max-steps", "3", "--resume"]) == 0
    steps = [json.loads(ln)["step"] for ln in (out / "loss.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert {k.split(".layers.")[1].split(".")[0] for k in _weights(out)} == {"1"}  # the last
    assert json.loads((out / "card.json").read_text())["command"].startswith("anamnesis train sft")


def test_bad_data_is_one_clear_line(tiny_lm_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    args = ["sft", "--data", str(bad), "--out", str(tmp_path / "o"), "--model", str(tiny_lm_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err and "assistant" in err and "Traceback" not in err
    assert issubclass(RowError, ValueError)
