"""Cluster levels: several cluster identifiers per model, nested or crossed.

A row of the predictor matrix may code several columns -2 (or ``cluster=["school",
"class"]`` names them): each is a *level* of random effects. Levels are ordered from the
lowest (most clusters, e.g. class) to the highest (fewest, e.g. school). Level ``a`` is
*nested* in level ``b`` when every cluster of ``a`` lies inside one cluster of ``b`` (every
class in one school); two levels neither of which is nested in the other are *crossed*
(pupils cross-classified by primary and secondary school).

Nesting is read from the data, never assumed: labels must identify a cluster on their own
(class ``1`` of school A and class ``1`` of school B are one class ``1`` unless relabelled,
e.g. ``school + "/" + class``). :func:`row_levels` gives each level its ``parent``, the
next level up that it is nested in, which is what the methods need to integrate nested
random effects out level by level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

__all__ = ["ClusterLevel", "make_level", "is_nested", "row_levels", "chains"]


@dataclass(frozen=True)
class ClusterLevel:
    """One cluster identifier as the methods see it.

    Attributes
    ----------
    name : str
        The cluster column.
    codes : ndarray of int, shape (n,)
        Cluster code 0..n_clusters-1 per row.
    labels : ndarray
        The user's labels, in code order.
    n_clusters : int
        Number of clusters.
    parent : str or None
        The next level up (among the levels of the same model) that this level is nested
        in; None for a top level or a level crossed with every other.
    """

    name: str
    codes: np.ndarray
    labels: np.ndarray
    n_clusters: int
    parent: str | None = None


def make_level(column: pd.Series) -> ClusterLevel:
    """Code a cluster column (labels sorted, as the single-cluster engine does)."""
    codes, labels = pd.factorize(column, sort=True)
    return ClusterLevel(str(column.name), codes.astype(np.int64), np.asarray(labels), len(labels))


def is_nested(lower: ClusterLevel, upper: ClusterLevel) -> bool:
    """Whether every cluster of ``lower`` lies inside a single cluster of ``upper``."""
    if lower.n_clusters < upper.n_clusters:
        return False
    pairs = np.unique(lower.codes * upper.n_clusters + upper.codes)
    return len(pairs) == lower.n_clusters


def row_levels(levels: Sequence[ClusterLevel]) -> tuple[ClusterLevel, ...]:
    """The levels of one model, lowest first, each with its ``parent`` among them.

    The parent of a level is, of the other levels it is nested in, the one with the most
    clusters (the class's parent is the school, not the district above it).
    """
    ordered = sorted(levels, key=lambda level: (-level.n_clusters, level.name))
    out = []
    for k, level in enumerate(ordered):
        parent = next((upper.name for upper in ordered[k + 1:] if is_nested(level, upper)), None)
        out.append(replace(level, parent=parent))
    return tuple(out)


def chains(levels: Sequence[ClusterLevel]) -> list[list[int]]:
    """Split levels (as :func:`row_levels` returns them) into nested chains.

    Each chain lists indices into ``levels``, lowest first, each level the parent's child
    (class -> school -> district). A fully nested model is one chain; crossed factors are
    chains of their own. A level whose parent already has a child in another chain starts
    a chain of its own, so the chains partition the levels.
    """
    index = {level.name: k for k, level in enumerate(levels)}
    claimed: set[int] = set()
    out: list[list[int]] = []
    for k in range(len(levels)):
        if k in claimed:
            continue
        chain = [k]
        claimed.add(k)
        parent = levels[k].parent
        while parent is not None and index[parent] not in claimed:
            chain.append(index[parent])
            claimed.add(index[parent])
            parent = levels[index[parent]].parent
        out.append(chain)
    return out
