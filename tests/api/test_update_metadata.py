"""The image repository and director through a real python-tuf ngclient ``Updater``
(docs/updates.md §4), named after the TUF attacks they stop."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event
from tuf.api.exceptions import BadVersionNumberError, ExpiredMetadataError
from tuf.api.metadata import Metadata, MetaFile, Timestamp

from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.updates import ImageType, target_path
from sevenfold.service.db.engine import make_session_factory
from sevenfold.service.updates.metadata_store import role_signer
from sevenfold.service.updates.signing_keys import Repository, TufRole
from tests.api.device_auth_support import certified
from tests.api.update_support import (
    TUF,
    DeviceUpdaters,
    add_image,
    add_release,
    deploy,
    settings,
    versions,
)
from tests.conftest import TenantAccess
from tests.support.fleet import groups_by_name

__all__ = ["settings"]

CHECK_STATEMENT_BOUND = 23
"""SQL statements of a no-op check's four TUF requests (measured: 23; two reads per
request authenticate the device, the root requests read one row each)."""


def _device(
    app: FastAPI, client: TestClient, admin: TenantAccess, clock: ManualClock, tmp: Path
) -> tuple[DeviceUpdaters, str]:
    device = certified(client, admin, clock)
    groups = groups_by_name(client, admin.headers, device.attester.product_id)
    updaters = DeviceUpdaters(app, clock, device.certificate, tmp)
    assert updaters.device_id() == device.device_id
    return updaters, groups["Production"]["id"]


def test_image_and_director_metadata_verify_and_a_target_downloads(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    os_image = add_release(app, clock, "26.11")
    device, group_id = _device(app, client, admin, clock, tmp_path)
    app_image = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="1.0"
    )
    deploy(app, clock, admin.tenant_id, group_id, [app_image])
    image_repo = device.refresh("image")
    director = device.refresh("director")
    wanted = {target_path(os_image.sha256), target_path(app_image.sha256)}
    assert set(director._trusted_set.targets.targets) == wanted
    for path in wanted:
        image_info = image_repo.get_targetinfo(path)
        director_info = director.get_targetinfo(path)
        assert image_info is not None
        assert director_info is not None
        bound_to = director._trusted_set.targets.unrecognized_fields
        assert director_info.custom["deviceId"] == bound_to["x-sevenfold-device-id"]
        for key in ("kind", "componentId", "imageId", "version", "securityVersion"):
            assert director_info.custom[key] == image_info.custom[key]
    app_target = director.get_targetinfo(target_path(app_image.sha256))
    assert app_target is not None
    downloaded = Path(director.download_target(app_target))
    assert downloaded.stat().st_size == app_image.size_bytes
    signed = director._trusted_set.targets
    assert signed.unrecognized_fields["x-sevenfold-apps-managed"] is True


def test_unchanged_second_check_signs_nothing(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device, _ = _device(app, client, admin, clock, tmp_path)
    first = {repo: versions(device.refresh(repo)) for repo in ("image", "director")}
    clock.advance(3600)
    second = {repo: versions(device.refresh(repo)) for repo in ("image", "director")}
    assert second == first


def _check_statements(app: FastAPI, device: DeviceUpdaters) -> list[str]:
    """The SQL one no-op check runs: both repositories' timestamps, as ngclient asks
    for them after a 404 for root N+1 (which must read, never refresh)."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        text = " ".join(str(args[2]).split()).upper()
        # The app's background tasks (operation runner, release promoter) share the
        # engine, and a new PostgreSQL connection asks for its version and schema:
        # none of that is the check's.
        background = "OPERATIONS" in text or "FROM OS_RELEASES WHERE" in text
        table_statement = " FROM " in text or not text.startswith(("SELECT", "SHOW"))
        if table_statement and not background:
            statements.append(text)

    engine = app.state.sevenfold.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        for repo in ("image", "director"):
            next_root = device.client.get(
                f"{TUF}/{repo}/2.root.json", headers=device.fetcher.headers
            )
            assert next_root.status_code == 404
            device.get(f"{TUF}/{repo}/timestamp.json")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return statements


def test_unchanged_check_writes_nothing_and_reads_a_handful_of_rows(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """A fleet checks often: a check with nothing new signs nothing and writes
    nothing; the device's last-check time is written at most once a minute."""
    add_release(app, clock, "26.11")
    device, group_id = _device(app, client, admin, clock, tmp_path)
    app_image = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="1.0"
    )
    deploy(app, clock, admin.tenant_id, group_id, [app_image])
    for repo in ("image", "director"):
        device.get(f"{TUF}/{repo}/timestamp.json")

    clock.advance(30)
    statements = _check_statements(app, device)
    writes = [text for text in statements if not text.startswith("SELECT")]
    assert writes == [], writes
    assert len(statements) <= CHECK_STATEMENT_BOUND, statements

    clock.advance(60)
    statements = _check_statements(app, device)
    writes = [text for text in statements if not text.startswith("SELECT")]
    assert len(writes) == 1, writes
    assert writes[0].startswith("UPDATE DEVICE_UPDATE_STATUSES SET LAST_CHECK_AT=")


def test_new_release_and_deployment_bump_director_targets(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device, group_id = _device(app, client, admin, clock, tmp_path)
    before = versions(device.refresh("director"))
    newer = add_release(app, clock, "26.12")
    after_release = device.refresh("director")
    assert versions(after_release)["targets"] == before["targets"] + 1
    assert target_path(newer.sha256) in after_release._trusted_set.targets.targets
    app_image = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="2.0"
    )
    deploy(app, clock, admin.tenant_id, group_id, [app_image])
    after_deploy = device.refresh("director")
    assert versions(after_deploy)["targets"] == before["targets"] + 2
    image_repo = device.refresh("image")
    assert image_repo.get_targetinfo(target_path(app_image.sha256)) is not None


