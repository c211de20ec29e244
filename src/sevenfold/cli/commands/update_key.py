"""``sevenfold update-key list|rotate|take-offline|pending|sign``: the TUF keys of
the tenant's image repository and director (docs/updates.md §4).

``take-offline`` makes an ECDSA P-256 key here, writes it encrypted, and moves the
image repository's root or targets role to it; ``sign`` signs what the service
prepared as pending with such keys, after showing what it is. Passphrases come from
``--passphrase-file`` or a prompt, never from an option (it would show in ``ps``).
"""

from pathlib import Path
from typing import Any

import click
from securesystemslib.signer import CryptoSigner

from sevenfold.cli.errors import InvalidInputError, NotFoundError
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.offline_tuf_keys import (
    PendingItem,
    create_key_file,
    load_key_file,
    parse_pending,
    public_key_pem,
    read_passphrase,
    sign_item,
    summary_lines,
)
from sevenfold.cli.output import Column

REPOSITORIES = ("image", "director")
ROLES = ("root", "targets", "snapshot", "timestamp", "images")
OFFLINE_ROLES = ("root", "targets")
KEY_COLUMNS = (
    Column("REPOSITORY", "repository"),
    Column("ROLE", "role"),
    Column("KEY ID", "keyid"),
    Column("OFFLINE", "offline"),
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
    Column("Published", "published"),
)
PENDING_COLUMNS = (
    Column("REPOSITORY", "repository"),
    Column("ROLE", "role"),
    Column("VERSION", "version"),
    Column("EXPIRES", "expires"),
    Column("MISSING KEY IDS", "missing"),
)
SIGNED_FIELDS = (
    Column("Signed", "signed"),
    Column("Published", "published"),
    Column("Still pending", "still_pending"),
)

passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the keys' passphrase from this file (else asked for).",
)
signing_keys_option = click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An offline key to sign with (repeatable: old and new root keys).",
)


@click.group("update-key")
def update_key_group() -> None:
    """The keys that sign the tenant's update metadata."""


@update_key_group.command("list")
@operator_command
def list_update_keys(run: Invocation) -> None:
    """Every key per repository and role (revoked ones too), with the root version;
    warns when an offline role's metadata expires within 30 days."""
    answer = run.client.call("GET", "/update-keys")
    keys: list[dict[str, Any]] = [
        {**key, "root_version": repository["root_version"]}
        for repository in answer["repositories"]
        for key in repository["keys"]
    ]
    for repository in answer["repositories"]:
        for warning in repository.get("warnings", []):
            run.printer.note(f"Warning: {warning}")
    run.printer.listing(keys, KEY_COLUMNS)


@update_key_group.command("rotate")
@operator_command
@click.option("--repository", type=click.Choice(REPOSITORIES), required=True)
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option(
    "--key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="For an offline root or targets role: write the new offline key here.",
)
@signing_keys_option
@passphrase_option
def rotate_update_key(
    run: Invocation,
    repository: str,
    role: str,
    key_out: Path | None,
    key_files: tuple[Path, ...],
    passphrase_file: Path | None,
) -> None:
    """Replace a role's key (administrators): a new root (or, for images, a new
    delegation) lists the new key and the role is re-signed. If an offline key
    must sign, the change waits as pending (`update-key sign`)."""
    if key_out is not None:
        _move_offline(run, repository, role, key_out, key_files, passphrase_file)
        return
    answer = run.client.call(
        "POST", "/update-keys/rotate", json={"repository": repository, "role": role}
    )
    signers = _load_signers(key_files, passphrase_file)
    if signers and not answer["published"]:
        _sign_pending(run, signers, confirm=False)
        answer = {**answer, "published": _nothing_pending_for(run, repository)}
    run.printer.record(answer, ROTATION_FIELDS)
    _note_pending(run, answer)


@update_key_group.command("take-offline")
@operator_command
@click.option("--repository", type=click.Choice(("image",)), default="image")
@click.option("--role", type=click.Choice(OFFLINE_ROLES), required=True)
@click.option(
    "--key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the new offline key, encrypted (must not exist).",
)
@signing_keys_option
@passphrase_option
def take_offline(
    run: Invocation,
    repository: str,
    role: str,
    key_out: Path,
    key_files: tuple[Path, ...],
    passphrase_file: Path | None,
) -> None:
    """Move the image repository's root or targets role to a key made here and
    kept offline; the service then deletes its own copy of the role's key."""
    _move_offline(run, repository, role, key_out, key_files, passphrase_file)


