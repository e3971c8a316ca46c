"""The command line: help, clear errors, and a small end-to-end kb build and search."""

import json

import pytest

from ui.cli.main import SUBCOMMANDS, main


def test_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_unknown_subcommand_is_refused(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown subcommand" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert "usage" in capsys.readouterr().out


def test_search_without_index_says_how_to_build(capsys):
    assert main(["kb", "search", "fever"]) == 2
    assert "anamnesis kb build" in capsys.readouterr().err


def test_bench_naming_without_index_says_how_to_build(capsys):
    assert main(["bench", "naming"]) == 2
    assert "anamnesis kb build" in capsys.readouterr().err


def test_bad_config_value_is_one_clear_line(capsys):
    assert main(["kb", "stats", "--set", "index.chunk_words=-5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("anamnesis:") and "Traceback" not in err


def test_build_search_and_stats_on_your_own_documents(tmp_path, capsys, data_home):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "chest_pain.md").write_text(
        "# Chest pain pathway\n\nAdults with chest pain and sweating go to the emergency "
        "department by ambulance. An ECG is recorded within ten minutes of arrival."
    )
    (docs / "sore_throat.txt").write_text(
        "Sore throat in adults usually settles within a week. Use the FeverPAIN score to "
        "decide about antibiotics."
    )
    args = ["--no-pack", "--no-hpo", "--no-orphanet", "--no-icd10", "--docs", str(docs), "--quiet"]
    assert main(["kb", "build", *args]) == 0
    assert "Indexed 2 passages" in capsys.readouterr().out
    assert (
        main(["kb", "search", "which score for antibiotics in sore throat", "-k", "1", "--json"])
        == 0
    )
    hit = json.loads(capsys.readouterr().out.strip())
    assert hit["title"] == "sore throat" and hit["source"] == "Your documents"
    assert {"score", "url", "text"} <= hit.keys()
    assert main(["kb", "stats"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["passages"] == 2 and stats["faiss"] == "IndexFlatIP"
    assert (data_home / "index" / "default" / "config.json").exists()


def test_corrupt_index_is_reported_not_crashed(capsys, data_home):
    folder = data_home / "index" / "default"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{broken")
    assert main(["kb", "search", "fever"]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_ask_plays_a_script_and_prints_steps_as_json(tmp_path, capsys):
    script = tmp_path / "patient.txt"
    script.write_text("I have had a cough and a runny nose\n\nabout three days\nno\n")
    args = ["--json", "--no-model", "--no-index", "--no-emergency-classifier"]
    assert main(["ask", "--script", str(script), *args]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["turn"] for s in steps][:2] == [1, 2]
    assert all(s["type"] in ("question", "assessment", "escalation", "notice") for s in steps)
    assert steps[0]["type"] == "question" and steps[0]["reason"]


def test_ask_escalates_an_emergency_from_a_script(tmp_path, capsys):
    script = tmp_path / "patient.txt"
    script.write_text("my face has dropped on one side and my speech is slurred\nSENTINEL-LINE\n")
    args = ["--no-model", "--no-index", "--no-emergency-classifier"]  # the rules alone
    assert main(["ask", "--script", str(script), *args]) == 0
    out = capsys.readouterr().out
    assert "[escalation]" in out and "SENTINEL-LINE" not in out


def test_bench_extraction_and_triage_print_figures(capsys):
    assert main(["bench", "extraction", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert 0 <= scores["all"]["recall"] <= 1 and scores["utterances"] >= 200
    assert main(["bench", "triage", "--json", "--rules-only"]) == 0
    rules = json.loads(capsys.readouterr().out)["rules"]
    assert {"look-alikes", "fresh", "everyday"} <= set(rules)
    assert rules["fresh"]["emergencies"] >= 60 and rules["everyday"]["non_urgent"] >= 100
    assert all(0 <= got["false_escalation_rate"] <= 1 for got in rules.values())


def test_bench_turn_reports_planner_and_extraction_latency(capsys):
    assert main(["bench", "turn", "--no-model", "--json", "--repeats", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["planner"]["decisions"] > 5 and out["planner"]["p50_ms"] > 0
    assert {"extraction_lexical", "extraction_with_embeddings", "peak_memory_mb"} <= out.keys()
