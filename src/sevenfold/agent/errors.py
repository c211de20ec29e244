"""Errors raised by the agent outside its trusted core (``agent.trusted.errors``).

AgentError
├── AgentConfigError            the agent's settings are unusable
├── MeasurementError            a file to measure cannot be read
├── StateCorruptError           a state file exists but cannot be read or parsed
└── AttestationError            one attestation attempt failed
    ├── ServiceUnreachableError the service (or the proxy) did not answer in time
    ├── UnexpectedResponseError the service answered something the agent cannot use
    ├── ProxyAuthenticationError the proxy refused the agent's credentials (407)
    ├── KeyStoreFailedError     the key store could not make evidence (TPM refused)
    └── AttestationRefusedError the service refused the evidence; ``reason`` says why
└── UpdateError                 one update check failed (docs/updates.md §5)
    ├── UpdateUnreachableError  the update service did not answer usably
    │   └── NoDeviceIdentityError   no certificate usable with the running key yet
    ├── UpdateMetadataRefusedError  TUF metadata failed verification (ngclient)
    ├── UpdateTargetRefusedError    a download is not the signed length or hashes
    ├── UpdateVerificationError     verified metadata does not authorise the update
    │   ├── DirectorImageDisagreementError director and image repository differ
    │   ├── DirectorBindingError    director metadata names another device
    │   ├── DirectorTargetsInvalidError the director's target list is malformed
    │   └── SecurityVersionRollbackError below the device's anti-rollback floor
    ├── UpdateInstallError      the install backend refused or failed
    ├── UpdateHealthCheckError  a trial boot failed its health check
    └── UpdateLockedError       another update cycle holds the lock
└── CapabilityError             a capability grant is refused (other device, unsigned,
                                not the tenant's, older than the one applied)
└── FailureQueueError           the failure journal cannot be read or a seal saved
└── FailureUploadError          one failure-report upload failed
    ├── FailureUploadUnreachableError the service did not answer usably (retry)
    └── FailureUploadRefusedError     the service refuses the batch as malformed
"""


class AgentError(Exception):
    """Base of every agent failure outside the trusted core."""


class AgentConfigError(AgentError):
    """A setting is missing, malformed or contradicts another."""


class MeasurementError(AgentError):
    """The OS image, agent or an app image cannot be read to be measured."""


class StateCorruptError(AgentError):
    """A state file exists but is too large, not the expected format or version."""


class AttestationError(AgentError):
    """One attestation attempt failed; ``reason`` is what the agent records."""

    reason = "attestation-error"


class ServiceUnreachableError(AttestationError):
    """No answer: connection refused, proxy failure, timeout or deadline passed."""

    reason = "service-unreachable"


class UnexpectedResponseError(AttestationError):
    """The service answered with a status or body the agent does not understand."""

    reason = "unexpected-response"


class ProxyAuthenticationError(AttestationError):
    """The proxy answered 407: no, or wrong, basic-auth credentials."""

    reason = "proxy-authentication-failed"


class KeyStoreFailedError(AttestationError):
    """The key store could not make evidence (the TPM refused, or the measured
    software changed since the key store was opened)."""

    reason = "key-store-failed"


class AttestationRefusedError(AttestationError):
    """The service refused the evidence (403 ``attestation-failed``)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(
            f"attestation refused: {reason}" + (f" ({detail})" if detail else "")
        )
        self.reason = reason


class UpdateError(AgentError):
    """One update check or transition failed; ``reason`` is what the agent reports."""

    reason = "update-error"


class UpdateUnreachableError(UpdateError):
    """The update service (or proxy) did not answer, or answered an HTTP error."""

    reason = "update-service-unreachable"


class NoDeviceIdentityError(UpdateUnreachableError):
    """No mTLS identity yet: no certificate, or one made for another Alias key (a
    trial boot that has not re-attested). Local, so not a network failure."""

    reason = "no-device-identity"


class UpdateMetadataRefusedError(UpdateError):
    """TUF metadata failed verification: bad signature, rollback, expiry, mix and
    match, or over its size cap (python-tuf ngclient)."""

    reason = "metadata-refused"


class UpdateTargetRefusedError(UpdateError):
    """A downloaded image is longer than signed, or its hashes do not match."""

    reason = "target-refused"


class UpdateVerificationError(UpdateError):
    """Verified metadata does not authorise this update (Uptane full verification)."""

    reason = "verification-failed"


class DirectorImageDisagreementError(UpdateVerificationError):
    """A director target is missing from the image repository or differs in length,
    hashes or the agreeing custom fields."""

    reason = "director-image-disagreement"


class DirectorBindingError(UpdateVerificationError):
    """The director metadata is bound to another device (a replay)."""

    reason = "director-binding"


class DirectorTargetsInvalidError(UpdateVerificationError):
    """The director lists targets the agent cannot use (two OS images, two images of
    one app, a malformed custom field)."""

    reason = "director-targets-invalid"


class SecurityVersionRollbackError(UpdateVerificationError):
    """The OS target's security version is below the device's anti-rollback floor."""

    reason = "security-version-rollback"


class UpdateInstallError(UpdateError):
    """The install backend could not stage, install or commit an image."""

    reason = "install-failed"


class UpdateHealthCheckError(UpdateError):
    """A trial boot could not attest or reach the service."""

    reason = "health-check-failed"


class UpdateLockedError(UpdateError):
    """Another update cycle (the daemon or ``agent check``) holds the update lock."""

    reason = "update-locked"


class InstallError(AgentError):
    """The install backend refused or failed an operation (docs/updates.md §6).

    InstallError
    ├── AntiRollbackError        lower security version or a version not above
    ├── PackageMismatchError     a file is not the target's length or sha256
    ├── SlotCorruptError         the committed slot no longer matches its slot.json
    ├── InstallStateCorruptError an install state file is unreadable, no fallback
    └── InstallRefusedError      the request does not fit the backend's state
        └── TrialPendingError    a trial boot must be committed or rolled back first
    """


class AntiRollbackError(InstallError):
    """The image's security version is below the floor, or its version is not above
    the committed one (threat: downgrade to a vulnerable image)."""


class PackageMismatchError(InstallError):
    """A package file's length or sha256 differs from its target description."""


class SlotCorruptError(InstallError):
    """The committed slot's package no longer matches its slot.json: nothing
    verified is left to boot; the device needs service."""


class InstallStateCorruptError(InstallError):
    """An install state file is malformed and no fallback copy can stand in."""


class InstallRefusedError(InstallError):
    """The request does not fit the backend's state (not booted, not initialised,
    already initialised, wrong image kind, no trial to commit)."""


class TrialPendingError(InstallRefusedError):
    """An OS trial is booted: commit it or let it roll back before staging another."""


class CapabilityError(AgentError):
    """A capability grant is refused: malformed, unsigned, made for another device,
    not signed by this device's tenant CA, or older than the grant applied."""


class FailureQueueError(AgentError):
    """The failure journal cannot be read, or sealed records cannot be saved
    (docs/failures.md §1)."""


class FailureUploadError(AgentError):
    """The service refused a failure-report batch or answered something unusable."""

    reason = "failure-upload-failed"


class FailureUploadUnreachableError(FailureUploadError):
    """The service (or the proxy) did not answer, or answered a 5xx; try later."""

    reason = "failure-upload-unreachable"


class FailureUploadRefusedError(FailureUploadError):
    """The service refused the batch as malformed (422 ``invalid-failure-report``):
    sending it again cannot help."""

    reason = "failure-upload-refused"
