"""The analysis families: one table that ``analyze``, the GLMM fitter and model files read.

Each family is fitted either as lme4's ``lmer`` (profiled REML / ML, :mod:`.lmm`) or as
``glmer`` by Laplace's method (:mod:`.glmm`), always with its canonical link.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Family", "FAMILY_TABLE", "FAMILIES", "LAPLACE_FAMILIES", "check_family"]


@dataclass(frozen=True)
class Family:
    """One analysis family.

    Attributes
    ----------
    name : str
        As ``analyze(family=...)`` takes it.
    link : str
        The canonical link, the only one supported.
    laplace : bool
        Fitted by Laplace's method as ``glmer`` (True) or by profiled REML as ``lmer``.
    """

    name: str
    link: str
    laplace: bool


#: every family, by name, in the order error messages list them
FAMILY_TABLE: dict[str, Family] = {
    family.name: family for family in (
        Family("gaussian", link="identity", laplace=False),
        Family("binomial", link="logit", laplace=True),
        Family("poisson", link="log", laplace=True),
    )
}
FAMILIES: tuple[str, ...] = tuple(FAMILY_TABLE)
#: the families of generalised linear mixed models (glmer)
LAPLACE_FAMILIES: tuple[str, ...] = tuple(n for n, f in FAMILY_TABLE.items() if f.laplace)


def check_family(family: str, allowed: tuple[str, ...] = FAMILIES) -> Family:
    """The table entry of ``family``, refused unless it is among ``allowed``.

    Parameters
    ----------
    family : str
        The family's name.
    allowed : tuple of str
        The names this caller accepts (all families by default).

    Returns
    -------
    Family

    Raises
    ------
    ValueError
        If ``family`` is not among ``allowed``.

    Examples
    --------
    >>> check_family("poisson").link
    'log'
    >>> check_family("gaussian", LAPLACE_FAMILIES)
    Traceback (most recent call last):
    ...
    ValueError: family must be one of ('binomial', 'poisson'), got 'gaussian'
    """
    if family not in allowed:
        raise ValueError(f"family must be one of {allowed}, got {family!r}")
    return FAMILY_TABLE[family]
