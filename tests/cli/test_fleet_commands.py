"""Operator flows through the real CLI: products, groups, devices, tenants, audit."""

from pathlib import Path

from tests.cli.conftest import Cli, first_line_error, login
from tests.support.devices import new_device_ids
from tests.support.manufacturer import records_jsonl

DEVICE_KEYS = {
    "id",
    "status",
    "product_id",
    "device_group_id",
    "registered_at",
    "claimed_at",
    "revoked_at",
}
FAST_POLL = ("--poll-interval-s", "0.05")


def _ids_file(tmp_path: Path, device_ids: list[str], name: str = "ids.txt") -> Path:
    path = tmp_path / name
    path.write_text("# devices from the factory\n\n" + "\n".join(device_ids) + "\n")
    return path


def _records_file(
    tmp_path: Path, device_ids: list[str], name: str = "records.jsonl"
) -> Path:
    path = tmp_path / name
    path.write_text(records_jsonl(device_ids))
    return path


def test_product_and_device_group_lifecycle(cli: Cli) -> None:
    product = cli.json("product", "create", "--name", "Gateway", "--description", "g")
    groups = cli.json("device-group", "list", "--product", "gateway")
    assert sorted(group["name"] for group in groups) == [
        "Development",
        "Field Test",
        "Field Test OS Evaluation",
        "Production",
        "Production OS Evaluation",
    ]
    created = cli.json(
        "device-group", "create", "--product", product["id"], "--name", "Lab",
        "--os-feed", "retail-eval", "--update-policy", "os-only", "--no-app-updates",
    )  # fmt: skip
    assert (created["os_feed"], created["update_policy"], created["app_updates"]) == (
        "retail-eval",
        "os-only",
        False,
    )
    shown = cli.json("device-group", "show", "Gateway/lab")
    assert shown["id"] == created["id"]
    updated = cli.json("device-group", "update", "Gateway/Lab", "--os-feed", "retail")
    assert updated["os_feed"] == "retail"
    assert cli.json("device-group", "delete", "Gateway/Lab")["deleted"] is True
    assert cli("device-group", "show", "Gateway/Lab").exit_code == 4
    renamed = cli.json("product", "update", "Gateway", "--name", "Gateway 2")
    assert renamed["name"] == "Gateway 2"
    assert [p["name"] for p in cli.json("product", "list")] == ["Gateway 2"]
    assert cli.json("product", "delete", "Gateway 2")["deleted"] is True
    assert cli.json("product", "list") == []


def test_register_claim_move_revoke_a_fleet(cli: Cli, tmp_path: Path) -> None:
    cli.ok("product", "create", "--name", "Gateway")
    device_ids = new_device_ids(25)
    ids_file = _ids_file(tmp_path, device_ids + device_ids[:3])  # duplicates once
    records = _records_file(tmp_path, device_ids + device_ids[:3])
    assert cli.json("device", "register", "--file", str(records)) == {
        "registered": 25,
        "already_registered": 0,
    }
    again = cli.json(
        "device", "register", "--file", "-", input=records_jsonl(device_ids[:1])
    )
    assert again == {"registered": 0, "already_registered": 1}

    claim = cli.json(
        "device", "claim", "--file", str(ids_file),
        "--device-group", "Gateway/Field Test", *FAST_POLL,
    )  # fmt: skip
    assert claim["status"] == "complete"
    assert claim["counts"] == {"claimed": 25}
    assert len(claim["operation_ids"]) == 1

    listed = cli.json("device", "list", "--device-group", "Gateway/Field Test")
    assert sorted(device["id"] for device in listed) == sorted(device_ids)
    assert set(listed[0]) == DEVICE_KEYS
    assert cli.json("device", "list", "--max-items", "10")[9]["id"] == listed[9]["id"]

    target = device_ids[0]
    moved = cli.json("device", "move", target, "--device-group", "Gateway/Production")
    production = cli.json("device-group", "show", "Gateway/Production")
    assert moved["device_group_id"] == production["id"]
    assert cli.json("device", "revoke", target)["status"] == "revoked"
    assert [d["id"] for d in cli.json("device", "list", "--status", "revoked")] == [
        target
    ]
    table = cli.ok("device", "list", "--product", "Gateway").stdout
    assert "Gateway/Field Test" in table
    assert target in table


