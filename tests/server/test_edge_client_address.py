"""``forwarded_client``: reading X-Forwarded-For from the right, past trusted proxies only."""

from __future__ import annotations

import pytest

from server.edge import forwarded_client
from server.settings import Settings, SettingsError, parse_networks

NGINX = parse_networks("172.28.0.10")
TWO_HOPS = parse_networks("172.28.0.10, 10.0.0.0/8")


def test_the_entry_the_trusted_proxy_appended_is_the_client() -> None:
    assert forwarded_client(["6.6.6.6", " 203.0.113.9"], NGINX) == "203.0.113.9"


def test_entries_of_further_trusted_proxies_are_skipped() -> None:
    assert forwarded_client(["6.6.6.6", "203.0.113.9", "10.1.2.3"], TWO_HOPS) == "203.0.113.9"


def test_all_trusted_means_the_left_most() -> None:
    assert forwarded_client(["10.1.1.1", "10.2.2.2"], TWO_HOPS) == "10.1.1.1"


def test_ports_and_brackets_are_taken_off() -> None:
    assert forwarded_client(["203.0.113.9:5555"], NGINX) == "203.0.113.9"
    assert forwarded_client(["[2001:db8::1]:443"], NGINX) == "2001:db8::1"
    assert forwarded_client(["2001:db8::2"], NGINX) == "2001:db8::2"


@pytest.mark.parametrize("entries", [[], ["not-an-address"], ["1.2.3.4", "unknown"]])
def test_no_usable_entry_keeps_the_peer(entries: list[str]) -> None:
    assert forwarded_client(entries, NGINX) is None


def test_trusted_proxies_default_to_none() -> None:
    assert Settings().trusted_proxy_networks == ()


def test_a_malformed_trusted_proxy_stops_the_start() -> None:
    with pytest.raises(SettingsError, match="FIELDLINE_TRUSTED_PROXIES"):
        Settings.from_env({"FIELDLINE_TRUSTED_PROXIES": "10.0.0.0/8, nginx"})
