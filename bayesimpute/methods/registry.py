"""Name -> method class registry: methods plug in here, the sampler looks them up here."""

from __future__ import annotations

from collections.abc import Callable

from bayesimpute.methods.base import ImputationMethod

__all__ = ["register_method", "get_method", "available_methods", "method_aliases"]

_REGISTRY: dict[str, type[ImputationMethod]] = {}
_ALIASES: dict[str, str] = {}


def register_method(
    name: str, *, aliases: tuple[str, ...] = ()
) -> Callable[[type[ImputationMethod]], type[ImputationMethod]]:
    """Class decorator registering an :class:`ImputationMethod` under ``name``."""

    def decorate(cls: type[ImputationMethod]) -> type[ImputationMethod]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"an imputation method named {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        for alias in aliases:
            _ALIASES[alias] = name
        return cls

    return decorate


def get_method(name: str) -> type[ImputationMethod]:
    """Look a method up by name or alias; unknown names get the list of valid ones."""
    canonical = _ALIASES.get(name, name)
    try:
        return _REGISTRY[canonical]
    except KeyError:
        raise ValueError(
            f"unknown imputation method {name!r}; available methods: "
            f"{', '.join(available_methods())} (or a passive formula starting with '~')"
        ) from None


def available_methods() -> list[str]:
    """Names of every registered method and alias, sorted."""
    return sorted([*_REGISTRY, *_ALIASES])


def method_aliases() -> dict[str, str]:
    return dict(_ALIASES)
