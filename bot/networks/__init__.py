"""Network adapters, chosen at start from the credentials present."""
from __future__ import annotations

from bot.config import FileConfig, Settings, secret
from bot.networks.base import Network


def build_networks(settings: Settings, config: FileConfig | None = None, db=None) -> dict[str, Network]:
    """`db`, when given, is where paid API calls are recorded (X); `socialdesk check` builds them without one."""
    from bot.domain.spend import Meter

    config = config or FileConfig()
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
            costs=config.x,
            meter=Meter(db, "x") if db is not None else None,
        )
    if settings.facebook_enabled:
        from bot.networks.facebook import FacebookNetwork

        networks["facebook"] = FacebookNetwork(
            page_id=settings.facebook_page_id,
            page_token=secret(settings.facebook_page_access_token),
            app_secret=secret(settings.facebook_app_secret),
            verify_token=secret(settings.facebook_verify_token),
            graph_url=settings.facebook_graph_url,
            version=settings.facebook_graph_version,
        )
    return networks
