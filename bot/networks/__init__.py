"""Network adapters, chosen at start from the credentials present."""
from __future__ import annotations

from bot.config import Settings, secret
from bot.networks.base import Network


def build_networks(settings: Settings) -> dict[str, Network]:
    networks: dict[str, Network] = {}
    if settings.x_enabled:
        from bot.networks.x import XNetwork

        networks["x"] = XNetwork(
            bearer_token=secret(settings.x_bearer_token),
            api_key=secret(settings.x_api_key),
            api_secret=secret(settings.x_api_secret),
            access_token=secret(settings.x_access_token),
            access_token_secret=secret(settings.x_access_token_secret),
            api_url=settings.x_api_url,
            search_query=settings.x_search_query,
            user_id=settings.x_user_id,
        )
    return networks
