"""The agent's HTTP client for the service's device attestation routes.

One attempt is two calls: ``POST /api/v1/device/attestation/nonces`` for a challenge,
then ``POST .../evidence`` (DICE) or ``POST .../tpm-evidence`` (TPM) with the key
store's evidence for it, chosen by the kind of evidence it made. Every failure comes
back as a typed ``AttestationError`` whose ``reason`` the agent records. The client
goes through the configured proxy (basic auth if given) except for hosts on the
no-proxy list, with connect and read timeouts and an overall deadline per attempt.
It verifies the service against ``config.server_ca_file`` when given (``agent run
--server-ca``: one private CA for attestation and updates), else the system roots.
"""

import asyncio
import base64
import binascii
import ssl
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import httpx

from sevenfold.agent.config import AgentConfig
from sevenfold.agent.errors import (
    AgentConfigError,
    AttestationRefusedError,
    KeyStoreFailedError,
    ProxyAuthenticationError,
    ServiceUnreachableError,
    UnexpectedResponseError,
)
from sevenfold.agent.no_proxy import no_proxy_mount_patterns
from sevenfold.agent.trusted.errors import KeyStoreError
from sevenfold.agent.trusted.keystore import KeyStore
from sevenfold.protocol.attestation import Evidence, Measurements
from sevenfold.protocol.problems import PROBLEM_CONTENT_TYPE
from sevenfold.protocol.tpm_evidence import TpmEvidence

NONCES_PATH = "/api/v1/device/attestation/nonces"
EVIDENCE_PATH = "/api/v1/device/attestation/evidence"
TPM_EVIDENCE_PATH = "/api/v1/device/attestation/tpm-evidence"
ATTESTATION_FAILED = "attestation-failed"
MAX_RESPONSE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """A device certificate the service issued, as PEM, and its expiry."""

    certificate_pem: bytes
    chain_pem: bytes
    not_after: datetime


def server_verification(config: AgentConfig) -> ssl.SSLContext | bool:
    """How to verify the service's TLS certificate: a context trusting only
    ``config.server_ca_file`` when given, else ``True`` (the system roots).

    Raises:
        AgentConfigError: the CA bundle cannot be read or holds no certificate.
    """
    if config.server_ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(config.server_ca_file))
    except (OSError, ssl.SSLError) as err:
        raise AgentConfigError(
            f"cannot load the server CA bundle {config.server_ca_file}: {err}"
        ) from err


def proxy_mounts(
    config: AgentConfig, verify: ssl.SSLContext | bool = True
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """httpx mounts: everything through the proxy, no-proxy hosts direct.

    The no-proxy rules are those of ``sevenfold.agent.no_proxy``; ``verify`` is how
    the tunnelled TLS connection verifies the service.
    """
    proxy = config.proxy
    if proxy is None or "*" in config.no_proxy:
        return {}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        "all://": httpx.AsyncHTTPTransport(
            proxy=httpx.Proxy(proxy.url, auth=proxy.auth), verify=verify
        )
    }
    for pattern in no_proxy_mount_patterns(config.no_proxy):
        mounts[pattern] = None
    return mounts


