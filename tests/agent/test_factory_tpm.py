"""``sevenfold factory provision --backend tpm`` against swtpm: the identity key is
made in the TPM and the record names the device ID the TPM key store derives."""

import json
from pathlib import Path

from tests.support.swtpm import require_tpm_tools, swtpm

require_tpm_tools()

from sevenfold.agent.trusted.tpm_keystore import TpmKeyStore  # noqa: E402
from sevenfold.protocol.attestation import Measurements  # noqa: E402
from sevenfold.protocol.registration import record_from_line  # noqa: E402
from tests.agent.test_factory import create_key, factory  # noqa: E402


def test_provision_with_the_tpm_backend(tmp_path: Path) -> None:
    key_file, printed = create_key(tmp_path)
    records = tmp_path / "records.jsonl"
    state_dir = tmp_path / "device"
    no_tcti = factory(
        "provision", "--state-dir", str(state_dir), "--backend", "tpm",
        "--manufacturer-key", str(key_file),
    )  # fmt: skip
    assert no_tcti.exit_code == 2
    assert "--tcti" in no_tcti.output
    with swtpm(tmp_path / "swtpm") as tcti:
        result = factory(
            "provision", "--state-dir", str(state_dir), "--backend", "tpm",
            "--tcti", tcti, "--manufacturer-key", str(key_file),
            "--records", str(records), "--output", "json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        zero = Measurements(os_image_sha256=bytes(32), agent_sha256=bytes(32))
        with TpmKeyStore.open(state_dir, zero, tcti=tcti) as store:
            device_id = store.device_id
    assert json.loads(result.stdout)["device_id"] == device_id
    (line,) = records.read_text().splitlines()
    record = record_from_line(line)
    assert (record.device_id, record.manufacturer_key_id) == (
        device_id,
        printed["key_id"],
    )
