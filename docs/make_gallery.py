"""Render the plot gallery of docs/plots.md from the case-study data.

Run from the repository root::

    .venv/bin/python docs/make_gallery.py

The imputation plots (trace, density, strip, box, scatter, estimates) impute popmis once
(m = 5, maxit = 10, seed 123) and reuse it. Each figure has its own function ``figure_<name>() -> Figure``; ``FIGURES`` maps the PNG
file name to it, and :func:`main` renders them all. To add a figure (e.g. trace or
density plots of an imputation), write one more function and add it to ``FIGURES``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

# Import the package of this checkout, not whatever an editable install points at.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
matplotlib.use("Agg")  # files only: no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import bayesimpute as bi  # noqa: E402
from bayesimpute.plots import (  # noqa: E402
    plot_corr,
    plot_flux,
    plot_missingness,
    plot_pattern,
    plot_pred,
)

IMAGE_DIR = Path(__file__).resolve().parent / "img"


# ----------------------------------------------------------------------- missing-data patterns
def figure_pattern_popmis() -> Figure:
    return plot_pattern(bi.datasets.load_popmis())


def figure_pattern_impact() -> Figure:
    return plot_pattern(bi.datasets.load_impact("systematic"), cluster="name", npat=15)


def figure_pattern_obesity() -> Figure:
    return plot_pattern(bi.datasets.load_obesity(), cluster="Cluster")


# ----------------------------------------------------------------------- missingness per cluster
def figure_missingness_impact() -> Figure:
    return plot_missingness(bi.datasets.load_impact("systematic"), cluster="name")


def figure_missingness_obesity() -> Figure:
    return plot_missingness(bi.datasets.load_obesity(), cluster="Cluster", rotate=False)


def figure_missingness_popmis() -> Figure:
    return plot_missingness(bi.datasets.load_popmis(), cluster="school", incomplete_only=True)


# ----------------------------------------------------------------------- correlations
def figure_corr_popmis() -> Figure:
    return plot_corr(bi.datasets.load_popmis(), ["popular", "sex", "texp", "teachpop"])


def figure_corr_impact() -> Figure:
    return plot_corr(bi.datasets.load_impact("systematic"))


def figure_corr_obesity() -> Figure:
    return plot_corr(bi.datasets.load_obesity(), ["Time", "Height", "Age", "Weight", "BMI"])


# ----------------------------------------------------------------------- predictor matrices
def _square(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(0, index=columns, columns=columns)


def figure_pred_popmis() -> Figure:
    """The tutorial's 2l.pmm model for popular: school as cluster, sex and texp as fixed."""
    df = bi.datasets.load_popmis()
    pred = _square(list(df.columns))
    pred.loc["popular", ["sex", "texp", "teachpop"]] = 1
    pred.loc["popular", "school"] = -2
    method = pd.Series("", index=df.columns)
    method["popular"] = "2l.pmm"
    return plot_pred(pred, method)


def figure_pred_obesity() -> Figure:
    """Heckman model for Weight (Time = exclusion restriction) and passive BMI."""
    df = bi.datasets.load_obesity()
    pred = _square(list(df.columns))
    for target in ["Height", "FamOb", "Age", "Weight"]:
        pred.loc[target, ["Gender", "Height", "FamOb", "Age", "Weight"]] = 2
        pred.loc[target, "Cluster"] = -2
        pred.loc[target, target] = 0
    pred.loc["Weight", "Time"] = -3
    pred.loc["Weight", "Height"] = -4
    method = pd.Series("", index=df.columns)
    method[["Height", "Age"]] = "2l.pmm"
    method["FamOb"] = "2l.bin"
    method["Weight"] = "2l.heckman"
    method["BMI"] = "~ Weight / Height**2"
    return plot_pred(pred, method)


def figure_pred_impact() -> Figure:
    """2l.pmm with cluster means for every incomplete IMPACT variable."""
    df = bi.datasets.load_impact("systematic")
    pred = _square(list(df.columns))
    incomplete = [c for c in df.columns if df[c].isna().any()]
    for target in incomplete:
        pred.loc[target, [c for c in df.columns if c not in ("name", target)]] = 1
        pred.loc[target, ["age", "mort"]] = 3
        pred.loc[target, "name"] = -2
    method = pd.Series("", index=df.columns)
    method[incomplete] = "2l.pmm"
    return plot_pred(pred, method, not_imputed="omit")


# ----------------------------------------------------------------------- influx / outflux
def figure_flux_popmis() -> Figure:
    return plot_flux(bi.datasets.load_popmis())


def figure_flux_impact() -> Figure:
    return plot_flux(bi.datasets.load_impact("systematic"))


