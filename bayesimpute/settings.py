"""The package's thresholds in one validated settings object, as ArviZ's ``rcParams``.

Every threshold a warning, a default or a memory limit rests on is a key of
:data:`settings`, with its default, a validator and a one-line description. The code reads
the value when it needs it, never at import, so :func:`rc_context` changes it for a block
and restores it afterwards. With the defaults every result is what it was before the keys
existed.

This module imports nothing of the package, so any layer may read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

__all__ = ["Settings", "settings", "rc_context"]


@dataclass(frozen=True)
class _Key:
    default: Any
    validate: Callable[[str, Any], Any]
    doc: str


def _number_in(low: float, high: float, *, open_low: bool = True,
               open_high: bool = True) -> Callable[[str, Any], float]:
    """A validator for a real number in an interval (bools are no numbers here)."""
    left, right = "(" if open_low else "[", ")" if open_high else "]"

    def validate(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"settings[{key!r}] must be a number, got {value!r}")
        below = value <= low if open_low else value < low
        above = value >= high if open_high else value > high
        if below or above:
            raise ValueError(f"settings[{key!r}] must lie in {left}{low:g}, {high:g}{right}, "
                             f"got {value!r}")
        return float(value)
    return validate


def _integer_at_least(minimum: int) -> Callable[[str, Any], int]:
    def validate(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise TypeError(f"settings[{key!r}] must be an integer, got {value!r}")
        if value < minimum:
            raise ValueError(f"settings[{key!r}] must be at least {minimum}, got {value!r}")
        return int(value)
    return validate


_INF = float("inf")

_KEYS: dict[str, _Key] = {
    "convergence.rhat_floor": _Key(
        1.05, _number_in(1.0, _INF),
        "R-hat above which NotConvergedWarning warns however short the run"),
    "convergence.false_alarm": _Key(
        0.05, _number_in(0.0, 1.0),
        "chance that independent draws trip the R-hat threshold somewhere in a run"),
    "keep.all_limit_bytes": _Key(
        256 * 2**20, _integer_at_least(0),
        "keep=None keeps every iteration's imputations while they take at most this many bytes"),
    "plausibility.out_of_range_sds": _Key(
        3.0, _number_in(0.0, _INF),
        "observed SDs outside the observed range beyond which an imputation is flagged"),
    "default_method.I_small": _Key(
        7, _integer_at_least(1),
        "find_default_method: fewer clusters than this count as few (micemd's I.small)"),
    "default_method.ni_small": _Key(
        100, _integer_at_least(1),
        "find_default_method: a cluster with fewer observed values than this is small"),
    "default_method.prop_small": _Key(
        0.4, _number_in(0.0, 1.0, open_low=False, open_high=False),
        "find_default_method: clusters count as small above this share of small ones"),
    "cluster_level.chance_level": _Key(
        1e-3, _number_in(0.0, 1.0),
        "is_cluster_level: largest chance that a row-level variable looks cluster-level"),
}


class Settings(MutableMapping):
    """The package's thresholds: a mapping whose keys are fixed and whose values are checked.

    Setting an unknown key or a value its validator refuses raises an error that names the
    key; keys cannot be deleted. :meth:`describe` says what each key decides.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> bi.settings["convergence.rhat_floor"]
    1.05
    >>> with bi.rc_context({"convergence.rhat_floor": 1.01}):
    ...     bi.settings["convergence.rhat_floor"]
    1.01
    >>> bi.settings["convergence.rhat_floor"]
    1.05
    """

    def __init__(self) -> None:
        self._values = {key: spec.default for key, spec in _KEYS.items()}

    def _spec(self, key: str) -> _Key:
        if key not in _KEYS:
            raise KeyError(f"{key!r} is not a setting; settings are {sorted(_KEYS)}")
        return _KEYS[key]

    def __getitem__(self, key: str) -> Any:
        self._spec(key)
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = self._spec(key).validate(key, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"settings keys cannot be deleted ({key!r}); use reset() for defaults")

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return "Settings({" + ", ".join(f"{k!r}: {v!r}" for k, v in self._values.items()) + "})"

    def default(self, key: str) -> Any:
        """The default value of ``key``.

        Examples
        --------
        >>> import bayesimpute as bi
        >>> bi.settings.default("keep.all_limit_bytes") == 256 * 2**20
        True
        """
        return self._spec(key).default

    def describe(self, key: str) -> str:
        """What ``key`` decides, in one line.

        Examples
        --------
        >>> import bayesimpute as bi
        >>> bi.settings.describe("default_method.I_small").startswith("find_default_method")
        True
        """
        return self._spec(key).doc

    def reset(self) -> None:
        """Give every key its default value back.

        Examples
        --------
        >>> import bayesimpute as bi
        >>> bi.settings.reset()
        >>> bi.settings["default_method.ni_small"]
        100
        """
        self._values = {key: spec.default for key, spec in _KEYS.items()}


#: The package's settings; read by the code at use time.
settings = Settings()


@contextmanager
def rc_context(overrides: Mapping[str, Any]) -> Iterator[Settings]:
    """Change some settings for a ``with`` block and restore them on exit, errors included.

    Every override is validated before any is applied, so a bad one changes nothing.

    Parameters
    ----------
    overrides : Mapping[str, Any]
        Key -> value, keys as in :data:`settings`.

    Yields
    ------
    Settings
        The package's settings, with the overrides in force.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> with bi.rc_context({"default_method.I_small": 3}):
    ...     bi.settings["default_method.I_small"]
    3
    >>> bi.settings["default_method.I_small"]
    7
    """
    checked = {key: settings._spec(key).validate(key, value) for key, value in overrides.items()}
    saved = {key: settings[key] for key in checked}
    settings._values.update(checked)
    try:
        yield settings
    finally:
        settings._values.update(saved)
