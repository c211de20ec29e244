"""The typed runtime state the app factory builds and the dependencies read."""

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sevenfold.protocol.clock import Clock
from sevenfold.service.ca.key_encryption_key import KeyEncryptionKey
from sevenfold.service.ca.listeners import CaListeners
from sevenfold.service.images.artifact_store import ArtifactStore
from sevenfold.service.rollouts.evaluator import RolloutEvaluator
from sevenfold.service.settings import ServiceSettings


@dataclass(frozen=True, slots=True, kw_only=True)
class AppState:
    """Everything a request handler may need, built once per app."""

    settings: ServiceSettings
    clock: Clock
    engine: Engine
    session_factory: sessionmaker[Session]
    key_encryption_key: KeyEncryptionKey | None
    ca_listeners: CaListeners
    artifact_store: ArtifactStore
    rollout_evaluator: RolloutEvaluator
