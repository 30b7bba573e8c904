"""One requests transport for every SDK: the configured base URL, and always a timeout.

tweepy hardcodes its host and facebook-sdk reads a module global, so the
adapters mount this on the SDK's own session instead: that is how `X_API_URL`
and `FACEBOOK_GRAPH_URL` reach the local emulators, and how two bots in one
process (a test and the demo) never fight over a global.
"""
from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

TIMEOUT = (5, 20)  # connect, read: an SDK call never hangs a job or a listener


def is_loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class BaseURLTransport(HTTPAdapter):
    def __init__(self, base_url: str, timeout: tuple[float, float] = TIMEOUT):
        super().__init__(max_retries=0)
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        # Proxies from the environment would capture loopback traffic (the SDKs ignore NO_PROXY here).
        self.loopback = is_loopback(urlsplit(self.base).hostname or "")

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        if self.loopback:
            kwargs["proxies"] = {}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)
