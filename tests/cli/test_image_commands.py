"""``sevenfold image-signing-key``, ``image-package`` and ``image`` end to end."""

import hashlib
import tarfile
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from tests.cli.conftest import Cli, first_line_error

PASSPHRASE = "correct horse battery staple\n"
COMPONENT_ID = str(uuid.UUID(int=7))


def _make_key(cli: Cli, tmp_path: Path, name: str = "signer") -> tuple[Path, Path]:
    """Create a key with the CLI; return (key file, public key file)."""
    passphrase = tmp_path / f"{name}.passphrase"
    passphrase.write_text(PASSPHRASE)
    key_file = tmp_path / f"{name}.key"
    created = cli.json(
        "image-signing-key",
        "create",
        "--key-file",
        str(key_file),
        "--passphrase-file",
        str(passphrase),
    )
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    assert key_file.stat().st_mode & 0o077 == 0
    public = tmp_path / f"{name}.pub"
    public.write_text(created["public_key_pem"])
    return key_file, public


def _pack(
    cli: Cli, tmp_path: Path, key_file: Path, payload: Path, out: Path, version: str
) -> dict[str, Any]:
    manifest: dict[str, Any] = cli.json(
        "image-package",
        "pack",
        "--type",
        "app",
        "--name",
        "Thermostat",
        "--version",
        version,
        "--security-version",
        "1",
        "--component-id",
        COMPONENT_ID,
        "--payload",
        str(payload),
        "--entry-point",
        "bin/thermostat",
        "--capability",
        "net",
        "--capability",
        "gpio",
        "--key-file",
        str(key_file),
        "--passphrase-file",
        str(tmp_path / "signer.passphrase"),
        "--out",
        str(out),
    )
    return manifest


def test_create_add_pack_upload_list_show_download(cli: Cli, tmp_path: Path) -> None:
    key_file, public = _make_key(cli, tmp_path)
    added = cli.json(
        "image-signing-key", "add", "--name", "CI", "--public-key", str(public)
    )
    listed = cli.json("image-signing-key", "list")
    assert [key["id"] for key in listed] == [added["id"]]

    payload_file = tmp_path / "app.bin"
    payload_file.write_bytes(b"\x7fELF" + bytes(range(256)) * 5000)
    package_file = tmp_path / "app-1.0.sfpkg"
    manifest = _pack(cli, tmp_path, key_file, payload_file, package_file, "1.0")
    assert manifest["signing_key_id"] == added["id"]
    assert manifest["capabilities"] == ["gpio", "net"]
    assert (
        manifest["payload_sha256"]
        == hashlib.sha256(payload_file.read_bytes()).hexdigest()
    )
    shown_local = cli.json(
        "image-package", "show", str(package_file), "--public-key", str(public)
    )
    assert shown_local["signature"] == "verified"

    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "thermostat").write_bytes(b"#!/bin/sh\necho hi\n")
    (tree / "bin" / "thermostat").chmod(0o755)
    (tree / "etc.conf").write_text("x=1\n")
    tree_package = tmp_path / "app-1.1.sfpkg"
    tree_manifest = _pack(cli, tmp_path, key_file, tree, tree_package, "1.1")

    uploaded = cli.json("image", "add", str(package_file))
    assert uploaded["id"] == manifest["image_id"]
    uploaded_tree = cli.json("image", "add", str(tree_package))
    assert uploaded_tree["id"] == tree_manifest["image_id"]
    images = cli.json("image", "list", "--kind", "app")
    assert {image["id"] for image in images} == {uploaded["id"], uploaded_tree["id"]}
    shown = cli.json("image", "show", uploaded["id"])
    assert shown["sha256"] == hashlib.sha256(package_file.read_bytes()).hexdigest()

    out = tmp_path / "downloaded.sfpkg"
    cli.json("image", "download", uploaded["id"], "--out", str(out))
    assert out.read_bytes() == package_file.read_bytes()
    assert not (tmp_path / "downloaded.sfpkg.part").exists()


def test_directory_payload_is_a_deterministic_tar(cli: Cli, tmp_path: Path) -> None:
    key_file, _public = _make_key(cli, tmp_path)
    tree = tmp_path / "tree"
    (tree / "b").mkdir(parents=True)
    (tree / "b" / "z.txt").write_text("z")
    (tree / "a.txt").write_text("a")
    first = _pack(cli, tmp_path, key_file, tree, tmp_path / "one.sfpkg", "1.0")
    (tree / "a.txt").touch()  # a new mtime must not change the payload
    second = _pack(cli, tmp_path, key_file, tree, tmp_path / "two.sfpkg", "1.0")
    assert first["payload_sha256"] == second["payload_sha256"]
    package = (tmp_path / "one.sfpkg").read_bytes()
    payload_file = tmp_path / "payload.tar"
    payload_file.write_bytes(package[-int(first["payload_bytes"]) :])
    with tarfile.open(payload_file) as archive:
        members = archive.getmembers()
    assert [member.name for member in members] == ["a.txt", "b", "b/z.txt"]
    assert {(m.mtime, m.uid, m.gid) for m in members} == {(0, 0, 0)}


