"""The agent's install backend (docs/updates.md §6): A/B OS slots with an emulated
U-Boot trial boot and rollback, atomic app sets, anti-rollback floors, and recovery
from power loss at any step."""

from sevenfold.agent.install.backend import BootOutcome, DirInstallBackend
from sevenfold.agent.install.checkpoints import CHECKPOINTS, Checkpoint, no_checkpoint

__all__ = [
    "CHECKPOINTS",
    "BootOutcome",
    "Checkpoint",
    "DirInstallBackend",
    "no_checkpoint",
]
