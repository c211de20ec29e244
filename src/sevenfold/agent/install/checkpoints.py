"""The named steps between the install backend's side effects.

The backend calls ``checkpoint(step)`` after every side effect it makes on disk. In
production the hook does nothing; the power-loss tests kill the process at each
name to prove that ``boot()`` recovers from an interruption at any step
(docs/updates.md §6).
"""

from collections.abc import Callable

Checkpoint = Callable[[str], None]

STAGE_OS_STEPS = (
    "os.begin",  # update.json records the stage transaction
    "os.bootloader-disarmed",  # any earlier armed trial is disarmed
    "os.slot-cleared",  # the inactive slot's slot.json and package are removed
    "os.copying",  # part of the package is written to the slot's temporary file
    "os.copied",  # the package is complete in the slot
    "os.slot-recorded",  # slot.json describes the package
    "os.bootloader-armed",  # upgrade_available=1, boot_slot=the new slot
    "os.done",  # update.json removed
)
BOOT_STEPS = (
    "boot.repaired",  # a corrupt bootloader.json was rewritten from committed.json
    "boot.count-incremented",  # bootcount+1 persisted before booting a trial
    "boot.rejected-recorded",  # the failed trial image is in rejected.json
    "boot.rollback",  # bootcount passed bootlimit: back to the committed slot
    "boot.fallback",  # the slot to boot did not verify: back to the committed slot
)
RECOVERY_STEPS = (
    "recover.commit-completed",  # an interrupted commit is recorded
    "recover.os-discarded",  # a half-staged slot is removed
    "recover.apps-completed",  # a switched app set's floors are recorded
    "recover.apps-reverted",  # an unswitched app set is removed
    "recover.cleared",  # update.json removed
)
COMMIT_OS_STEPS = (
    "commit.begin",
    "commit.bootloader-cleared",  # upgrade_available=0, bootcount=0
    "commit.recorded",  # committed.json names the new slot, target and floor
    "commit.done",
)
INSTALL_APPS_STEPS = (
    "apps.begin",
    "apps.copying",  # part of the first package is in the staging directory
    "apps.copied",  # the new set is complete under apps/sets/<digest>/
    "apps.switched",  # apps/current points at it
    "apps.recorded",  # committed.json holds the raised per-component floors
    "apps.done",  # update.json and the old sets removed
)

CHECKPOINTS: tuple[str, ...] = (
    STAGE_OS_STEPS + BOOT_STEPS + RECOVERY_STEPS + COMMIT_OS_STEPS + INSTALL_APPS_STEPS
)
"""Every step name the backend reports, in no particular order of execution."""


def no_checkpoint(step: str) -> None:
    """The production hook: nothing happens between steps."""
