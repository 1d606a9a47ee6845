"""What a method is, as a user reads it: family, kinds, options with their constraints, priors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bayesimpute.methods.options import option_table
from bayesimpute.methods.registry import get_method, method_aliases

__all__ = ["MethodDescription", "describe_method"]


@dataclass(frozen=True)
class MethodDescription:
    """A registered method described: see :func:`describe_method`.

    Attributes
    ----------
    name : str
        The method's registered name (an alias resolves to it).
    aliases : list of str
        Other names of the same method (mice's and micemd's).
    family : str
        The family subpackage that holds it (``gaussian``, ``logistic``, ...).
    summary : str
        The first line of the method class's docstring.
    kinds : list of str
        The variable kinds it imputes.
    multilevel : bool
        Whether it needs a cluster identifier.
    options : DataFrame
        One row per option: ``option``, ``default``, ``constraint``, ``meaning``.
    priors : list of Prior
        The priors of its model under the given options; each names the option that sets it.
    """

    name: str
    aliases: list[str]
    family: str
    summary: str
    kinds: list[str]
    multilevel: bool
    options: pd.DataFrame
    priors: list

    def __str__(self) -> str:
        lines = [f"{self.name} ({self.family}): {self.summary}",
                 f"  imputes: {', '.join(self.kinds)}; needs a cluster: {self.multilevel}"]
        if self.aliases:
            lines.append(f"  aliases: {', '.join(self.aliases)}")
        lines.append("  options:")
        lines += [f"    {row.option} = {row.default!r}: {row.constraint}; {row.meaning}"
                  for row in self.options.itertuples()]
        lines.append("  priors:")
        lines += [f"    {prior}" for prior in self.priors]
        return "\n".join(lines)


def describe_method(name: str, options: Mapping[str, Any] | None = None) -> MethodDescription:
    """Describe a registered imputation method: its options, their constraints and its priors.

    Parameters
    ----------
    name : str
        A name from :func:`bayesimpute.available_methods` (aliases included).
    options : mapping, optional
        Options as given in ``method_options``; the priors are stated under them (the
        method's defaults where None). They are checked as ``impute`` checks them.

    Returns
    -------
    MethodDescription
        Printable; ``.options`` is a DataFrame, ``.priors`` a list of ``Prior``.

    Raises
    ------
    ValueError
        An unknown method name, or an option value the method refuses.

    Examples
    --------
    >>> import bayesimpute as bi
    >>> description = bi.describe_method("2l.pmm")
    >>> description.options.set_index("option").loc["donors", "default"]
    5
    >>> print(description.priors[0])
    beta ~ Normal(0, 10)  [method_options: beta_sd]
    >>> print(bi.describe_method("2l.pmm", {"re_scale": 0.25}).priors[-1])
    psi ~ HuangWand(nu=2, A=0.25): each sd half-t(2, 0.25), correlations uniform  [method_options: re_scale]
    """
    cls = get_method(name)
    if options:
        cls("<describe_method>", options)  # the checks impute() makes, before anything else
    aliases = sorted(alias for alias, canonical in method_aliases().items()
                     if canonical == cls.name)
    family = cls.__module__.split(".")[2] if cls.__module__.startswith("bayesimpute.") else \
        cls.__module__
    summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
    return MethodDescription(
        name=cls.name, aliases=aliases, family=family, summary=summary,
        kinds=sorted(kind.value for kind in cls.kinds), multilevel=bool(cls.multilevel),
        options=pd.DataFrame(option_table(cls), columns=["option", "default", "constraint",
                                                          "meaning"]),
        priors=list(cls.declared_priors(options)),
    )
