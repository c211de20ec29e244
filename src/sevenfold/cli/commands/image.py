"""``sevenfold image add|list|show|download``: image packages in the service.

Uploads and downloads stream (a package can be hundreds of MiB) with a progress bar
on stderr. A download goes to ``FILE.part``, is checked against the image's SHA-256
and only then renamed to ``FILE``; an interrupted one resumes from ``FILE.part``
with an HTTP ``Range``.
"""

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from sevenfold.cli.errors import InvalidInputError, ServerError
from sevenfold.cli.files import fsync_directory
from sevenfold.cli.invocation import Invocation, operator_command
from sevenfold.cli.output import Column

CHUNK_BYTES = 1024 * 1024
PATH = "/images"
IMAGE_COLUMNS = (
    Column("ID", "id"),
    Column("KIND", "kind"),
    Column("NAME", "name"),
    Column("VERSION", "version"),
    Column("SIZE", "size_bytes"),
)
IMAGE_FIELDS = (
    Column("ID", "id"),
    Column("Kind", "kind"),
    Column("Name", "name"),
    Column("Version", "version"),
    Column("Security version", "security_version"),
    Column("Component ID", "component_id"),
    Column("Entry point", "entry_point"),
    Column("Capabilities", "capabilities"),
    Column("Size (bytes)", "size_bytes"),
    Column("SHA-256", "sha256"),
    Column("Payload SHA-256", "payload_sha256"),
    Column("Signing key ID", "signing_key_id"),
    Column("Uploaded", "uploaded_at"),
)


@click.group("image")
def image_group() -> None:
    """Image packages uploaded to the service (apps, and the platform's OS images)."""


@image_group.command("add")
@operator_command
@click.argument("package", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def add_image(run: Invocation, package: Path) -> None:
    """Upload a signed image package; the service verifies it before keeping it."""
    size_bytes = package.stat().st_size
    with (
        click.progressbar(
            length=size_bytes, label="Uploading", file=sys.stderr
        ) as progress,
        run.client.stream(
            "POST",
            PATH,
            content=_read_chunks(package, progress.update),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size_bytes),
            },
        ) as response,
    ):
        image = _json(response.read())
    run.printer.record(image, IMAGE_FIELDS)


@image_group.command("list")
@operator_command
@click.option("--kind", type=click.Choice(["os", "app"]), help="Only this kind.")
def list_images(run: Invocation, kind: str | None) -> None:
    """List the tenant's app images and the platform's OS images."""
    items = [
        item for page in run.client.pages(PATH, params={"kind": kind}) for item in page
    ]
    run.printer.listing(items, IMAGE_COLUMNS)


@image_group.command("show")
@operator_command
@click.argument("image_id")
def show_image(run: Invocation, image_id: str) -> None:
    """Show one image."""
    run.printer.record(run.client.call("GET", f"{PATH}/{_id(image_id)}"), IMAGE_FIELDS)


@image_group.command("download")
@operator_command
@click.argument("image_id")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the package (FILE.part while downloading).",
)
def download_image(run: Invocation, image_id: str, out: Path) -> None:
    """Download a package, verified against its SHA-256; resumes a FILE.part."""
    image = run.client.call("GET", f"{PATH}/{_id(image_id)}")
    size_bytes, sha256 = int(image["size_bytes"]), str(image["sha256"])
    part = out.with_name(out.name + ".part")
    digest, have = _resume_point(part, size_bytes)
    if have < size_bytes:
        headers = {"Range": f"bytes={have}-"} if have else {}
        with (
            run.client.stream(
                "GET", f"{PATH}/{image['id']}/content", headers=headers
            ) as response,
            click.progressbar(
                length=size_bytes, label="Downloading", file=sys.stderr
            ) as progress,
        ):
            if have and response.status_code != 206:
                digest, have = hashlib.sha256(), 0  # no resumption: start over
            progress.update(have)
            mode = "ab" if have else "wb"
            with part.open(mode) as sink:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    have += len(chunk)
                    if have > size_bytes:
                        raise ServerError("the service sent more bytes than the image")
                    digest.update(chunk)
                    sink.write(chunk)
                    progress.update(len(chunk))
                sink.flush()
                os.fsync(sink.fileno())
    if have != size_bytes or digest.hexdigest() != sha256:
        part.unlink(missing_ok=True)
        raise ServerError(
            "the downloaded package does not match the image's SHA-256; removed it"
        )
    os.replace(part, out)
    fsync_directory(out.parent if str(out.parent) else Path())
    run.printer.record(
        {**image, "file": str(out)}, (*IMAGE_FIELDS, Column("File", "file"))
    )


def _resume_point(part: Path, size_bytes: int) -> tuple["hashlib._Hash", int]:
    """Hash what an earlier download left; start over if it is too long."""
    digest = hashlib.sha256()
    if not part.is_file():
        return digest, 0
    have = part.stat().st_size
    if have > size_bytes:
        part.unlink()
        return digest, 0
    with part.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest, have


def _read_chunks(path: Path, advance: Callable[[int], None]) -> Iterator[bytes]:
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            advance(len(chunk))
            yield chunk


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as err:
        raise ServerError("the service sent a body that is not JSON") from err
    if not isinstance(value, dict):
        raise ServerError("the service sent something that is not an image")
    return value


def _id(text: str) -> str:
    image_id = text.strip().lower()
    if len(image_id) != 36 or any(c not in "0123456789abcdef-" for c in image_id):
        raise InvalidInputError("an image ID is a UUID")
    return image_id
