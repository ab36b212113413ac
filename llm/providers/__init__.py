"""The one place providers are registered.

Built-in tiers register here the same way any other would: a tier name and a factory.
``get_provider`` builds each provider once per process (the embedded model is loaded
once and shared by every session).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from llm.providers.base import Provider

_factories: dict[str, Callable[[], Provider]] = {}
_instances: dict[str, Provider] = {}
_lock = threading.Lock()

TIER_ORDER = ("embedded", "local", "cloud")


def register(tier: str, factory: Callable[[], Provider]) -> None:
    with _lock:
        _factories[tier] = factory
        _instances.pop(tier, None)


def registered_tiers() -> list[str]:
    return [t for t in TIER_ORDER if t in _factories] + [
        t for t in _factories if t not in TIER_ORDER
    ]


def get_provider(tier: str) -> Provider:
    with _lock:
        if tier not in _instances:
            if tier not in _factories:
                raise KeyError(f"No provider is registered for the {tier!r} tier.")
            _instances[tier] = _factories[tier]()
        return _instances[tier]


def _embedded() -> Provider:
    from llm.providers.embedded import EmbeddedProvider

    return EmbeddedProvider()


def _local() -> Provider:
    from llm.providers.ollama import OllamaProvider

    return OllamaProvider()


def _cloud() -> Provider:
    from llm.providers.cloud import CloudProvider

    return CloudProvider()


def _register_builtins() -> None:
    """Imports happen on first use, so ``import llm`` stays light (no openai, no ollama)."""
    register("embedded", _embedded)
    register("local", _local)
    register("cloud", _cloud)


_register_builtins()
