"""Network adapters, found and chosen at start.

Every module in this package that defines `INFO` (a `NetworkInfo`) and
`build(settings, config, db)` is a network: its labels, SLA default, webhook
route and settings come from that module alone, so a new network is a new file.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from functools import cache

from bot.config import FileConfig, Settings
from bot.networks.base import Network, NetworkInfo

_NOT_ADAPTERS = frozenset({"base", "transport"})


@cache
def _modules() -> dict:
    found = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name in _NOT_ADAPTERS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        info = getattr(module, "INFO", None)
        if isinstance(info, NetworkInfo) and callable(getattr(module, "build", None)):
            found[info.name] = module
    return found


def catalogue() -> dict[str, NetworkInfo]:
    """Every network socialdesk knows, configured or not, in a stable order."""
    return {name: module.INFO for name, module in _modules().items()}


def info(name: str) -> NetworkInfo:
    """A network's info; an unknown name (a case from a network since removed) gets a plain fallback."""
    return catalogue().get(name) or NetworkInfo(name=name, label=name)


def build_networks(settings: Settings, config: FileConfig | None = None, db=None) -> dict[str, Network]:
    """The networks whose credentials are present. `db`, when given, is where paid API calls are recorded."""
    config = config or FileConfig()
    networks: dict[str, Network] = {}
    for name, module in _modules().items():
        network = module.build(settings, config, db)
        if network is not None:
            networks[name] = network
    return networks


def half_configured(settings: Settings) -> list[tuple[str, str]]:
    """(label, problem) for networks whose settings are started but incomplete, so they are silently off."""
    found = []
    for module in _modules().values():
        check = getattr(module, "half_configured", None)
        problem = check(settings) if check else None
        if problem:
            found.append((module.INFO.label, problem))
    return found


def secret_values(settings: Settings) -> list[str]:
    """Secrets that adapters read from their own settings, so logs can redact them too."""
    found: list[str] = []
    for module in _modules().values():
        read = getattr(module, "secret_values", None)
        found += read(settings) if read else []
    return found


class ByNetwork(Mapping):
    """One `NetworkInfo` field for every known network, read when used: `ByNetwork("label")["x"] == "X"`."""

    def __init__(self, field: str):
        self.field = field

    def __getitem__(self, name: str):
        known = catalogue()
        if name not in known:
            raise KeyError(name)
        return getattr(known[name], self.field)

    def __iter__(self):
        return iter(catalogue())

    def __len__(self) -> int:
        return len(catalogue())
