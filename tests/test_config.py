import pytest

from agent.config import AppConfig, load_config


def test_defaults_live_in_the_data_folder(data_home):
    config = load_config()
    assert config.home == data_home
    assert config.index_dir.is_relative_to(data_home)
    assert config.model.backend == "transformers" and config.model.model == "embedded"


def test_toml_then_flags(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text('[model]\nbackend = "openai"\nmax_new_tokens = 64\n[index]\nchunk_words = 90\n')
    config = load_config(file, ["model.max_new_tokens=32", "sources.hpo=false"])
    assert config.model.backend == "openai"
    assert config.model.max_new_tokens == 32
    assert config.index.chunk_words == 90
    assert config.sources.hpo is False


def test_home_config_toml_is_read(data_home):
    data_home.mkdir(parents=True)
    (data_home / "config.toml").write_text("[model]\ntemperature = 0.5\n")
    assert load_config().model.temperature == 0.5


@pytest.mark.parametrize(
    "override", ["model.max_new_tokens=-1", "model.nonsense=1", "model.backend=gpt", "oops"]
)
def test_bad_values_are_refused(override):
    with pytest.raises(ValueError):
        load_config(None, [override])


def test_bad_toml_is_named(tmp_path):
    file = tmp_path / "c.toml"
    file.write_text("[model\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(file)


def test_config_saves_beside_artifacts(tmp_path):
    path = AppConfig().save(tmp_path / "artifact")
    assert AppConfig.model_validate_json(path.read_text()).model.model == "embedded"


def test_medquad_from_environment(monkeypatch):
    monkeypatch.setenv("ANAMNESIS_MEDQUAD", "/data/medquad.jsonl")
    assert str(load_config().sources.medquad) == "/data/medquad.jsonl"