def test_download_resumes_from_a_partial_file(
    cli: Cli, app: FastAPI, tmp_path: Path
) -> None:
    """Only the missing tail is fetched (Range): the stored prefix is never re-read."""
    key_file, public = _make_key(cli, tmp_path)
    cli.ok("image-signing-key", "add", "--name", "CI", "--public-key", str(public))
    payload_file = tmp_path / "app.bin"
    payload_file.write_bytes(bytes(range(256)) * 9000)
    package_file = tmp_path / "app.sfpkg"
    _pack(cli, tmp_path, key_file, payload_file, package_file, "2.0")
    image = cli.json("image", "add", str(package_file))
    package = package_file.read_bytes()
    have = len(package) // 3
    out = tmp_path / "resumed.sfpkg"
    part = tmp_path / "resumed.sfpkg.part"
    part.write_bytes(package[:have])
    # Spoil the stored copy's prefix: a download that started over would get these
    # bytes and fail the SHA-256 check; a resumed one never asks for them.
    blob: Path = app.state.sevenfold.artifact_store.blobs / image["sha256"]
    blob.write_bytes(b"\x00" * have + package[have:])
    cli.json("image", "download", image["id"], "--out", str(out))
    assert out.read_bytes() == package
    assert not part.exists()


def test_corrupt_partial_download_is_detected_and_removed(
    cli: Cli, tmp_path: Path
) -> None:
    key_file, public = _make_key(cli, tmp_path)
    cli.ok("image-signing-key", "add", "--name", "CI", "--public-key", str(public))
    payload_file = tmp_path / "app.bin"
    payload_file.write_bytes(b"p" * 10_000)
    package_file = tmp_path / "app.sfpkg"
    _pack(cli, tmp_path, key_file, payload_file, package_file, "2.0")
    image = cli.json("image", "add", str(package_file))
    out = tmp_path / "bad.sfpkg"
    part = tmp_path / "bad.sfpkg.part"
    part.write_bytes(b"\x00" * 100)  # not the package's first bytes
    result = cli("image", "download", image["id"], "--out", str(out))
    assert result.exit_code == 6
    assert "SHA-256" in first_line_error(result)
    assert not out.exists()
    assert not part.exists()


def test_tampered_package_is_refused_locally_and_by_the_service(
    cli: Cli, tmp_path: Path
) -> None:
    key_file, public = _make_key(cli, tmp_path)
    cli.ok("image-signing-key", "add", "--name", "CI", "--public-key", str(public))
    payload_file = tmp_path / "app.bin"
    payload_file.write_bytes(b"q" * 5000)
    package_file = tmp_path / "app.sfpkg"
    _pack(cli, tmp_path, key_file, payload_file, package_file, "3.0")
    data = bytearray(package_file.read_bytes())
    data[-10] ^= 0xFF
    package_file.write_bytes(bytes(data))
    local = cli("image-package", "show", str(package_file))
    assert local.exit_code == 2
    assert "payload differs" in first_line_error(local)
    remote = cli("image", "add", str(package_file))
    assert remote.exit_code == 2
    assert "[invalid-image-package]" in first_line_error(remote)


def test_unregistered_key_and_platform_keys(cli: Cli, tmp_path: Path) -> None:
    key_file, public = _make_key(cli, tmp_path)
    payload_file = tmp_path / "os.img"
    payload_file.write_bytes(b"o" * 4000)
    package_file = tmp_path / "os.sfpkg"
    cli.json(
        "image-package",
        "pack",
        "--type",
        "os",
        "--name",
        "Sevenfold OS",
        "--version",
        "26.11",
        "--security-version",
        "3",
        "--payload",
        str(payload_file),
        "--key-file",
        str(key_file),
        "--passphrase-file",
        str(tmp_path / "signer.passphrase"),
        "--out",
        str(package_file),
    )
    refused = cli("image", "add", str(package_file))
    assert refused.exit_code == 3
    assert "[untrusted-image-signature]" in first_line_error(refused)
    added = cli.json(
        "image-signing-key",
        "add",
        "--platform",
        "--name",
        "OS builds",
        "--public-key",
        str(public),
    )
    assert [k["id"] for k in cli.json("image-signing-key", "list", "--platform")] == [
        added["id"]
    ]
    image = cli.json("image", "add", str(package_file))
    assert image["kind"] == "os"
    assert image["tenant_id"] is None
    cli.ok("image-signing-key", "remove", added["id"], "--platform")
    assert cli.json("image-signing-key", "list", "--platform") == []


def test_wrong_passphrase_is_refused(cli: Cli, tmp_path: Path) -> None:
    key_file, _public = _make_key(cli, tmp_path)
    (tmp_path / "signer.passphrase").write_text("not the passphrase\n")
    payload_file = tmp_path / "app.bin"
    payload_file.write_bytes(b"r")
    result = cli(
        "image-package",
        "pack",
        "--type",
        "app",
        "--name",
        "x",
        "--version",
        "1.0",
        "--security-version",
        "0",
        "--component-id",
        COMPONENT_ID,
        "--payload",
        str(payload_file),
        "--entry-point",
        "x",
        "--key-file",
        str(key_file),
        "--passphrase-file",
        str(tmp_path / "signer.passphrase"),
        "--out",
        str(tmp_path / "x.sfpkg"),
    )
    assert result.exit_code == 2
    assert "cannot decrypt" in first_line_error(result)
    assert not (tmp_path / "x.sfpkg").exists()