def test_timestamp_is_resigned_once_fewer_than_12_hours_remain(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device, _ = _device(app, client, admin, clock, tmp_path)
    first = {repo: versions(device.refresh(repo)) for repo in ("image", "director")}
    clock.advance(13 * 3600)
    for repo in ("image", "director"):
        now = versions(device.refresh(repo))
        assert now["timestamp"] == first[repo]["timestamp"] + 1
        assert now["targets"] == first[repo]["targets"]


def test_freeze_attack_expired_metadata_is_refused(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device, _ = _device(app, client, admin, clock, tmp_path / "first")
    for repo in ("image", "director"):
        device.refresh(repo)
    frozen = dict(device.fetcher.recorded)
    clock.advance(25 * 3600)
    replaying = device.elsewhere(tmp_path / "fresh")
    device.fetcher.replay = frozen
    for repo in ("image", "director"):
        with pytest.raises(ExpiredMetadataError):
            replaying.refresh(repo)


def test_fast_forward_attack_recovers_after_timestamp_key_rotation(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """A stolen timestamp key signs version 1000; after rotating the key through the
    root, the device accepts the service's lower versions again."""
    add_release(app, clock, "26.11")
    device, _ = _device(app, client, admin, clock, tmp_path)
    honest = versions(device.refresh("image"))
    state = app.state.sevenfold
    with make_session_factory(state.engine)() as session:
        stolen = role_signer(
            session=session,
            kek=state.key_encryption_key,
            tenant_id=admin.tenant_id,
            repository=Repository.IMAGE,
            role=TufRole.TIMESTAMP,
        )
    forged = Metadata(
        Timestamp(
            version=1000,
            expires=(clock.now() + timedelta(hours=20)).replace(microsecond=0),
            snapshot_meta=MetaFile(version=honest["snapshot"]),
        )
    )
    forged.sign(stolen)
    device.fetcher.overrides[f"{TUF}/image/timestamp.json"] = forged.to_bytes()
    assert versions(device.refresh("image"))["timestamp"] == 1000
    device.fetcher.overrides.clear()
    clock.advance(13 * 3600)
    with pytest.raises(BadVersionNumberError):
        device.refresh("image")
    rotated = client.post(
        "/api/v1/update-keys/rotate",
        json={"repository": "image", "role": "timestamp"},
        headers=admin.headers,
    )
    assert rotated.status_code == 200, rotated.text
    recovered = versions(device.refresh("image"))
    assert recovered["root"] == honest["root"] + 1
    assert recovered["timestamp"] < 1000


def test_root_rotation_is_followed_by_ngclient(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    add_release(app, clock, "26.11")
    device, _ = _device(app, client, admin, clock, tmp_path)
    before = {repo: versions(device.refresh(repo)) for repo in ("image", "director")}
    for repo in ("image", "director"):
        for role in ("root", "targets"):
            rotated = client.post(
                "/api/v1/update-keys/rotate",
                json={"repository": repo, "role": role},
                headers=admin.headers,
            )
            assert rotated.status_code == 200, rotated.text
    for repo in ("image", "director"):
        after = versions(device.refresh(repo))
        assert after["root"] == before[repo]["root"] + 2
        assert after["targets"] == before[repo]["targets"] + 1
    keys = client.get("/api/v1/update-keys", headers=admin.headers).json()
    for repository in keys["repositories"]:
        revoked = [key for key in repository["keys"] if key["revoked_at"]]
        assert {key["role"] for key in revoked} == {"root", "targets"}


def test_metadata_file_names_are_parsed_strictly(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    device, _ = _device(app, client, admin, clock, tmp_path)
    device.refresh("director")
    good = device.client.get(
        f"{TUF}/director/1.targets.json", headers=device.fetcher.headers
    )
    assert good.status_code == 200
    assert good.headers["cache-control"] == "no-store"
    for name in (
        "0.root.json", "01.root.json", "root.json", "2.root.json", "1.timestamp.json",
        "99.targets.json", "1.targets.json.bak", "1.delegated.json", "-1.root.json",
        "99999999999.root.json",
    ):  # fmt: skip
        response = device.client.get(
            f"{TUF}/director/{name}", headers=device.fetcher.headers
        )
        assert response.status_code in {404, 422}, name


def test_target_route_honours_range_and_hides_other_tenants_images(
    app: FastAPI,
    client: TestClient,
    admin: TenantAccess,
    other_tenant: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    device, _ = _device(app, client, admin, clock, tmp_path)
    mine = add_image(
        app, clock, tenant_id=admin.tenant_id, kind=ImageType.APP, version="1.0"
    )
    theirs = add_image(
        app, clock, tenant_id=other_tenant.tenant_id, kind=ImageType.APP, version="1.0"
    )
    unreleased = add_image(
        app, clock, tenant_id=None, kind=ImageType.OS, version="27.1"
    )
    whole = device.get(f"{TUF}/targets/blobs/{mine.sha256}").content
    part = device.get(f"{TUF}/targets/blobs/{mine.sha256}", Range="bytes=10-19")
    assert part.status_code == 206
    assert part.content == whole[10:20]
    for hidden in (theirs, unreleased):
        response = device.client.get(
            f"{TUF}/targets/blobs/{hidden.sha256}", headers=device.fetcher.headers
        )
        assert response.status_code == 404
