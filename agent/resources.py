"""What a consultation needs, loaded once and shared: the pack, the phrase table, the chat
model, the knowledge index, the embedding matcher and the emergency classifier.

``Resources.load(config, model=..., index=..., embeddings=..., emergency=...)`` loads them
(slow: seconds); ``resources.consultation(agent_config)`` then makes a fresh, independent
Consultation cheaply, so a web server or an evaluation run holds one ``Resources`` and many
consultations.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from agent.config import AppConfig
from agent.consultation import AgentConfig, Consultation
from agent.emergency import EmergencyClassifier
from agent.extract import EmbeddingMatcher, PhraseTable
from agent.knowledge import Pack, default_pack
from agent.lm import ChatModel
from retrieval.index import KnowledgeIndex

log = logging.getLogger(__name__)


@dataclass
class Resources:
    pack: Pack
    table: PhraseTable
    model: ChatModel | None = None
    index: KnowledgeIndex | None = None
    matcher: EmbeddingMatcher | None = None
    emergency: EmergencyClassifier | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls,
        config: AppConfig,
        *,
        model: bool = True,
        index: bool = True,
        embeddings: bool = True,
        emergency: bool | None = None,
    ) -> Resources:
        """Load what is asked for. Missing model or index raise their clear errors. The learned
        emergency classifier follows ``config.triage.classifier`` (on by default) unless
        ``emergency`` says."""
        pack = default_pack()
        chat_model = knowledge_index = matcher = None
        if model:
            from agent.lm import load_chat_model

            chat_model = load_chat_model(config)
        if index:
            from agent.kb import open_library

            knowledge_index = open_library(config)
        if embeddings:
            if knowledge_index is not None:
                embedder = knowledge_index.embedder
            else:
                from retrieval.embedding import Embedder

                embedder = Embedder(config.index)
            matcher = EmbeddingMatcher(pack, embedder, cache_dir=config.home / "cache")
        classifier = None
        if config.triage.classifier if emergency is None else emergency:
            from agent.emergency import SHIPPED

            if (SHIPPED / "emergency.json").exists():
                classifier = EmergencyClassifier.load(SHIPPED, config.models_dir)
            else:
                log.warning("no emergency classifier at %s: red-flag rules only", SHIPPED)
        return cls(
            pack, PhraseTable.from_pack(pack), chat_model, knowledge_index, matcher, classifier
        )

    def consultation(self, config: AgentConfig | None = None) -> Consultation:
        """A new consultation sharing these resources; its state is its own."""
        return Consultation(
            self.pack,
            self.table,
            config or AgentConfig(),
            model=self.model,
            index=self.index,
            matcher=self.matcher,
            emergency=self.emergency,
        )
