"""``sevenfold update-key take-offline|pending|sign`` over real HTTP: the offline
key ceremony for the image repository (docs/updates.md §4)."""

import stat
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from sevenfold.protocol.clock import ManualClock
from tests.api.device_auth_support import certified
from tests.api.update_support import DeviceUpdaters, add_release, settings, versions
from tests.cli.conftest import Cli, first_line_error
from tests.conftest import TenantAccess

__all__ = ["settings"]

PASSPHRASE = "correct horse battery staple\n"


def test_take_offline_then_sign_a_pending_root_with_the_offline_key(
    cli: Cli,
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device = certified(client, admin, clock)
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp_path / "device")
    assert versions(updaters.refresh("image"))["root"] == 1
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE)
    root_key = tmp_path / "root.key"

    moved = cli.json(
        "update-key", "take-offline", "--role", "root",
        "--key-out", str(root_key), "--passphrase-file", str(passphrase),
    )  # fmt: skip

    assert moved["published"] is True  # the CLI signed with the new key at once
    assert stat.S_IMODE(root_key.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in root_key.read_bytes()
    assert versions(updaters.refresh("image"))["root"] == 2
    keys = cli.json("update-key", "list")
    offline = [key for key in keys if key["offline"] and not key["revoked_at"]]
    assert [(key["role"], key["keyid"]) for key in offline] == [
        ("root", moved["new_keyid"])
    ]

    # With the root offline, a rotation waits; `sign` shows it and signs it.
    rotated = cli.json(
        "update-key", "rotate", "--repository", "image", "--role", "snapshot"
    )
    assert rotated["published"] is False
    pending = cli.json("update-key", "pending")
    assert [(item["role"], item["missing_keyids"]) for item in pending] == [
        ("root", [moved["new_keyid"]])
    ]
    result = cli.ok(
        "update-key", "sign", "--key", str(root_key),
        "--passphrase-file", str(passphrase), "--yes",
    )  # fmt: skip
    assert "image root version 3" in result.stderr
    assert f"snapshot: key {rotated['new_keyid'][:16]} added" in result.stderr
    assert f"snapshot: key {rotated['old_keyid'][:16]} removed" in result.stderr
    assert cli.json("update-key", "pending") == []
    assert versions(updaters.refresh("image"))["root"] == 3

    nothing = cli(
        "update-key", "sign", "--key", str(root_key),
        "--passphrase-file", str(passphrase), "--yes",
    )  # fmt: skip
    assert nothing.exit_code == 4, nothing.output
    assert "no update metadata waits" in first_line_error(nothing)


def test_sign_refuses_a_key_the_pending_metadata_does_not_need(
    cli: Cli, tmp_path: Path
) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE)
    root_key = tmp_path / "root.key"
    cli.ok(
        "update-key", "take-offline", "--role", "root",
        "--key-out", str(root_key), "--passphrase-file", str(passphrase),
    )  # fmt: skip
    targets_key = tmp_path / "targets.key"
    moved = cli.json(
        "update-key", "take-offline", "--role", "targets",
        "--key-out", str(targets_key), "--passphrase-file", str(passphrase),
    )  # fmt: skip
    assert moved["published"] is False  # the offline root must sign the new root
    stranger = tmp_path / "stranger.key"
    cli.ok(
        "update-key",
        "take-offline",
        "--role",
        "targets",
        "--key-out",
        str(stranger),
        "--passphrase-file",
        str(passphrase),
    )  # replaces the pending targets change: the first targets key is not needed
    refused = cli(
        "update-key", "sign", "--key", str(targets_key),
        "--passphrase-file", str(passphrase), "--yes",
    )  # fmt: skip
    assert refused.exit_code == 2, refused.output
    assert "none of the keys" in first_line_error(refused)
    wrong_passphrase = tmp_path / "wrong"
    wrong_passphrase.write_text("not the passphrase\n")
    refused = cli(
        "update-key", "sign", "--key", str(root_key),
        "--passphrase-file", str(wrong_passphrase), "--yes",
    )  # fmt: skip
    assert refused.exit_code == 2, refused.output
    assert "passphrase is wrong" in first_line_error(refused)
    signed = cli.json(
        "update-key", "sign", "--key", str(root_key), "--key", str(stranger),
        "--passphrase-file", str(passphrase), "--yes",
    )  # fmt: skip
    assert signed["published"] is True
    assert signed["still_pending"] == []
    exists = cli(
        "update-key", "take-offline", "--role", "root",
        "--key-out", str(root_key), "--passphrase-file", str(passphrase),
    )  # fmt: skip
    assert exists.exit_code == 5, exists.output
    director = cli(
        "update-key", "take-offline", "--repository", "director", "--role", "root",
        "--key-out", str(tmp_path / "d.key"), "--passphrase-file", str(passphrase),
    )  # fmt: skip
    assert director.exit_code == 2, director.output


def test_rotating_an_offline_root_signs_with_the_old_and_the_new_key(
    cli: Cli, tmp_path: Path
) -> None:
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE)
    old_key, new_key = tmp_path / "root-1.key", tmp_path / "root-2.key"
    first = cli.json(
        "update-key", "take-offline", "--role", "root",
        "--key-out", str(old_key), "--passphrase-file", str(passphrase),
    )  # fmt: skip
    refused = cli("update-key", "rotate", "--repository", "image", "--role", "root")
    assert refused.exit_code == 5, refused.output
    assert "update-role-offline" in first_line_error(refused)

    rotated = cli.json(
        "update-key", "rotate", "--repository", "image", "--role", "root",
        "--key-out", str(new_key), "--key", str(old_key),
        "--passphrase-file", str(passphrase),
    )  # fmt: skip

    assert rotated["published"] is True
    assert rotated["old_keyid"] == first["new_keyid"]
    assert rotated["root_version"] == first["root_version"] + 1
    assert cli.json("update-key", "pending") == []
    root_keys = [
        key
        for key in cli.json("update-key", "list")
        if (key["repository"], key["role"]) == ("image", "root")
        and not key["revoked_at"]
    ]
    assert [key["keyid"] for key in root_keys] == [rotated["new_keyid"]]
