"""The agent's no-proxy rules, shared by the attestation and update clients."""

import pytest

from sevenfold.agent.no_proxy import bypasses_proxy, no_proxy_mount_patterns

NO_PROXY = ("updates.example.com", ".internal", "10.0.0.7", "cdn.example.net:8443")


@pytest.mark.parametrize(
    ("host", "port", "direct"),
    [
        ("updates.example.com", 443, True),
        ("eu.updates.example.com", 443, True),
        ("UPDATES.example.com", None, True),
        ("notupdates.example.com", 443, False),
        ("internal", 80, False),
        ("db.internal", 80, True),
        ("10.0.0.7", 80, True),
        ("110.0.0.7", 80, False),
        ("cdn.example.net", 8443, True),
        ("edge.cdn.example.net", 8443, True),
        ("cdn.example.net", 443, False),
        ("attacker.example", 443, False),
    ],
)
def test_no_proxy_entries_match_hosts_subdomains_and_ports(
    host: str, port: int | None, direct: bool
) -> None:
    assert bypasses_proxy(host, port, NO_PROXY) is direct


def test_a_star_sends_everything_direct() -> None:
    assert bypasses_proxy("anything.example", 443, ("*",))
    assert not bypasses_proxy("anything.example", 443, ())


def test_the_httpx_patterns_spell_the_same_rules() -> None:
    assert no_proxy_mount_patterns(NO_PROXY) == [
        "all://updates.example.com",
        "all://*.updates.example.com",
        "all://*.internal",
        "all://10.0.0.7",
        "all://cdn.example.net:8443",
        "all://*.cdn.example.net:8443",
    ]
