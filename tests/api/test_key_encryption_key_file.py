"""The KEK file: `init` makes it (0600, random, never printed); `serve` needs it."""

import base64
import stat
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

from sevenfold.entry.main import root
from sevenfold.service import commands


def test_init_creates_a_private_random_kek_and_never_prints_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(root, ["init", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    path = data_dir / "key-encryption-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().strip()
    assert len(base64.b64decode(text, validate=True)) == 32
    assert text not in result.output
    again = CliRunner().invoke(root, ["init", "--data-dir", str(data_dir)])
    assert again.exit_code == commands.EXIT_CONFLICT
    assert path.read_text().strip() == text  # an existing key is never replaced


def test_two_services_never_share_a_default_kek(tmp_path: Path) -> None:
    """No key material ships with Sevenfold: every init draws its own."""
    keys = []
    for name in ("a", "b"):
        data_dir = tmp_path / name
        result = CliRunner().invoke(root, ["init", "--data-dir", str(data_dir)])
        assert result.exit_code == 0, result.output
        keys.append((data_dir / "key-encryption-key").read_text())
    assert keys[0] != keys[1]


def test_serve_refuses_to_start_without_a_kek(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    data_dir = tmp_path / "data"
    upgraded = CliRunner().invoke(root, ["db", "upgrade", "--data-dir", str(data_dir)])
    assert upgraded.exit_code == 0, upgraded.output
    result = CliRunner().invoke(root, ["serve", "--data-dir", str(data_dir)])
    assert result.exit_code == commands.EXIT_NOT_READY
    assert "no key-encryption key" in result.output
    assert "sevenfold init" in result.output
    assert started == []


def test_serve_refuses_a_kek_file_others_can_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    data_dir = tmp_path / "data"
    init = CliRunner().invoke(root, ["init", "--data-dir", str(data_dir)])
    assert init.exit_code == 0, init.output
    (data_dir / "key-encryption-key").chmod(0o640)
    result = CliRunner().invoke(root, ["serve", "--data-dir", str(data_dir)])
    assert result.exit_code == commands.EXIT_NOT_READY
    assert "owner only" in result.output
    assert started == []
    (data_dir / "key-encryption-key").chmod(0o600)
    CliRunner().invoke(root, ["serve", "--data-dir", str(data_dir)])
    assert len(started) == 1
