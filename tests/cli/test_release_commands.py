"""OS releases and deployments through the real CLI against a real server."""

from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sevenfold.protocol.updates import ImageType
from tests.cli.conftest import Cli, first_line_error
from tests.conftest import TenantAccess
from tests.support.images import (
    build_package,
    make_signing_key,
    register_signing_key,
    upload_ok,
)

CONFLICT_EXIT_CODE = 5


@pytest.fixture
def http(live_url: str) -> Iterator[httpx.Client]:
    """A plain HTTP client to the same server, for uploads."""
    with httpx.Client(base_url=live_url) as client:
        yield client


@pytest.fixture
def platform_key(http: httpx.Client, admin: TenantAccess) -> Ed25519PrivateKey:
    """A registered platform image-signing key (it signs OS images)."""
    key = make_signing_key()
    register_signing_key(http, admin.token, key, platform=True)
    return key


def _os_image(
    http: httpx.Client, admin: TenantAccess, key: Ed25519PrivateKey, version: str
) -> str:
    package = build_package(
        key, kind=ImageType.OS, version=version, payload=f"os {version}".encode()
    )
    return upload_ok(http, admin.token, package)


def test_publish_list_promote_withdraw(
    cli: Cli, http: httpx.Client, admin: TenantAccess, platform_key: Ed25519PrivateKey
) -> None:
    """A release goes retail-eval -> retail -> withdrawn; list filters by state."""
    image_id = _os_image(http, admin, platform_key, "26.11")
    release = cli.json(
        "os-release", "publish", image_id, "--eval-window-days", "7",
        "--note", "November",
    )  # fmt: skip
    assert (release["version"], release["state"]) == ("26.11", "retail-eval")
    listed = cli.json("os-release", "list")
    assert [item["id"] for item in listed] == [release["id"]]
    assert cli.json("os-release", "list", "--state", "retail") == []
    promoted = cli.json("os-release", "promote", release["id"], "--reason", "good")
    assert promoted["state"] == "retail"
    table = cli.ok("os-release", "list", "--state", "retail").stdout
    assert release["id"] in table
    withdrawn = cli.json("os-release", "withdraw", release["id"], "--reason", "bug")
    assert (withdrawn["state"], withdrawn["reason"]) == ("withdrawn", "bug")
    shown = cli.json("os-release", "show", release["id"])
    assert shown["device_counts"] == {}
    assert "Image SHA-256" in cli.ok("os-release", "show", release["id"]).stdout


def test_cancel_and_the_version_is_never_reused(
    cli: Cli, http: httpx.Client, admin: TenantAccess, platform_key: Ed25519PrivateKey
) -> None:
    """A cancelled release keeps its version: republishing it is a conflict."""
    release = cli.json(
        "os-release", "publish", _os_image(http, admin, platform_key, "26.11")
    )
    cancelled = cli.json("os-release", "cancel", release["id"], "--reason", "broken")
    assert cancelled["state"] == "cancelled"
    again = cli("os-release", "publish", _os_image(http, admin, platform_key, "26.11"))
    assert again.exit_code == CONFLICT_EXIT_CODE
    assert first_line_error(again).endswith("[release-version-not-newer]")
    assert cli("os-release", "cancel", release["id"]).exit_code == 2  # --reason


def test_invalid_transition_prints_one_error_line_and_exits_5(
    cli: Cli, http: httpx.Client, admin: TenantAccess, platform_key: Ed25519PrivateKey
) -> None:
    """Withdrawing a release still in retail-eval is refused; nothing changes."""
    release = cli.json(
        "os-release", "publish", _os_image(http, admin, platform_key, "26.11")
    )
    result = cli("os-release", "withdraw", release["id"], "--reason", "oops")
    assert result.exit_code == CONFLICT_EXIT_CODE
    assert first_line_error(result).endswith("[invalid-release-transition]")
    assert cli.json("os-release", "show", release["id"])["state"] == "retail-eval"


def test_device_group_deployments_by_group_name(
    cli: Cli, http: httpx.Client, admin: TenantAccess
) -> None:
    """Deploy to "Product/Group", supersede with --no-images, list the history."""
    cli.json("product", "create", "--name", "Gateway")
    key = make_signing_key()
    register_signing_key(http, admin.token, key)
    image_id = upload_ok(http, admin.token, build_package(key, name="Telemetry"))
    first = cli.json(
        "device-group",
        "deployment",
        "create",
        "Gateway/Production",
        "--image",
        image_id,
    )
    assert [image["id"] for image in first["images"]] == [image_id]
    emptied = cli.json(
        "device-group", "deployment", "create", "Gateway/Production", "--no-images"
    )
    assert emptied["images"] == []
    history = cli.json("device-group", "deployment", "list", "Gateway/Production")
    assert (history[0]["id"], history[0]["current"]) == (emptied["id"], True)
    assert {item["id"] for item in history} == {first["id"], emptied["id"]}
    table = cli.ok("device-group", "deployment", "list", "Gateway/Production").stdout
    assert "Telemetry 1.0.0" in table
    neither = cli("device-group", "deployment", "create", "Gateway/Production")
    assert neither.exit_code != 0
    assert "--no-images" in first_line_error(neither)
