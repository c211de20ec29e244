"""``sevenfold login``/``logout`` and the profile file that holds the token."""

import json
import stat
from pathlib import Path

from sevenfold.cli.profile import Profile, load_profile, save_profile
from tests.cli.conftest import Cli, first_line_error, login
from tests.conftest import TenantAccess


def test_login_checks_the_token_and_saves_it_owner_only(
    live_url: str, admin: TenantAccess, tmp_path: Path
) -> None:
    profile = tmp_path / "nested" / "profile.json"
    cli = login(live_url, profile, admin.token)
    assert stat.S_IMODE(profile.stat().st_mode) == 0o600
    saved = json.loads(profile.read_text())
    assert saved == {"version": 1, "server_url": live_url, "token": admin.token}
    tenants = cli.json("tenant", "list")
    assert [tenant["id"] for tenant in tenants] == [admin.tenant_id]


def test_login_with_a_refused_token_saves_nothing(
    live_url: str, admin: TenantAccess, tmp_path: Path
) -> None:
    profile = tmp_path / "profile.json"
    forged = admin.token[:-4] + "AAAA"
    result = Cli(live_url, profile)("login", "--server", live_url, input=forged)
    assert result.exit_code == 3
    assert "refused this token" in first_line_error(result)
    assert forged not in result.output
    assert not profile.exists()


def test_commands_without_a_login_say_how_to_log_in(tmp_path: Path) -> None:
    result = Cli("http://127.0.0.1:9", tmp_path / "none.json")("device", "list")
    assert result.exit_code == 3
    assert "sevenfold login" in first_line_error(result)


def test_a_corrupt_profile_is_a_clear_error(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text("{not json")
    result = Cli("http://127.0.0.1:9", profile)("product", "list")
    assert result.exit_code == 2
    assert "log in again" in first_line_error(result)


def test_logout_forgets_the_token(cli: Cli) -> None:
    assert cli.json("logout") == {"profile": str(cli.profile), "removed": True}
    assert not cli.profile.exists()
    assert cli("product", "list").exit_code == 3


def test_profile_writes_replace_atomically_and_leave_no_temp_files(
    tmp_path: Path,
) -> None:
    path = tmp_path / "profile.json"
    save_profile(path, Profile(server_url="http://a", token="sf_one"))
    save_profile(path, Profile(server_url="http://b", token="sf_two"))
    assert load_profile(path) == Profile(server_url="http://b", token="sf_two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.json"]
    assert "sf_two" not in repr(load_profile(path))


def test_token_in_environment_wins_over_the_profile(
    cli: Cli, admin: TenantAccess
) -> None:
    reader = cli.json("token", "create", "--name", "ro", "--role", "reader")
    as_reader = cli.as_token(reader["token"])
    assert as_reader("product", "create", "--name", "X").exit_code == 3
    assert cli.ok("product", "create", "--name", "X").exit_code == 0