@update_key_group.command("pending")
@operator_command
def list_pending(run: Invocation) -> None:
    """Metadata waiting for offline signatures, and the key IDs still needed."""
    answer = run.client.call("GET", "/update-keys/pending")
    rows = [
        {**item, "missing": " ".join(keyid[:16] for keyid in item["missing_keyids"])}
        for item in answer["pending"]
    ]
    run.printer.listing(rows, PENDING_COLUMNS)


@update_key_group.command("sign")
@operator_command
@click.option(
    "--key",
    "key_files",
    multiple=True,
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="An offline key to sign with (repeatable: old and new root keys).",
)
@passphrase_option
@click.option("--yes", is_flag=True, help="Sign without asking after the summary.")
def sign_pending(
    run: Invocation,
    key_files: tuple[Path, ...],
    passphrase_file: Path | None,
    yes: bool,
) -> None:
    """Sign the pending metadata these keys are needed for, after showing what it
    is (role, version, expiry, key and delegation changes)."""
    signers = _load_signers(key_files, passphrase_file)
    signed, published, still = _sign_pending(run, signers, confirm=not yes)
    if not signed:
        raise InvalidInputError(
            "none of the keys is one the pending metadata still needs"
        )
    run.printer.record(
        {"signed": signed, "published": published, "still_pending": still},
        SIGNED_FIELDS,
    )


def _move_offline(
    run: Invocation,
    repository: str,
    role: str,
    key_out: Path,
    key_files: tuple[Path, ...],
    passphrase_file: Path | None,
) -> None:
    if repository != "image" or role not in OFFLINE_ROLES:
        raise InvalidInputError(
            "only the image repository's root and targets keys can be offline"
        )
    signers = _load_signers(key_files, passphrase_file)
    passphrase = read_passphrase(passphrase_file, key_file=key_out, new=True)
    new_signer = create_key_file(key_out, passphrase)
    answer = run.client.call(
        "POST",
        "/update-keys/take-offline",
        json={
            "repository": repository,
            "role": role,
            "public_key_pem": public_key_pem(new_signer),
        },
    )
    _sign_pending(run, [new_signer, *signers], confirm=False)
    answer = {**answer, "published": _nothing_pending_for(run, repository)}
    run.printer.record(answer, ROTATION_FIELDS)
    _note_pending(run, answer)


def _load_signers(
    key_files: tuple[Path, ...], passphrase_file: Path | None
) -> list[CryptoSigner]:
    return [
        load_key_file(
            key_file, read_passphrase(passphrase_file, key_file=key_file, new=False)
        )
        for key_file in key_files
    ]


def _fetch_pending(run: Invocation) -> list[PendingItem]:
    answer = run.client.call("GET", "/update-keys/pending")
    return [parse_pending(item) for item in answer["pending"]]


def _nothing_pending_for(run: Invocation, repository: str) -> bool:
    return not any(item.repository == repository for item in _fetch_pending(run))


def _sign_pending(
    run: Invocation, signers: list[CryptoSigner], *, confirm: bool
) -> tuple[list[str], bool, list[str]]:
    """Sign every pending version one of ``signers`` is still needed for; return
    what was signed, whether anything published, and what still waits."""
    items = _fetch_pending(run)
    if not items:
        raise NotFoundError("no update metadata waits for a signature")
    signed: list[str] = []
    published = False
    for item in items:
        needed = [s for s in signers if s.public_key.keyid in item.missing_keyids]
        if not needed:
            continue
        for line in summary_lines(item):
            run.printer.note(line)
        if confirm and not click.confirm("Sign it?", err=True):
            continue
        for signer in needed:
            signature = sign_item(item, signer)
            result = run.client.call(
                "POST",
                "/update-keys/pending/signatures",
                json={
                    "repository": item.repository,
                    "role": item.role,
                    "version": item.version,
                    "keyid": signature.keyid,
                    "signature": signature.signature,
                },
            )
            published = published or bool(result["published"])
            signed.append(
                f"{item.repository} {item.role} v{item.version} "
                f"by {signature.keyid[:16]}"
            )
            missing = [
                keyid
                for pending in result["pending"]
                if (pending["repository"], pending["role"])
                == (item.repository, item.role)
                for keyid in pending["missing_keyids"]
            ]
            if not missing:
                break
    still = [
        f"{item.repository} {item.role} v{item.version} needs "
        + " ".join(keyid[:16] for keyid in item.missing_keyids)
        for item in _fetch_pending(run)
    ]
    return signed, published, still


def _note_pending(run: Invocation, answer: dict[str, Any]) -> None:
    if not answer.get("published"):
        run.printer.note(
            "Pending: offline keys must still sign it (`sevenfold update-key "
            "pending`, then `sevenfold update-key sign --key FILE`)."
        )
