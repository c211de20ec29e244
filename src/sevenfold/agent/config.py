"""The agent's settings, built once at the entry point and passed to every part.

A proxy's password is held apart from its URL (``ProxyConfig.url`` never carries
credentials) and is left out of ``repr``, so logging a config never leaks it.
"""

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sevenfold.agent.errors import AgentConfigError
from sevenfold.agent.measurements import MeasurementSource

DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_DEADLINE_S = 60.0
DEFAULT_BACKOFF_BASE_S = 5.0
DEFAULT_BACKOFF_MAX_S = 3600.0
DEFAULT_UPDATE_CHECK_INTERVAL_S = 72_000.0  # 20 h, as Azure Sphere
DEFAULT_BOOTLIMIT = 3
DEFAULT_FAILURE_UPLOAD_INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """An HTTP(S) proxy: its URL without credentials, and optional basic auth."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentConfigError(
                "a proxy URL is http://HOST:PORT or https://HOST:PORT"
            )
        if parts.username is not None or parts.password is not None:
            raise AgentConfigError(
                "give proxy credentials with --proxy-user and a password file, "
                "not in the proxy URL"
            )
        if (self.username is None) != (self.password is None):
            raise AgentConfigError("proxy basic auth needs both a user and a password")

    @property
    def auth(self) -> tuple[str, str] | None:
        """The basic-auth pair, if any."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """Everything one agent instance needs; one process may hold many."""

    state_dir: Path
    server_url: str
    measurements: MeasurementSource
    proxy: ProxyConfig | None = None
    no_proxy: tuple[str, ...] = ()
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S
    deadline_s: float = DEFAULT_DEADLINE_S
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    install_root: Path | None = None  # None: updates off
    update_check_interval_s: float = DEFAULT_UPDATE_CHECK_INTERVAL_S
    bootlimit: int = DEFAULT_BOOTLIMIT
    server_ca_file: Path | None = None  # None: the system roots verify the service
    # Where update targets (blobs/<sha256>) come from instead of the service: any
    # plain HTTP(S) mirror of the artifact store; TUF makes it untrusted.
    targets_mirror_url: str | None = None
    # How often the failure queue is uploaded besides at start and on each record.
    failure_upload_interval_s: float = DEFAULT_FAILURE_UPLOAD_INTERVAL_S

    def __post_init__(self) -> None:
        parts = urlsplit(self.server_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AgentConfigError("the server URL is http(s)://HOST[:PORT]")
        timeouts = (self.connect_timeout_s, self.read_timeout_s, self.deadline_s)
        if min(timeouts) <= 0:
            raise AgentConfigError("timeouts and the deadline are positive seconds")
        if not 0 < self.backoff_base_s <= self.backoff_max_s:
            raise AgentConfigError("backoff needs 0 < base <= max seconds")
        if self.targets_mirror_url is not None:
            mirror = urlsplit(self.targets_mirror_url)
            if mirror.scheme not in ("http", "https") or not mirror.hostname:
                raise AgentConfigError("a targets mirror is http(s)://HOST[:PORT]/PATH")
        if self.failure_upload_interval_s <= 0:
            raise AgentConfigError("the failure upload interval is positive seconds")
        if self.update_check_interval_s <= 0 or self.bootlimit < 1:
            raise AgentConfigError(
                "the update check interval is positive seconds, the bootlimit >= 1"
            )


def parse_no_proxy(text: str) -> tuple[str, ...]:
    """Split a comma-separated no-proxy list (as in ``NO_PROXY``) into hosts."""
    return tuple(item.strip().lower() for item in text.split(",") if item.strip())