def test_bulk_claim_from_stdin_reports_each_device_that_failed(cli: Cli) -> None:
    registered = new_device_ids(4)
    unregistered = new_device_ids(2)
    cli.ok("device", "register", "--file", "-", input=records_jsonl(registered))
    cli.ok("device", "claim", registered[0])
    stdin = "\n".join(registered + unregistered)
    result = cli("device", "claim", "--file", "-", *FAST_POLL, input=stdin)
    assert result.exit_code == 1
    assert "2 of 6 devices were not claimed" in first_line_error(result)
    assert result.stderr.startswith("Claiming devices")  # the progress bar
    assert result.stdout.count("not-registered") == 2
    as_json = cli(
        "device", "claim", "--file", "-", *FAST_POLL, "-o", "json", input=stdin
    )
    assert as_json.exit_code == 1
    assert '"already-claimed-by-this-tenant": 4' in as_json.stdout


def test_bulk_claim_over_the_service_limit_runs_as_several_operations(
    cli: Cli, tmp_path: Path
) -> None:
    device_ids = new_device_ids(1001)
    ids_file = _ids_file(tmp_path, device_ids)
    cli.ok("device", "register", "--file", str(_records_file(tmp_path, device_ids)))
    claim = cli.json("device", "claim", "--file", str(ids_file), *FAST_POLL)
    assert claim["status"] == "complete"
    assert claim["total"] == 1001
    assert len(claim["operation_ids"]) == 2
    assert claim["counts"] == {"claimed": 1001}


def test_a_malformed_line_names_its_line_and_sends_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    (good,) = new_device_ids(1)
    path = _records_file(tmp_path, [good])
    path.write_text(path.read_text() + "\n" + '{"v": 1, "device_id": "ff"}\n')
    result = cli("device", "register", "--file", str(path))
    assert result.exit_code == 2
    assert "records.jsonl line 3: a record has exactly the fields" in (
        first_line_error(result)
    )
    listed = cli.json("device", "list")
    assert listed == []
    good_line = records_jsonl([good])
    assert cli.json("device", "register", "--file", "-", input=good_line) == {
        "registered": 1,
        "already_registered": 0,
    }


def test_tenants_and_tokens(cli: Cli, live_url: str, tmp_path: Path) -> None:
    created = cli.json("tenant", "create", "--name", "Fabrikam")
    other = login(live_url, tmp_path / "fabrikam.json", created["administrator_token"])
    assert other.json("tenant", "show")["name"] == "Fabrikam"
    assert other("tenant", "create", "--name", "Nope").exit_code == 3
    names = {tenant["name"] for tenant in cli.json("tenant", "list")}
    assert "Fabrikam" in names
    token = other.json("token", "create", "--name", "ci", "--role", "contributor")
    listed = other.json("token", "list")
    assert token["id"] in {item["id"] for item in listed}
    assert all("token" not in item for item in listed)
    assert other.json("token", "revoke", token["id"])["revoked_at"] is not None
    text = cli.ok("tenant", "create", "--name", "Northwind").stdout
    assert text.strip().splitlines()[-1].startswith("sf_")


def test_audit_list_shows_who_did_what(cli: Cli) -> None:
    cli.ok("product", "create", "--name", "Gateway")
    cli.ok("product", "update", "Gateway", "--description", "new")
    events = cli.json("audit", "list", "--max-items", "2")
    assert [event["action"] for event in events] == ["product.update", "product.create"]
    assert events[0]["source_ip"] == "127.0.0.1"
    assert events[0]["actor_name"]
    everything = cli.json("audit", "list", "--all")
    assert len(everything) >= 3  # the init token's creation, too
