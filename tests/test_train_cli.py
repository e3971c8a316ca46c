"""``anamnesis train``: help, and the shipped adapter's recipe run as one command."""

import pytest

from ui.cli import train


@pytest.mark.parametrize("action", ["selfplay", "sft", "dpo", "adapter"])
def test_each_action_has_help(action, capsys):
    with pytest.raises(SystemExit) as exit_:
        train.main([action, "--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out


def test_the_adapter_command_runs_the_recipe_and_goes_on_after_a_stop(tmp_path, monkeypatch):
    calls = []

    def fake_run(argv, parent=None):
        assert parent == "anamnesis train adapter"
        calls.append(argv)
        if argv[0] == "sft":  # the SFT step fails the first time
            return 0 if len(calls) > 2 else 1
        if argv[0] == "selfplay":  # a finished step leaves its card
            (tmp_path / "work" / "selfplay").mkdir(parents=True)
            (tmp_path / "work" / "selfplay" / "card.json").write_text("{}")
        return 0

    monkeypatch.setattr(train, "run", fake_run)
    args = ["adapter", "--out", str(tmp_path / "final"), "--work", str(tmp_path / "work")]
    args += ["--cases", "5", "--set", "model.device=cpu"]

    def make():
        parsed = train.parser().parse_args(args)
        return train.make_adapter(parsed, "anamnesis train adapter", tmp_path)

    assert make() == 1
    assert [c[0] for c in calls] == ["selfplay", "sft"]
    assert calls[0][:3] == ["selfplay", "--cases", "5"]
    assert all(c[-2:] == ["--set", "model.device=cpu"] for c in calls[:2])  # config flags
    (tmp_path / "work" / "sft" / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    assert make() == 0
    assert "--resume" in calls[2] and "--resume" not in calls[3]
    assert [c[0] for c in calls] == ["selfplay", "sft", "sft", "dpo"]  # selfplay was reused
    dpo = calls[-1]
    assert dpo[dpo.index("--sft-adapter") + 1] == str(tmp_path / "work" / "sft")
    assert dpo[dpo.index("--out") + 1] == str(tmp_path / "final")