class AttestationClient:
    """Attests one device to one service. Use as an async context manager."""

    def __init__(
        self, config: AgentConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._deadline_s = config.deadline_s
        verify = server_verification(config)  # built once per client
        self._http = httpx.AsyncClient(
            base_url=config.server_url,
            transport=transport,
            mounts=proxy_mounts(config, verify),
            verify=verify,
            trust_env=False,
            timeout=httpx.Timeout(
                config.read_timeout_s, connect=config.connect_timeout_s
            ),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def attest(
        self, keystore: KeyStore[Evidence | TpmEvidence], measurements: Measurements
    ) -> IssuedCertificate:
        """Get a nonce, answer it with evidence; return the certificate.

        Raises:
            ServiceUnreachableError: no answer within the timeouts or the deadline.
            AttestationRefusedError: the service refused; ``reason`` says why.
            UnexpectedResponseError: any other answer.
        """
        try:
            async with asyncio.timeout(self._deadline_s):
                return await self._attest(keystore, measurements)
        except TimeoutError as err:
            raise ServiceUnreachableError(
                f"attestation took longer than {self._deadline_s} s"
            ) from err

    async def _attest(
        self, keystore: KeyStore[Evidence | TpmEvidence], measurements: Measurements
    ) -> IssuedCertificate:
        device_id = keystore.device_id
        answer = await self._post(NONCES_PATH, {"device_id": device_id}, 201)
        nonce = _decode_nonce(answer.get("nonce"))
        try:
            evidence = keystore.evidence(nonce, measurements)
        except ValueError as err:  # a nonce of the wrong length
            raise UnexpectedResponseError(f"unusable nonce: {err}") from err
        except KeyStoreError as err:  # the TPM refused, the software changed
            raise KeyStoreFailedError(f"no evidence: {err}") from err
        if isinstance(evidence, TpmEvidence):
            path, body = TPM_EVIDENCE_PATH, _tpm_evidence_body(device_id, evidence)
        else:
            path, body = EVIDENCE_PATH, _evidence_body(device_id, evidence)
        issued = await self._post(path, body, 200)
        try:
            return IssuedCertificate(
                certificate_pem=str(issued["certificate"]).encode("ascii"),
                chain_pem=str(issued["chain"]).encode("ascii"),
                not_after=datetime.fromisoformat(str(issued["not_after"])),
            )
        except (KeyError, ValueError) as err:
            raise UnexpectedResponseError(
                f"malformed certificate answer: {err}"
            ) from err

    async def _post(
        self, path: str, body: dict[str, Any], expected: int
    ) -> dict[str, Any]:
        try:
            response = await self._http.post(path, json=body)
        except httpx.TransportError as err:
            raise ServiceUnreachableError(
                f"{type(err).__name__} talking to the service: {err}"
            ) from err
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise UnexpectedResponseError(
                f"{path} answered more than {MAX_RESPONSE_BYTES} bytes"
            )
        data = _json_object(response)
        if response.status_code == expected and data is not None:
            return data
        problem = response.headers.get("content-type", "").startswith(
            PROBLEM_CONTENT_TYPE
        )
        if problem and data is not None and data.get("code") == ATTESTATION_FAILED:
            raise AttestationRefusedError(
                str(data.get("reason")), str(data.get("detail", ""))
            )
        if response.status_code == httpx.codes.PROXY_AUTHENTICATION_REQUIRED:
            raise ProxyAuthenticationError("the proxy refused the agent's credentials")
        if response.status_code in (502, 503, 504):
            raise ServiceUnreachableError(f"{path} answered {response.status_code}")
        code = data.get("code") if data is not None else None
        raise UnexpectedResponseError(
            f"{path} answered {response.status_code}" + (f" ({code})" if code else "")
        )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _decode_nonce(text: object) -> bytes:
    if not isinstance(text, str):
        raise UnexpectedResponseError("the nonce answer has no nonce")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as err:
        raise UnexpectedResponseError("the nonce is not base64url") from err


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _common_body(device_id: str, evidence: Evidence | TpmEvidence) -> dict[str, Any]:
    measurements = evidence.measurements
    return {
        "device_id": device_id,
        "nonce": base64.urlsafe_b64encode(evidence.nonce).rstrip(b"=").decode(),
        "measurements": {
            "os_image_sha256": measurements.os_image_sha256.hex(),
            "agent_sha256": measurements.agent_sha256.hex(),
            "app_image_sha256s": [d.hex() for d in measurements.app_image_sha256s],
        },
        "signature": _b64(evidence.signature),
    }


def _evidence_body(device_id: str, evidence: Evidence) -> dict[str, Any]:
    return _common_body(device_id, evidence) | {
        "alias_certificate": _b64(evidence.alias_certificate)
    }


def _tpm_evidence_body(device_id: str, evidence: TpmEvidence) -> dict[str, Any]:
    return _common_body(device_id, evidence) | {
        "quoted": _b64(evidence.quoted),
        "attestation_public_key": _b64(evidence.attestation_public_key),
        "attestation_key_binding": _b64(evidence.attestation_key_binding),
        "pcr_indices": list(evidence.pcr_indices),
        "pcr_values": [value.hex() for value in evidence.pcr_values],
    }