def figure_flux_obesity() -> Figure:
    return plot_flux(bi.datasets.load_obesity())


# ----------------------------------------------------------------------- imputations of popmis
_CACHE: dict = {}
FORMULA = "popular ~ texp + sex + (1 | school)"


def _popmis_imputations():
    """The tutorial's 2l.pmm imputation and single-level pmm for contrast (m=5, maxit=10)."""
    if not _CACHE:
        dat = bi.datasets.load_popmis()[["school", "popular", "texp", "sex"]]
        pred = bi.make_predictor_matrix(dat, cluster="school")
        pred.loc["popular", "sex"] = 2
        _CACHE["data"] = dat
        _CACHE["2l.pmm"] = bi.impute(dat, method={"popular": "2l.pmm"}, predictor_matrix=pred,
                                     m=5, maxit=10, seed=123)
        pred_1l = bi.make_predictor_matrix(dat)
        pred_1l.loc["popular", "school"] = 0
        _CACHE["pmm"] = bi.impute(dat, method={"popular": "pmm"}, predictor_matrix=pred_1l,
                                  m=5, maxit=10, seed=123)
    return _CACHE


def figure_trace_popmis() -> Figure:
    return _popmis_imputations()["2l.pmm"].plot_trace()


def figure_trace_parameters_popmis() -> Figure:
    return _popmis_imputations()["2l.pmm"].plot_trace(parameters=True)


def figure_density_popmis() -> Figure:
    return bi.plot_imputed(_popmis_imputations()["2l.pmm"], "popular")


def figure_density_schools_popmis() -> Figure:
    return bi.plot_imputed(_popmis_imputations()["2l.pmm"], "popular", by="school")


def figure_strip_popmis() -> Figure:
    return bi.plot_imputed(_popmis_imputations()["2l.pmm"], "popular", kind="strip")


def figure_box_popmis() -> Figure:
    return bi.plot_imputed(_popmis_imputations()["2l.pmm"], "popular", kind="box")


def figure_scatter_popmis() -> Figure:
    return bi.plot_imputed(_popmis_imputations()["2l.pmm"], "sex", "popular", by=".imp")


def figure_estimates_popmis() -> Figure:
    runs = _popmis_imputations()
    published = pd.DataFrame({"estimate": [3.599, 0.092, 0.852],
                              "std_error": [0.181, 0.012, 0.039]},
                             index=["Intercept", "texp", "sex"])
    return bi.plot_estimates({
        "complete cases": bi.analyze(runs["data"].dropna(), FORMULA),
        "2l.pmm": bi.pool(runs["2l.pmm"].analyze(FORMULA)),
        "pmm (ignores schools)": bi.pool(runs["pmm"].analyze(FORMULA)),
        "published (R, 2l.pmm)": published,
    })


FIGURES: dict[str, Callable[[], Figure]] = {
    "pattern_popmis.png": figure_pattern_popmis,
    "pattern_impact.png": figure_pattern_impact,
    "pattern_obesity.png": figure_pattern_obesity,
    "missingness_impact.png": figure_missingness_impact,
    "missingness_obesity.png": figure_missingness_obesity,
    "missingness_popmis.png": figure_missingness_popmis,
    "corr_popmis.png": figure_corr_popmis,
    "corr_impact.png": figure_corr_impact,
    "corr_obesity.png": figure_corr_obesity,
    "pred_popmis.png": figure_pred_popmis,
    "pred_obesity.png": figure_pred_obesity,
    "pred_impact.png": figure_pred_impact,
    "flux_popmis.png": figure_flux_popmis,
    "flux_impact.png": figure_flux_impact,
    "flux_obesity.png": figure_flux_obesity,
    "trace_popmis.png": figure_trace_popmis,
    "trace_parameters_popmis.png": figure_trace_parameters_popmis,
    "density_popmis.png": figure_density_popmis,
    "density_schools_popmis.png": figure_density_schools_popmis,
    "strip_popmis.png": figure_strip_popmis,
    "box_popmis.png": figure_box_popmis,
    "scatter_popmis.png": figure_scatter_popmis,
    "estimates_popmis.png": figure_estimates_popmis,
}


def render(name: str, make: Callable[[], Figure], directory: Path = IMAGE_DIR) -> Path:
    """Draw one figure and save it as ``directory / name``."""
    directory.mkdir(parents=True, exist_ok=True)
    fig = make()
    path = directory / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(names: list[str] | None = None) -> None:
    """Render the named figures (default all) into docs/img/."""
    for name in names or list(FIGURES):
        print(render(name, FIGURES[name]))


if __name__ == "__main__":
    main(sys.argv[1:] or None)
