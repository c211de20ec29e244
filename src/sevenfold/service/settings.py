"""The service's one typed settings object, built once at the entry point.

Sources, highest priority first: explicit keyword arguments, ``SEVENFOLD_*`` environment
variables, a TOML file, the defaults below. Nothing here is read at import time.
"""

import ipaddress
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("/var/lib/sevenfold")


class ServiceSettings(BaseSettings):
    """Everything the service needs to run."""

    model_config = SettingsConfigDict(
        env_prefix="SEVENFOLD_", extra="forbid", frozen=True
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; SQLite in data_dir when unset.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8443, ge=1, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_image_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest image package POST /api/v1/images accepts (streamed).",
    )
    artifact_dir: Path | None = Field(
        default=None,
        description="Where image packages are stored; data_dir/artifacts when unset.",
    )
    job_poll_interval_s: float = Field(default=0.2, gt=0)
    bulk_claim_batch_size: int = Field(default=100, ge=1, le=1000)
    default_page_size: int = Field(default=100, ge=1, le=1000)
    attestation_nonce_lifetime_s: int = Field(default=60, ge=5, le=3600)
    attestation_nonces_per_device: int = Field(
        default=8,
        ge=1,
        le=64,
        description="Outstanding nonces kept per device; the oldest is dropped.",
    )
    default_eval_window_days: int = Field(
        default=14,
        ge=0,
        le=90,
        description="Days an OS release stays in retail-eval before promotion.",
    )
    release_promotion_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often the service promotes OS releases whose window ended.",
    )
    failure_event_retention_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="Days failure events are kept (Azure Sphere kept 14).",
    )
    rollout_evaluation_interval_s: float = Field(
        default=10.0,
        gt=0,
        description="How often the service opens rollout waves and judges failure "
        "policies; an ingested failure also wakes the evaluator at once.",
    )
    rollout_webhook_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+$",
        description="URL the service POSTs to (JSON) when a rollout halts itself.",
    )
    rollout_webhook_secret_file: Path | None = Field(
        default=None,
        description="File with the secret that signs webhook bodies "
        "(X-Sevenfold-Signature: sha256=HMAC); unsigned when unset.",
    )
    key_encryption_key_file: Path | None = Field(
        default=None,
        description=(
            "File with the 32-byte key (base64, mode 0600) that encrypts tenant CA "
            "keys; data_dir/key-encryption-key when unset. No default key exists."
        ),
    )

    trusted_proxy_addresses: list[str] = Field(
        default_factory=list,
        description=(
            "IP addresses or CIDR networks of reverse proxies that end TLS and pass "
            "the device certificate in client_certificate_header; empty: none."
        ),
    )
    client_certificate_header: str = Field(
        default="X-Client-Certificate",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Header with the URL-encoded PEM client certificate (nginx "
        "$ssl_client_escaped_cert), read only from trusted_proxy_addresses.",
    )

    tls_certificate_file: Path | None = Field(
        default=None,
        description="PEM server certificate (chain) for direct HTTPS with client "
        "certificates; with tls_key_file. Unset: plain HTTP behind a proxy.",
    )
    tls_key_file: Path | None = Field(
        default=None,
        description="PEM private key of tls_certificate_file; not group/other "
        "readable.",
    )

    @model_validator(mode="after")
    def _tls_files_come_in_pairs(self) -> "ServiceSettings":
        if (self.tls_certificate_file is None) != (self.tls_key_file is None):
            raise ValueError(
                "set both tls_certificate_file and tls_key_file, or neither"
            )
        return self

    @field_validator("trusted_proxy_addresses")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as err:
                raise ValueError(f"not an IP address or network: {entry!r}") from err
        return value

    @property
    def trusted_proxy_networks(
        self,
    ) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The trusted proxy addresses as networks."""
        return tuple(
            ipaddress.ip_network(entry, strict=False)
            for entry in self.trusted_proxy_addresses
        )

    @field_validator("database_url")
    @classmethod
    def _url_names_a_supported_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("database_url must be a sqlite:// or postgresql:// URL")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; say so explicitly for SQLAlchemy.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @property
    def effective_database_url(self) -> str:
        """The URL the engine connects to."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'sevenfold.db'}"

    @property
    def effective_artifact_dir(self) -> Path:
        """The artifact store's directory (``data_dir/artifacts`` unless set)."""
        if self.artifact_dir is not None:
            return self.artifact_dir
        return self.data_dir / "artifacts"

    @property
    def effective_key_encryption_key_file(self) -> Path:
        """Where the key-encryption key is read from (and ``init`` writes it)."""
        if self.key_encryption_key_file is not None:
            return self.key_encryption_key_file
        return self.data_dir / "key-encryption-key"


def load_settings(config_file: Path | None = None, **overrides: Any) -> ServiceSettings:
    """Build settings from a TOML file (optional), the environment and overrides.

    Explicit overrides (None means "not given") win over ``SEVENFOLD_*`` environment
    variables, which win over the file, which wins over the defaults.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        with config_file.open("rb") as stream:
            file_values = tomllib.load(stream)
    from_env = ServiceSettings()
    env_values = {name: getattr(from_env, name) for name in from_env.model_fields_set}
    explicit = {key: value for key, value in overrides.items() if value is not None}
    return ServiceSettings(**{**file_values, **env_values, **explicit})
