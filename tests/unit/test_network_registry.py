"""The network registry: each adapter module brings its labels, SLA default, settings and secrets."""
from __future__ import annotations

import logging
from datetime import timedelta

from bot.config import FileConfig, Settings
from bot.logs import RedactingFormatter, secret_values
from bot.networks import ByNetwork, build_networks, catalogue, half_configured, info


def test_every_adapter_module_is_a_network_with_its_own_info():
    known = catalogue()
    assert set(known) == {"x", "facebook", "instagram"}
    assert ByNetwork("label")["instagram"] == "Instagram" and info("x").sla == timedelta(minutes=15)
    assert info("tiktok").label == "tiktok"  # a case from a network since removed still renders


def test_instagram_reads_its_own_prefix_and_borrows_the_meta_apps_settings(monkeypatch):
    monkeypatch.setenv("INSTAGRAM_ACCOUNT_ID", "17841400008460056")
    settings = Settings(_env_file=None, facebook_page_access_token="page-token-abc", facebook_app_secret="meta-secret")
    network = build_networks(settings, FileConfig())["instagram"]
    assert network.account_id == "17841400008460056" and network._app_secret == "meta-secret"
    [(label, problem)] = half_configured(Settings(_env_file=None))  # the account id, but no token anywhere
    assert label == "Instagram" and "INSTAGRAM_ACCOUNT_ID is set" in problem


def test_secrets_from_a_networks_own_settings_never_reach_the_log(monkeypatch):
    monkeypatch.setenv("INSTAGRAM_ACCESS_TOKEN", "ig-token-never-logged-77")
    formatter = RedactingFormatter("%(message)s", secret_values(Settings(_env_file=None)))
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "sent with %s", ("ig-token-never-logged-77",), None)
    assert formatter.format(record) == "sent with ***"
