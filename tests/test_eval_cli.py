"""``anamnesis eval`` end to end on three synthetic cases, with no language model."""

import json
import zlib

import numpy as np
import pytest

from ui.cli import eval as eval_cli


class WordHashEmbedder:
    """A stand-in for MiniLM: normalised bags of hashed words. The run's plumbing is under
    test here, not the quality of its matches."""

    dim = 64

    def __init__(self, config=None):
        pass

    def encode(self, texts, batch_size=None):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


@pytest.fixture
def shared_embedder(monkeypatch):
    import retrieval.embedding

    monkeypatch.setattr(retrieval.embedding, "Embedder", WordHashEmbedder)


def test_eval_writes_a_run_folder(tmp_path, capsys, shared_embedder):
    out = tmp_path / "run"
    argv = [
        "--cases", "synthetic:3",
        "--solver", "planner,upper,lower",
        "--budgets", "0,2",
        "--max-questions", "4",
        "--no-model", "--no-icd10", "--medquad", "none", "--no-progress",
        "--out", str(out), "--json",
    ]  # fmt: skip
    assert eval_cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    summaries = printed["summaries"]
    assert [(s["solver"], s["budget"]) for s in summaries] == [
        ("planner", 0),
        ("planner", 2),
        ("planner", 4),
        ("upper", None),
        ("lower", None),
    ]
    assert all(s["cases"] == 3 and "top1_strict" in s for s in summaries)
    by_budget = {s["budget"]: s for s in summaries if s["solver"] == "planner"}
    assert by_budget[0]["questions"] == 0 and by_budget[4]["questions"] <= 4
    assert next(s for s in summaries if s["solver"] == "upper")["coverage"] == 1.0
    rows = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]
    assert len(rows) == 15
    first = rows[0]
    assert first["transcript"][0]["role"] == "patient" and first["predicted"]
    assert {"strict", "lenient", "coverage", "seconds", "turns_to_diagnosis"} <= set(first)
    config = json.loads((out / "eval_config.json").read_text())
    assert config["solvers"] == ["planner", "upper", "lower"] and config["model"] is None
    assert (out / "anamnesis_config.json").exists()
    assert (out / "accuracy_vs_budget.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "summary.json").read_text())["summaries"] == summaries


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cases", "nonsense"], "unknown cases"),
        (["--cases", "synthetic:3", "--solver", "oracle"], "unknown solver"),
        (["--cases", "synthetic:3", "--solver", "llm", "--no-model"], "need a model"),
    ],
)
def test_bad_requests_are_one_clear_line(argv, message, capsys, shared_embedder):
    quick = ["--no-icd10", "--medquad", "none", "--lexical"]
    assert eval_cli.main([*argv, *quick]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
