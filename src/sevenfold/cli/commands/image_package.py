"""``sevenfold image-package pack|show``: build and inspect signed image packages.

Packing streams the payload twice (hash, then copy), so a large OS image never sits
in memory. A directory payload becomes a deterministic tar (sorted names, zero
mtimes, uids and gids), so the same tree always packs to the same bytes.
"""

import contextlib
import hashlib
import os
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from sevenfold.cli.commands.image_signing_key import (
    load_signing_key,
    passphrase_option,
)
from sevenfold.cli.errors import InvalidInputError
from sevenfold.cli.files import fsync_directory
from sevenfold.cli.invocation import output_option
from sevenfold.cli.output import Column, OutputFormat, Printer
from sevenfold.crypto import image_signing
from sevenfold.crypto.errors import ImageSignatureError, InvalidImageSigningKeyError
from sevenfold.protocol.errors import PackageFormatError
from sevenfold.protocol.image_package import (
    MAX_HEADER_BYTES,
    ImageManifest,
    parse_package_header,
)
from sevenfold.protocol.updates import ImageType

CHUNK_BYTES = 1024 * 1024
MANIFEST_FIELDS = (
    Column("Type", "type"),
    Column("Name", "name"),
    Column("Version", "version"),
    Column("Security version", "security_version"),
    Column("Component ID", "component_id"),
    Column("Image ID", "image_id"),
    Column("Entry point", "entry_point"),
    Column("Capabilities", "capabilities"),
    Column("Payload bytes", "payload_bytes"),
    Column("Payload SHA-256", "payload_sha256"),
    Column("Signing key ID", "signing_key_id"),
    Column("Signature", "signature"),
    Column("Package SHA-256", "sha256"),
)


@click.group("image-package")
def image_package_group() -> None:
    """Signed image packages (OS or app) built and checked locally."""


@image_package_group.command("pack")
@click.option("--type", "kind", type=click.Choice(["os", "app"]), required=True)
@click.option("--name", required=True, help="1-100 printable characters.")
@click.option("--version", required=True, help="MAJOR.MINOR[.PATCH], e.g. 26.11.")
@click.option("--security-version", type=click.IntRange(0, 2**31), required=True)
@click.option("--component-id", type=click.UUID, help="Stable per app or the OS.")
@click.option("--image-id", type=click.UUID, help="Unique per build [default: new].")
@click.option(
    "--payload",
    type=click.Path(exists=True, path_type=Path),
    required=True,
    help="A file, or a directory packed as a deterministic tar.",
)
@click.option("--entry-point", help="Apps: the relative path to run.")
@click.option("--capability", "capabilities", multiple=True, help="Apps; repeatable.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The encrypted signing key (image-signing-key create).",
)
@passphrase_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The package file to write.",
)
@output_option
def pack(**options: Any) -> None:
    """Build and sign an image package from a payload file or directory."""
    key = load_signing_key(options["key_file"], options["passphrase_file"])
    kind = ImageType(options["kind"])
    if kind is ImageType.APP and not options["component_id"]:
        raise InvalidInputError("an app needs --component-id (stable across versions)")
    payload: Path = options["payload"]
    with _payload_file(payload) as payload_file:
        size_bytes, sha256 = _hash_file(payload_file)
        try:
            manifest = ImageManifest(
                type=kind,
                component_id=str(options["component_id"] or _os_component_id()),
                image_id=str(options["image_id"] or uuid.uuid4()),
                name=options["name"],
                version=options["version"],
                security_version=options["security_version"],
                payload_bytes=size_bytes,
                payload_sha256=sha256,
                signing_key_id=image_signing.key_id(key.public_key()),
                entry_point=options["entry_point"] if kind is ImageType.APP else None,
                capabilities=(
                    tuple(sorted(set(options["capabilities"])))
                    if kind is ImageType.APP
                    else None
                ),
            )
            header = image_signing.build_package_header(manifest, key)
        except (PackageFormatError, InvalidImageSigningKeyError) as err:
            raise InvalidInputError(f"cannot build the manifest: {err}") from err
        package_sha256 = _write_package(options["out"], header, payload_file)
    body = {**manifest.to_json(), "signature": "signed", "sha256": package_sha256}
    Printer(OutputFormat(options["output"])).record(body, MANIFEST_FIELDS)


