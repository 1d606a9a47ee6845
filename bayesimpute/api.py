"""The user-facing entry points: impute(), resume() and the helpers that prepare their arguments.

The run machinery lives in :mod:`bayesimpute.engine`; this facade validates the arguments
(``engine.spec``), starts the run (``engine.run``) and wraps it in a
:class:`~bayesimpute.results.MultipleImputation`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayesimpute.defaults import find_default_method
from bayesimpute.diagnostics import warn_if_not_converged
from bayesimpute.engine.run import resume_run, start_run
from bayesimpute.engine.spec import (
    build_spec,
    check_run_arguments,
    make_method,
    make_predictor_matrix,
)
from bayesimpute.quickpred import quickpred
from bayesimpute.results import MultipleImputation
from bayesimpute.validation import warn_user

__all__ = ["impute", "resume", "make_method", "make_predictor_matrix", "quickpred",
           "find_default_method"]


def impute(
    data: pd.DataFrame,
    *,
    method: pd.Series | Mapping[str, str] | str | None = None,
    predictor_matrix: pd.DataFrame | np.ndarray | None = None,
    cluster: str | None = None,
    m: int = 5,
    maxit: int = 10,
    seed: int | np.random.Generator | None = None,
    n_jobs: int = 1,
    post: Mapping[str, Callable] | None = None,
    where: pd.DataFrame | np.ndarray | None = None,
    visit_sequence: list[str] | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    backend: str | None = None,
    keep: str | None = None,
    store: str | os.PathLike | None = None,
    analysis_model: str | None = None,
) -> MultipleImputation:
    """Multiple imputation by chained equations with Bayesian (PyMC) conditional models.

    Parameters
    ----------
    data : pandas.DataFrame
        The incomplete data; never modified.
    method : Series, dict or str, optional
        Method per column (mice names: ``"2l.pmm"``, ``"2l.norm"``, ``"pmm"``, ...;
        ``""`` = not imputed; ``"~ formula"`` = passive). Default: :func:`make_method`.
    predictor_matrix : DataFrame, optional
        Rows = imputed variables, columns = predictors, mice/micemd integer codes
        (0, 1, 2, 3, 4, -2, -3, -4) or role names. Default: :func:`make_predictor_matrix`.
    cluster : str, optional
        The cluster column, if not given as -2 in ``predictor_matrix``.
    m, maxit : int
        Number of imputations (chains) and of FCS iterations.
    seed : int or numpy.random.Generator, optional
        The same seed gives the same imputations for any ``n_jobs``, backend and number
        of Dask workers.
    n_jobs : int
        Chains run in parallel processes (joblib) when > 1 (-1: all cores); with
        ``backend="dask"`` and no client, the number of workers of a temporary local
        Dask cluster. Leave it at 1 with a ``client``.
    post : dict column -> callable, optional
        Applied to the imputed values of a column (a pandas Series indexed by row label)
        after each draw; returns the adjusted values (e.g. ``lambda v: v + 2`` for a
        delta adjustment).
    where : boolean DataFrame, optional
        Cells to impute (default: the missing cells). Observed cells may be flagged too
        (over-imputation): they keep their observed value in the working data, are left
        out of their variable's own fit, and ``complete()`` returns their imputations.
    visit_sequence : list of str, optional
        Order in which the variables are visited.
    method_options : dict column -> dict, optional
        Options of each column's method (e.g. ``{"popular": {"donors": 3}}``).
    progress : bool
        Show a progress bar.
    checkpoint : path, optional
        A folder where every chain's state is saved after every iteration; an interrupted
        run is continued by :func:`bayesimpute.resume` to the same result. On a Dask
        cluster a chain whose worker is lost reruns from its last saved iteration.
    client : dask.distributed.Client, optional
        Run the chains as tasks on this Dask cluster (``pip install 'bayesimpute[dask]'``):
        the data are scattered to the workers once and the chains come back as they
        finish.
    backend : {"serial", "joblib", "dask"}, optional
        Where the chains run; default ``"dask"`` with a client, ``"joblib"`` when
        ``n_jobs`` is not 1, else ``"serial"``. ``"dask"`` without a client uses the
        current Dask client or starts a local cluster for the call.
    keep : {"all", "last"}, optional
        Keep every iteration's imputations in ``idata.posterior_predictive``, or only the
        last (memory O(m x n) instead of O(m x maxit x n); chain means and variances,
        parameters and the out-of-range check still cover every iteration). Default:
        ``"all"`` while they take at most ``bi.settings["keep.all_limit_bytes"]`` (256 MiB
        by default), else ``"last"``.
    store : path, optional
        A folder to stream the imputations to (netCDF): each chain writes its draws to
        disk as it goes and ``idata.posterior_predictive`` is read from there lazily, so
        no process holds more than O(n) of them. On a cluster every worker must reach the
        folder under the same path.
    analysis_model : str, optional
        The analysis (substantive) model in lme4 syntax, e.g.
        ``"y ~ x * w + (1 + x | g)"``, for the compatible methods (``"2l.smc"``,
        ``"smc"``): each incomplete variable they impute is drawn from the analysis model
        times its own covariate model, so that random slopes, interactions and squares
        of incomplete predictors survive imputation. ``imp.analysis_posterior()`` gives
        the analysis model's posterior; ``imp.analyze()`` fits it to the completed data.

    Returns
    -------
    MultipleImputation

    Warns
    -----
    NotConvergedWarning
        Once per run, naming the variables whose imputations have not converged (R-hat
        above :func:`~bayesimpute.diagnostics.rhat_threshold`), with the suggestion to
        continue the run with ``imp.iterate(n)``.
    """
    # where and how to run is checked first: a typo in keep should not wait for the spec
    check_run_arguments(n_jobs=n_jobs, client=client, backend=backend, keep=keep, store=store)
    spec = build_spec(
        data, method=method, predictor_matrix=predictor_matrix, cluster=cluster, m=m,
        maxit=maxit, seed=seed, where=where, visit_sequence=visit_sequence, post=post,
        method_options=method_options, analysis_model=analysis_model,
    )
    if not spec.imputed:
        warn_user("nothing to impute: the result holds m copies of the data", UserWarning)
    run = start_run(spec, n_jobs=n_jobs, client=client, backend=backend, keep=keep, store=store,
                    checkpoint_path=checkpoint, progress=progress)
    result = MultipleImputation(run)
    warn_if_not_converged(result)
    return result


def resume(path: str | os.PathLike, *, n_jobs: int = 1, progress: bool = False,
           client: Any = None, backend: str | None = None) -> MultipleImputation:
    """Continue an interrupted checkpointed run and return its result.

    Chains that had finished are read back; the others restart from their last saved
    iteration with their saved generator state. The result equals that of the
    uninterrupted run with the same seed. Resuming a finished checkpoint just rebuilds the
    result.

    Parameters
    ----------
    path : path
        The folder given as ``checkpoint`` to the interrupted run.
    n_jobs, progress, client, backend
        As in :func:`impute` (``keep`` and ``store`` are those of the interrupted run).

    Returns
    -------
    MultipleImputation
    """
    check_run_arguments(n_jobs=n_jobs, client=client, backend=backend)
    result = MultipleImputation(resume_run(path, n_jobs=n_jobs, client=client, backend=backend,
                                           progress=progress))
    warn_if_not_converged(result)
    return result
