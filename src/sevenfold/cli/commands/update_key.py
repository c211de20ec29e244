"""``sevenfold update-key list|rotate``: the TUF keys of the tenant's image repository
and director (docs/updates.md §4)."""

from typing import Any

import click

from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

REPOSITORIES = ("image", "director")
ROLES = ("root", "targets", "snapshot", "timestamp")
KEY_COLUMNS = (
    Column("REPOSITORY", "repository"),
    Column("ROLE", "role"),
    Column("KEY ID", "keyid"),
    Column("ROOT VERSION", "root_version"),
    Column("CREATED", "created_at"),
    Column("REVOKED", "revoked_at"),
)
ROTATION_FIELDS = (
    Column("Repository", "repository"),
    Column("Role", "role"),
    Column("Old key ID", "old_keyid"),
    Column("New key ID", "new_keyid"),
    Column("Root version", "root_version"),
)


@click.group("update-key")
def update_key_group() -> None:
    """The keys that sign the tenant's update metadata."""


@update_key_group.command("list")
@operator_command
def list_update_keys(run: Invocation) -> None:
    """Every key per repository and role (revoked ones too), with the root version."""
    answer = run.client.call("GET", "/update-keys")
    keys: list[dict[str, Any]] = [
        {**key, "root_version": repository["root_version"]}
        for repository in answer["repositories"]
        for key in repository["keys"]
    ]
    run.printer.listing(keys, KEY_COLUMNS)


@update_key_group.command("rotate")
@operator_command
@click.option("--repository", type=click.Choice(REPOSITORIES), required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
def rotate_update_key(run: Invocation, repository: str, role: str) -> None:
    """Replace a role's key (administrators): a new root lists the new key, the old
    one is revoked and the role is re-signed."""
    answer = run.client.call(
        "POST", "/update-keys/rotate", json={"repository": repository, "role": role}
    )
    run.printer.record(answer, ROTATION_FIELDS)
