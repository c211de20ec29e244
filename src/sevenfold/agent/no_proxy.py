"""Which hosts the agent reaches directly although a proxy is configured.

One set of rules for every client of the agent (attestation over httpx, updates over
urllib3). A no-proxy entry is ``*`` (no proxy at all), a host or IP (it and, for
names, its subdomains), ``.domain`` (subdomains only) or ``host:port`` (that host on
that port only; for names also its subdomains on that port).
"""

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class _NoProxyRule:
    host: str
    port: int | None
    exact_host: bool
    subdomains: bool


def _looks_like_ip(host: str) -> bool:
    return host.replace(".", "").replace(":", "").isdigit()


def _rule(entry: str) -> _NoProxyRule:
    subdomains_only = entry.startswith(".")
    host, port = entry.lower().removeprefix("."), None
    name, separator, maybe_port = host.rpartition(":")
    if separator and maybe_port.isdigit() and name and ":" not in name:
        host, port = name, int(maybe_port)
    if subdomains_only:
        return _NoProxyRule(host, port, exact_host=False, subdomains=True)
    return _NoProxyRule(
        host, port, exact_host=True, subdomains=not _looks_like_ip(host)
    )


def bypasses_proxy(host: str, port: int | None, no_proxy: Iterable[str]) -> bool:
    """True if ``host`` (on ``port``) is to be reached without the proxy."""
    host = host.lower().strip("[]")
    for entry in no_proxy:
        if entry == "*":
            return True
        rule = _rule(entry)
        if rule.port is not None and rule.port != port:
            continue
        if rule.exact_host and host == rule.host:
            return True
        if rule.subdomains and host.endswith("." + rule.host):
            return True
    return False


def no_proxy_mount_patterns(no_proxy: Iterable[str]) -> list[str]:
    """The httpx mount patterns (mapped to ``None``: go direct) for ``no_proxy``.

    The same rules as ``bypasses_proxy``, spelled as httpx URL patterns; ``*`` is
    left to the caller (it means: configure no proxy at all).
    """
    patterns: list[str] = []
    for entry in no_proxy:
        rule = _rule(entry)
        port = "" if rule.port is None else f":{rule.port}"
        if rule.exact_host:
            patterns.append(f"all://{rule.host}{port}")
        if rule.subdomains:
            patterns.append(f"all://*.{rule.host}{port}")
    return patterns
