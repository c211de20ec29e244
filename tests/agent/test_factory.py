"""``sevenfold factory``: an encrypted manufacturer key, provisioned devices, and their
records registered, claimed and (DICE) attested against a live service."""

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from sevenfold.agent.factory import PASSPHRASE_ENV
from sevenfold.agent.state import AttestationResult, StateStore
from sevenfold.entry.main import root
from sevenfold.protocol.clock import ManualClock
from sevenfold.protocol.registration import record_from_line
from sevenfold.protocol.updates import ImageType
from tests.agent.agent_support import config_for, run_agent
from tests.api.attestation_support import approve_software, running
from tests.cli.conftest import first_line_error, login
from tests.conftest import TenantAccess
from tests.support.fleet import assert_problem
from tests.support.images import build_package, make_signing_key

PASSPHRASE = "correct horse battery staple"
TRUSTED_KEYS = "/api/v1/manufacturing/trusted-keys"


def factory(*args: str, passphrase: str | None = PASSPHRASE) -> Result:
    """Run ``sevenfold factory ...`` in-process with the passphrase in the env."""
    env = {PASSPHRASE_ENV: passphrase}
    return CliRunner().invoke(root, ["factory", *args], env=env)


def create_key(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """A new manufacturer key file; its path and what the command printed."""
    key_file = tmp_path / "manufacturer-key.pem"
    result = factory(
        "create-manufacturer-key", "--out", str(key_file), "--output", "json"
    )
    assert result.exit_code == 0, result.output
    return key_file, json.loads(result.stdout)


def provision(key_file: Path, state_dir: Path, records: Path) -> Result:
    return factory(
        "provision", "--state-dir", str(state_dir), "--backend", "dice",
        "--manufacturer-key", str(key_file), "--records", str(records),
        "--output", "json",
    )  # fmt: skip


def test_manufacturer_key_file_is_encrypted_at_rest(tmp_path: Path) -> None:
    key_file, printed = create_key(tmp_path)
    assert PASSPHRASE not in json.dumps(printed)
    pem = key_file.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSPHRASE.encode() not in pem
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, password=None)
    with pytest.raises(ValueError, match="password"):
        serialization.load_pem_private_key(pem, password=b"wrong passphrase")
    assert printed["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    assert len(printed["key_id"]) == 64

    again = factory("create-manufacturer-key", "--out", str(key_file))
    assert again.exit_code == 1
    assert "never replaced" in again.output
    assert key_file.read_bytes() == pem

    records = tmp_path / "records.jsonl"
    wrong = factory(
        "provision", "--state-dir", str(tmp_path / "d"),
        "--manufacturer-key", str(key_file), "--records", str(records),
        passphrase="not the passphrase",
    )  # fmt: skip
    assert wrong.exit_code == 1
    assert "cannot decrypt the manufacturer key" in wrong.output
    assert "not the passphrase" not in wrong.output
    assert not records.exists()
    assert not (tmp_path / "d").exists()
    missing = factory(
        "create-manufacturer-key", "--out", str(tmp_path / "k2"), passphrase=None
    )
    assert missing.exit_code == 1
    assert PASSPHRASE_ENV in missing.output


def test_passphrase_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "passphrase"
    secret.write_text("from a file, not the env\n")
    key_file = tmp_path / "key.pem"
    made = factory(
        "create-manufacturer-key", "--out", str(key_file),
        "--passphrase-file", str(secret), passphrase=None,
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    printed = factory(
        "provision", "--state-dir", str(tmp_path / "dev"),
        "--manufacturer-key", str(key_file), "--passphrase-file", str(secret),
        "--product", "Gateway", passphrase=None,
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    record = record_from_line(printed.stdout.strip())
    assert record.product == "Gateway"


def test_provisioned_devices_register_claim_and_attest(
    client: TestClient,
    live_url: str,
    admin: TenantAccess,
    clock: ManualClock,
    tmp_path: Path,
) -> None:
    """The factory flow end to end over real HTTP, with the DICE key store."""
    key_file, printed = create_key(tmp_path)
    records = tmp_path / "records.jsonl"
    devices = [tmp_path / "device-1", tmp_path / "device-2"]
    device_ids = []
    for state_dir in devices:
        result = provision(key_file, state_dir, records)
        assert result.exit_code == 0, result.output
        device_ids.append(json.loads(result.stdout)["device_id"])
    lines = records.read_text().splitlines()
    assert [record_from_line(line).device_id for line in lines] == device_ids
    assert {record_from_line(line).manufacturer_key_id for line in lines} == {
        printed["key_id"]
    }
    again = provision(key_file, devices[0], records)
    assert again.exit_code == 1, again.output  # an identity is never replaced
    assert records.read_text().splitlines() == lines

    cli = login(live_url, tmp_path / "profile.json", admin.token)
    refused = cli("device", "register", "--file", str(records))
    assert refused.exit_code == 3
    assert first_line_error(refused) == (
        "Error: record 0 is refused: the record is signed by a manufacturer key the "
        "service does not trust; nothing was registered [untrusted-registration]"
    )

    trusted = cli.json(
        "manufacturer-key", "trust", "--name", "Line 1", "--public-key", "-",
        input=printed["public_key_pem"],
    )  # fmt: skip
    assert trusted["id"] == printed["key_id"]
    listed = cli.json("manufacturer-key", "list")
    assert printed["key_id"] in {key["id"] for key in listed}
    registered = cli.json("device", "register", "--file", str(records))
    assert registered == {"registered": 2, "already_registered": 0}

    product = cli.json("product", "create", "--name", "Gateway")
    claimed = cli.json(
        "device", "claim", *device_ids, "--device-group", "Gateway/Production",
        "--poll-interval-s", "0.05",
    )  # fmt: skip
    assert claimed["counts"] == {"claimed": 2}
    approve_software(client, admin, product["id"], running())

    run_agent(config_for(devices[0], live_url), clock, max_sleeps=1)
    state = StateStore(devices[0]).read_state()
    assert state is not None
    assert state.device_id == device_ids[0]
    assert state.last_result is AttestationResult.CERTIFIED
    history = client.get(
        f"/api/v1/devices/{device_ids[0]}/attestations", headers=admin.headers
    )
    assert history.status_code == 200, history.text

    removed = cli.json("manufacturer-key", "remove", printed["key_id"])
    assert removed == {"id": printed["key_id"], "name": "Line 1", "deleted": True}
    response = client.post(
        "/api/v1/manufacturing/device-registrations",
        json={"records": [json.loads(line) for line in lines]},
        headers=admin.headers,
    )
    assert_problem(response, 403, "untrusted-registration")


def test_a_provisioned_device_sets_up_updates_and_keeps_its_identity(
    tmp_path: Path,
) -> None:
    """`factory provision` makes the identity; `agent init --keep-identity` then
    lays out the install root without replacing the device secret."""
    key_file, _ = create_key(tmp_path)
    state_dir, records = tmp_path / "device", tmp_path / "records.jsonl"
    provisioned = provision(key_file, state_dir, records)
    assert provisioned.exit_code == 0, provisioned.output
    device_id = record_from_line(records.read_text().strip()).device_id
    package = build_package(
        make_signing_key(), payload=b"factory os", kind=ImageType.OS, version="26.10"
    )
    (tmp_path / "factory.pkg").write_bytes(package)
    init = [
        "agent", "init", "--state-dir", str(state_dir), "--install-root",
        str(tmp_path / "install"), "--os-image", str(tmp_path / "factory.pkg"),
        "--output", "json",
    ]  # fmt: skip

    refused = CliRunner().invoke(root, init)
    kept = CliRunner().invoke(root, [*init, "--keep-identity"])

    assert refused.exit_code == 1
    assert "never replaced" in refused.output
    assert kept.exit_code == 0, kept.output
    printed = json.loads(kept.stdout)
    assert printed["device_id"] == device_id
    assert printed["os_version"] == "26.10"
    missing = CliRunner().invoke(
        root, ["agent", "init", "--state-dir", str(tmp_path / "none"),
               "--keep-identity"],
    )  # fmt: skip
    assert missing.exit_code == 1
