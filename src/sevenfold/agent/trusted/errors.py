"""Errors raised by the agent's trusted core.

TrustedCoreError
└── KeyStoreError                 the key store cannot be created or opened
    ├── UdsMissingError           no unique device secret has been provisioned
    ├── UdsExistsError            a unique device secret exists; it is never replaced
    ├── UdsInsecureError          the secret's file is not private to its owner
    ├── UdsCorruptError           the secret's file does not hold a 32-byte secret
    ├── MeasurementsChangedError  evidence asked for software the keys were not made for
    ├── ReservedMessageError      ``sign`` was asked to sign what only evidence may
    ├── ClientCertificateError    a TLS client context cannot be built for a certificate
    ├── TpmError                  the TPM cannot be reached or refused a command
    ├── TpmKeysMissingError       no TPM keys have been created in the state directory
    ├── TpmKeysExistError         TPM keys exist; the identity is never replaced
    └── TpmKeysCorruptError       a saved key cannot be read or loaded into this TPM
"""


class TrustedCoreError(Exception):
    """Base of every trusted-core failure."""


class KeyStoreError(TrustedCoreError):
    """The key store cannot do what was asked."""


class UdsMissingError(KeyStoreError):
    """The state directory holds no unique device secret."""


class UdsExistsError(KeyStoreError):
    """A unique device secret already exists; replacing it would lose the identity."""


class UdsInsecureError(KeyStoreError):
    """The UDS file is not a regular file owned by this user and private to it."""


class UdsCorruptError(KeyStoreError):
    """The UDS file does not hold exactly 32 bytes."""


class MeasurementsChangedError(KeyStoreError):
    """Evidence was asked for other measurements than the Alias key is bound to."""


class ReservedMessageError(KeyStoreError):
    """Data in the evidence domain is signed only by ``evidence``, never by ``sign``."""


class ClientCertificateError(KeyStoreError):
    """The certificate is not for this device's key, or the CA bundle is unusable."""


class TpmError(KeyStoreError):
    """The TPM cannot be reached through its TCTI or refused a command."""


class TpmKeysMissingError(KeyStoreError):
    """The state directory holds no TPM key blobs; run ``TpmKeyStore.create``."""


class TpmKeysExistError(KeyStoreError):
    """TPM keys already exist; replacing them would lose the device identity."""


class TpmKeysCorruptError(KeyStoreError):
    """A saved key blob is malformed or was wrapped by another TPM."""
