"""`sevenfold ca-certificate` over real HTTP: listing and the files it writes."""

import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.cli.conftest import Cli


def test_list_shows_the_active_ca(cli: Cli) -> None:
    listed = cli.json("ca-certificate", "list")
    assert [ca["status"] for ca in listed] == ["active"]
    assert set(listed[0]) == {
        "id", "status", "in_chain", "subject", "thumbprint_sha256", "not_before",
        "not_after", "activates_at", "created_at",
    }  # fmt: skip
    table = cli.ok("ca-certificate", "list").stdout
    assert listed[0]["id"] in table
    assert "active" in table


def test_download_writes_the_active_ca_as_pem_or_der(cli: Cli, tmp_path: Path) -> None:
    active = cli.json("ca-certificate", "list")[0]
    pem_path = tmp_path / "ca.pem"
    written = cli.json("ca-certificate", "download", "--destination", str(pem_path))
    assert written == {
        "id": active["id"],
        "path": str(pem_path),
        "format": "pem",
        "thumbprint_sha256": active["thumbprint_sha256"],
    }
    certificate = x509.load_pem_x509_certificate(pem_path.read_bytes())
    assert certificate.fingerprint(hashes.SHA256()).hex() == active["thumbprint_sha256"]
    der_path = tmp_path / "ca.der"
    cli.ok(
        "ca-certificate", "download", active["id"],
        "--destination", str(der_path), "--format", "der",
    )  # fmt: skip
    assert x509.load_der_x509_certificate(der_path.read_bytes()) == certificate
    assert stat.S_IMODE(der_path.stat().st_mode) == 0o644
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_download_chain_replaces_the_file_with_the_bundle(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "cafile.pem"
    path.write_text("old bundle\n")
    assert cli.json("ca-certificate", "download-chain", "--destination", str(path)) == {
        "path": str(path),
        "certificates": 1,
    }
    [certificate] = x509.load_pem_x509_certificates(path.read_bytes())
    active = cli.json("ca-certificate", "list")[0]
    assert certificate.fingerprint(hashes.SHA256()).hex() == active["thumbprint_sha256"]


def test_download_of_an_unknown_ca_is_not_found(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    result = cli("ca-certificate", "download", "no-such-ca", "--destination", str(path))
    assert result.exit_code == 4, result.output
    assert "no CA certificate 'no-such-ca'" in result.stderr
    assert not path.exists()
