"""The compared methods: bayesimpute methods, R peers, and the two reference analyses.

Every method turns one replication into tidy rows (one per pooled parameter) through the public
API only, so the study measures what a user gets: ``bi.impute`` -> ``imp.analyze`` ->
``bi.pool`` -> ``summary()`` and ``variance_components()``. An R peer writes the replication's
incomplete data to a CSV and runs a committed script in ``benchmarks/validity/r/`` that imputes,
analyses with lme4 and pools (``r/common.R``), writing the same rows back.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

if TYPE_CHECKING:  # pragma: no cover
    from benchmarks.validity.design import Design, Replication

__all__ = ["Method", "PythonMethod", "PosteriorMethod", "RMethod", "Reference", "Settings",
           "r_available", "ROW_COLUMNS"]

R_SCRIPTS = Path(__file__).resolve().parent / "r"
#: columns of the rows a method returns (the runner adds design, rep, seed, truth, ...)
ROW_COLUMNS = ["parameter", "kind", "estimate", "std_error", "df", "conf_low", "conf_high",
               "seconds", "analysis_seconds", "status", "note", "version"]


@dataclass(frozen=True)
class Settings:
    """Imputation settings of one run."""

    m: int
    maxit: int
    seed: int


class Method(ABC):
    """One entry of a design's method list.

    Attributes
    ----------
    label : str
        Unique within a design; names the rows and the cache files.
    compatible : bool
        Whether the method's imputation model matches the design (the targets apply to
        compatible methods only; the tables show the flag, they do not hide the others).
    note : str
        Why a method is not compatible, or anything else the table should say.
    ci : bool
        Run in the reduced CI version of the design.
    max_reps : int or None
        Run at most this many replications (a slow peer in a full run); the tables show the
        number each method has.
    """

    label: str
    compatible: bool
    note: str
    ci: bool
    max_reps: int | None
    peer: ClassVar[str]

    @abstractmethod
    def run(self, design: Design, replication: Replication, settings: Settings,
            imputation_seed: int) -> pd.DataFrame:
        """Tidy rows (``ROW_COLUMNS``) for one replication."""

    def available(self) -> str | None:
        """None when the method can run here, else the reason it cannot."""
        return None

    #: replications handed to one run_batch call
    batch: ClassVar[int] = 1

    def run_batch(self, design: Design, items: list[tuple[Replication, int]],
                  settings: Settings) -> list[pd.DataFrame | Exception]:
        """``run`` for each (replication, imputation seed); an exception is returned in its
        place, so one failure does not lose the others."""
        outcomes = []
        for replication, seed in items:
            start = time.perf_counter()
            try:
                rows = self.run(design, replication, settings, seed)
                outcomes.append(rows.assign(task_seconds=time.perf_counter() - start))
            except Exception as err:  # noqa: BLE001 - reported as failed rows by the runner
                outcomes.append(err)
        return outcomes


# --------------------------------------------------------------------------- bayesimpute


@dataclass(frozen=True)
class PythonMethod(Method):
    """A bayesimpute imputation: method per column, options, predictor matrix."""

    label: str
    method: Mapping[str, str]
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    predictors: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    compatible: bool = True
    note: str = ""
    ci: bool = False
    max_reps: int | None = None
    peer: ClassVar[str] = "bayesimpute"

    def run(self, design, replication, settings, imputation_seed):
        import bayesimpute as bi

        imp, seconds, imputation_warnings = self._impute(design, replication, settings.m,
                                                         settings.maxit, imputation_seed)
        rows, analysis_seconds, analysis_warnings = _timed(lambda: pooled_rows(
            bi.pool(imp.analyze(design.formula, family=design.family))))
        means = imputed_mean_rows([imp.complete(i) for i in range(settings.m)],
                                  replication.imputed_means)
        if not means.empty:
            rows = pd.concat([rows, means], ignore_index=True)
        notes = [_warning_note("imputation", imputation_warnings),
                 _warning_note("analysis", analysis_warnings), _event_note(imp.logged_events)]
        return _finish(rows, seconds, analysis_seconds, "; ".join(n for n in notes if n),
                       f"bayesimpute {bi.__version__}")

    def _impute(self, design, replication, m: int, maxit: int, imputation_seed: int):
        """``bi.impute`` with this method's settings: the result, seconds and warnings."""
        import bayesimpute as bi

        builder = self.predictors or design.predictors
        options = {column: dict(values) for column, values in self.options.items()} or None
        return _timed(lambda: bi.impute(
            replication.data, method=dict(self.method),
            predictor_matrix=builder(replication.data) if builder is not None else None,
            m=m, maxit=maxit, seed=imputation_seed, method_options=options))