@image_package_group.command("show")
@click.argument("package", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--public-key",
    type=click.File("r"),
    help="Verify the signature with this Ed25519 public key PEM.",
)
@output_option
def show(package: Path, public_key: IO[str] | None, output: str) -> None:
    """Print a package's manifest; check its payload (and signature with a key)."""
    body = inspect_package(package, public_key.read(2000) if public_key else None)
    Printer(OutputFormat(output)).record(body, MANIFEST_FIELDS)


def inspect_package(package: Path, public_key_pem: str | None) -> dict[str, Any]:
    """Parse and check a package file; the manifest plus what was verified.

    Raises:
        InvalidInputError: malformed, a payload that differs, or a bad signature.
    """
    with package.open("rb") as stream:
        try:
            header = parse_package_header(stream.read(MAX_HEADER_BYTES))
        except PackageFormatError as err:
            raise InvalidInputError(f"{package}: {err}") from err
        stream.seek(0)
        whole = hashlib.sha256()
        payload = hashlib.sha256()
        position = 0
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            whole.update(chunk)
            start = max(0, header.payload_offset - position)
            payload.update(chunk[start:])
            position += len(chunk)
    if position != header.package_bytes:
        raise InvalidInputError(
            f"{package}: {position} bytes, the manifest says {header.package_bytes}"
        )
    if payload.hexdigest() != header.manifest.payload_sha256:
        raise InvalidInputError(f"{package}: the payload differs from its manifest")
    signature = "not checked (give --public-key)"
    if public_key_pem is not None:
        try:
            key = image_signing.load_public_key_pem(public_key_pem)
            if image_signing.key_id(key) != header.manifest.signing_key_id:
                raise InvalidInputError(f"{package}: signed by another key")
            image_signing.verify_manifest(key, header.manifest_bytes, header.signature)
        except (InvalidImageSigningKeyError, ImageSignatureError) as err:
            raise InvalidInputError(f"{package}: {err}") from err
        signature = "verified"
    return {
        **header.manifest.to_json(),
        "signature": signature,
        "sha256": whole.hexdigest(),
    }


def _os_component_id() -> str:
    """The OS's component ID when none is given: one fixed UUID per name space."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:sevenfold:component:os"))


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size_bytes = 0
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
            size_bytes += len(chunk)
    return size_bytes, digest.hexdigest()


def _write_package(out: Path, header: bytes, payload: Path) -> str:
    """Write header + payload to a temp file beside ``out``, fsync, rename."""
    directory = out.parent if str(out.parent) else Path()
    descriptor, temp_name = tempfile.mkstemp(
        prefix=f".{out.name}-", suffix=".tmp", dir=directory
    )
    digest = hashlib.sha256(header)
    try:
        with os.fdopen(descriptor, "wb") as sink, payload.open("rb") as source:
            sink.write(header)
            for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
                digest.update(chunk)
                sink.write(chunk)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_directory(directory)
    return digest.hexdigest()


@contextlib.contextmanager
def _payload_file(payload: Path) -> Iterator[Path]:
    """The payload as a file: the file itself, or a deterministic tar of a directory."""
    if not payload.is_dir():
        yield payload
        return
    descriptor, name = tempfile.mkstemp(prefix="sevenfold-payload-", suffix=".tar")
    os.close(descriptor)
    temp = Path(name)
    try:
        write_deterministic_tar(payload, temp)
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def write_deterministic_tar(directory: Path, out: Path) -> None:
    """Tar a tree so the same tree always gives the same bytes."""
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as archive:
        for path in _sorted_tree(directory):
            info = archive.gettarinfo(
                str(path), arcname=path.relative_to(directory).as_posix()
            )
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755 if (info.isdir() or info.mode & 0o111) else 0o644
            if info.isfile():
                with path.open("rb") as stream:
                    archive.addfile(info, stream)
            elif info.isdir() or info.issym():
                archive.addfile(info)


def _sorted_tree(directory: Path) -> Iterator[Path]:
    for entry in sorted(directory.iterdir(), key=lambda path: path.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _sorted_tree(entry)
