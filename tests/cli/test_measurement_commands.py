"""``sevenfold product measurement`` over real HTTP: add, list, remove, errors."""

from tests.cli.conftest import Cli


def test_product_measurements_are_added_listed_and_removed(cli: Cli) -> None:
    cli.ok("product", "create", "--name", "Gateway")
    os_image = cli.json(
        "product", "measurement", "add", "Gateway", "--kind", "os",
        "--sha256", "AB" * 32, "--version", "26.11.1", "--label", "retail",
    )  # fmt: skip
    assert (os_image["kind"], os_image["sha256"], os_image["version"]) == (
        "os",
        "ab" * 32,
        "26.11.1",
    )
    cli.ok(
        "product", "measurement", "add", "gateway", "--kind", "app",
        "--sha256", "cd" * 32,
    )  # fmt: skip
    listed = cli.json("product", "measurement", "list", "Gateway")
    assert [(m["kind"], m["label"]) for m in listed] == [("app", ""), ("os", "retail")]
    table = cli.ok("product", "measurement", "list", "Gateway").stdout
    assert "26.11.1" in table
    assert "SHA-256" in table
    removed = cli.json("product", "measurement", "remove", "Gateway", os_image["id"])
    assert removed == {"id": os_image["id"], "removed": True}
    assert len(cli.json("product", "measurement", "list", "Gateway")) == 1


def test_product_measurement_errors_map_to_exit_codes(cli: Cli) -> None:
    cli.ok("product", "create", "--name", "Gateway")
    no_version = cli(
        "product", "measurement", "add", "Gateway", "--kind", "os",
        "--sha256", "ab" * 32,
    )  # fmt: skip
    assert no_version.exit_code != 0
    assert "validation-error" in no_version.output
    missing = cli("product", "measurement", "remove", "Gateway", "0" * 36)
    assert missing.exit_code == 4, missing.output
    unknown = cli("product", "measurement", "list", "Nope")
    assert unknown.exit_code == 4, unknown.output