@dataclass(frozen=True)
class PosteriorMethod(PythonMethod):
    """The posterior of a compatible method's analysis model, read directly (no analysis of
    the completed data, no pooling): ``imp.analysis_posterior().summary()``.

    The issue's second kind of estimate ("where the package offers it, the posterior of a
    compatible model"). Estimate = posterior mean, std error = posterior sd, interval = the
    equal-tailed 95% credible interval. A credible interval needs many more draws than m
    imputations do, so the m chains run ``lengthen`` times maxit iterations and the first
    ``burn_share`` of every chain is dropped (after the method's own burn-in); the note
    records the largest R-hat and the smallest bulk ESS over the scored parameters.
    """

    lengthen: int = 10
    burn_share: float = 0.2

    def run(self, design, replication, settings, imputation_seed):
        import bayesimpute as bi

        iterations = settings.maxit * self.lengthen
        imp, seconds, imputation_warnings = self._impute(design, replication, settings.m,
                                                         iterations, imputation_seed)
        posterior, read_seconds, read_warnings = _timed(
            lambda: imp.analysis_posterior(burn=int(iterations * self.burn_share)))
        rows, scored = posterior_rows(posterior, replication.truth.index)
        burn = int(iterations * self.burn_share)
        chains = (f"{settings.m} chains x {iterations} iterations, burn {burn}; max R-hat "
                  f"{scored['r_hat'].max():.3f}, min bulk ESS {scored['ess_bulk'].min():.0f}")
        notes = [chains, _warning_note("imputation", imputation_warnings),
                 _warning_note("posterior", read_warnings), _event_note(imp.logged_events)]
        return _finish(rows, seconds, read_seconds, "; ".join(n for n in notes if n),
                       f"bayesimpute {bi.__version__}")


def posterior_rows(posterior, scored: pd.Index) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy rows of an ``AnalysisPosterior`` (fixed effects, then variance components), and
    its summary restricted to the ``scored`` parameters (for the convergence note)."""
    summary = posterior.summary()
    terms = {str(t) for t in posterior.idata.posterior["fixed"].coords["term"].values}
    rows = pd.DataFrame({
        "parameter": summary.index,
        "kind": ["fixed" if p in terms else "variance" for p in summary.index],
        "estimate": summary["mean"].to_numpy(), "std_error": summary["sd"].to_numpy(),
        "df": np.nan, "conf_low": summary["q2.5"].to_numpy(),
        "conf_high": summary["q97.5"].to_numpy(),
    })  # summary() lists the fixed effects before the variance components
    return rows, summary.loc[summary.index.intersection(scored)]


def _timed(function: Callable[[], Any]) -> tuple[Any, float, list[str]]:
    """Call ``function``; its value, wall seconds and the messages of the warnings it raised
    (recorded for the rows' notes, never hidden)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        value = function()
        seconds = time.perf_counter() - start
    return value, seconds, [str(w.message) for w in caught]


def pooled_rows(pooled) -> pd.DataFrame:
    """Fixed effects from ``summary()``, variance components from ``variance_components()``."""
    summary = pooled.summary()
    fixed = pd.DataFrame({
        "parameter": summary.index, "kind": "fixed", "estimate": summary["estimate"],
        "std_error": summary["std_error"], "df": summary["df"],
        "conf_low": summary["conf_low"], "conf_high": summary["conf_high"],
    })
    components = pooled.variance_components()
    variance = pd.DataFrame({
        "parameter": components.index, "kind": "variance",
        "estimate": components["estimate"], "std_error": np.nan,
        "df": components.get("df", np.nan),
        "conf_low": components["conf_low"], "conf_high": components["conf_high"],
    })
    return pd.concat([fixed, variance], ignore_index=True)


def imputed_mean_rows(datasets: list[pd.DataFrame],
                      imputed_means: Mapping[str, tuple[str, np.ndarray]]) -> pd.DataFrame:
    """Per named row set, the mean over the completed data sets of the column's mean there."""
    rows = [{"parameter": name, "kind": "imputed mean",
             "estimate": float(np.mean([d.loc[mask, column].astype(float).mean()
                                        for d in datasets]))}
            for name, (column, mask) in imputed_means.items()]
    return pd.DataFrame(rows, columns=["parameter", "kind", "estimate"])


def _warning_note(label: str, messages: list[str]) -> str:
    if not messages:
        return ""
    top = pd.Series([m[:80] for m in messages]).value_counts().index[0]
    return f"{label}: {len(messages)} warnings (e.g. '{top}')"


def _event_note(events: pd.DataFrame) -> str:
    if events is None or events.empty:
        return ""
    top = events["event"].astype(str).str[:80].value_counts().index[0]
    return f"logged events: {len(events)} (e.g. '{top}')"


def _finish(rows: pd.DataFrame, seconds: float, analysis_seconds: float, note: str,
            version: str) -> pd.DataFrame:
    rows = rows.assign(seconds=seconds, analysis_seconds=analysis_seconds, status="ok",
                       note=note, version=version)
    return rows.reindex(columns=ROW_COLUMNS)


# --------------------------------------------------------------------------- R peers


@cache
def r_available(*packages: str) -> str | None:
    """None when Rscript and the packages load, else why not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    check = "; ".join(f"suppressMessages(library({p}))" for p in packages) or "invisible()"
    completed = subprocess.run(["Rscript", "-e", check], capture_output=True, text=True)
    if completed.returncode != 0:
        return f"R packages missing ({', '.join(packages)}): {completed.stderr.strip()[-200:]}"
    return None


@dataclass(frozen=True)
class RMethod(Method):
    """An R peer: ``r/<script>`` with a recipe (see the script's header for its keys)."""

    label: str
    script: str
    recipe: Mapping[str, Any]
    packages: tuple[str, ...] = ()
    compatible: bool = True
    note: str = ""
    ci: bool = False
    max_reps: int | None = None
    timeout: int = 3600
    #: replications per R session: R and its packages start once per batch (seconds), but a
    #: batch's rows arrive only when it ends, so slow peers take small batches
    batch: int = 10
    peer: ClassVar[str] = "R"

    @property
    def fcs(self) -> bool:
        """Whether this peer is a chained-equations (mice) method."""
        return self.script == "mice.R"

    def available(self) -> str | None:
        return r_available("jsonlite", "mice", "lme4", "lmerTest", *self.packages)


    def run(self, design, replication, settings, imputation_seed):
        outcome = self.run_batch(design, [(replication, imputation_seed)], settings)[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def run_batch(self, design, items, settings):
        """Rows (or the exception) per (replication, imputation seed), in one R session.

        Each replication's ``task_seconds`` is its own job time in R plus an equal share of
        the session's start-up.
        """
        with tempfile.TemporaryDirectory(prefix="validity-r-") as tmp:
            folder = Path(tmp)
            jobs = []
            for k, (replication, seed) in enumerate(items):
                job = self._job(design, replication, settings, seed, folder / f"job{k}")
                (folder / f"job{k}.json").write_text(json.dumps(job))
                jobs.append(job)
            start = time.perf_counter()
            completed = subprocess.run(
                ["Rscript", str(R_SCRIPTS / self.script),
                 *[str(folder / f"job{k}.json") for k in range(len(jobs))]],
                capture_output=True, text=True, timeout=self.timeout * len(jobs))
            session = time.perf_counter() - start
            outcomes = [self._read_rows(job, completed) for job in jobs]
        job_time = sum(r["job_seconds"].iloc[0] for r in outcomes if isinstance(r, pd.DataFrame))
        share = max(session - job_time, 0.0) / len(jobs)
        return [r if isinstance(r, Exception) else
                r.assign(task_seconds=r.pop("job_seconds") + share) for r in outcomes]

    @staticmethod
    def _read_rows(job: dict, completed: subprocess.CompletedProcess):
        out = Path(job["out"])
        if out.exists():
            rows = pd.read_csv(out, keep_default_na=False, na_values=["NA"])
            rows["note"] = rows["note"].fillna("").astype(str)
            rows = rows.assign(status="ok")
            return rows.reindex(columns=[*ROW_COLUMNS, "job_seconds"])
        error = Path(job["out"] + ".error")
        if error.exists():
            return RuntimeError(f"R: {error.read_text().strip()[:400]}")
        return RuntimeError(f"R failed: {completed.stderr.strip()[-400:]}")

    def _job(self, design, replication, settings, imputation_seed, stem: Path) -> dict:
        data = replication.data
        data.to_csv(f"{stem}_data.csv", index=False, na_rep="NA")
        factors = {c: [str(v) for v in data[c].cat.categories]
                   for c in data.columns if isinstance(data[c].dtype, pd.CategoricalDtype)}
        means = {name: {"column": column, "rows": (np.flatnonzero(mask) + 1).tolist()}
                 for name, (column, mask) in replication.imputed_means.items()}
        return {"data": f"{stem}_data.csv", "out": f"{stem}_rows.csv",
                "m": settings.m, "maxit": settings.maxit, "seed": int(imputation_seed),
                "formula": design.formula, "family": design.family, "factors": factors,
                "imputed_means": means, "recipe": dict(self.recipe)}


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class Reference(Method):
    """The analysis model fitted once: to the complete data (what imputation can reach at
    best) or to the complete cases (listwise deletion). Wald t intervals on each term's
    complete-data df (Satterthwaite for linear mixed models, as ``pool`` uses)."""

    label: str
    rows: str = "complete"  # or "complete cases"
    compatible: bool = True
    note: str = ""
    ci: bool = False
    max_reps: int | None = None
    peer: ClassVar[str] = "reference"

    def run(self, design, replication, settings, imputation_seed):
        import bayesimpute as bi

        data = replication.complete if self.rows == "complete" else replication.data.dropna()
        rows, seconds, caught = _timed(lambda: single_fit_rows(
            bi.analyze(data, design.formula, family=design.family).model_fits()[0]))
        return _finish(rows, 0.0, seconds, _warning_note("analysis", caught),
                       f"bayesimpute {bi.__version__}")


def single_fit_rows(fit, conf_level: float = 0.95) -> pd.DataFrame:
    """Rows of one complete-data fit: t intervals on the term df, variance estimates."""
    df = fit.term_df if fit.term_df is not None else pd.Series(fit.dfcom, index=fit.params.index)
    se = fit.std_errors
    half = stats.t.ppf(0.5 + conf_level / 2, df.to_numpy(dtype=float)) * se
    fixed = pd.DataFrame({"parameter": fit.params.index, "kind": "fixed",
                          "estimate": fit.params.to_numpy(), "std_error": se.to_numpy(),
                          "df": df.to_numpy(), "conf_low": (fit.params - half).to_numpy(),
                          "conf_high": (fit.params + half).to_numpy()})
    variance = pd.DataFrame({"parameter": list(fit.variance_components), "kind": "variance",
                             "estimate": list(fit.variance_components.values())})
    return pd.concat([fixed, variance], ignore_index=True)
