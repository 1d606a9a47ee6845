"""Why imputing whole clusters inflates the random-effect variances when there are few clusters.

In the validity study's Heckman designs (10 clusters of 1,000, two never asked) every
method's completed-data random-effect variances are high by 6-31%, also 2l.norm's under MAR
(rho = 0), and they are not with every cluster asked. A never-asked cluster's effects can
only come from the posterior predictive, u_new ~ N(0, Psi) with Psi drawn from its posterior
given the 8 asked clusters; the completed data then hold 8 clusters with their own effects
and 2 whose effects have variance E[Psi | data]. With 1,000 rows per cluster the asked
clusters' effects are known almost exactly, so this probe isolates the one step that
matters: imputing 2 of 10 clusters whose neighbours' effects are known (q = 3, Huang &
Wand's prior with nu = 2 and A = 0.5 on the standardised scale, as every linear method of the
package). A Gibbs sampler draws (mu, Psi, a) given the J asked clusters' effects u (mu the
mean of the effects, i.e. the fixed intercept and slopes, under a flat prior; Psi and a by
the prior's exact update), imputes the missing clusters' effects as mu + N(0, Psi) at every
draw, and takes the sample variance of the 10 completed effects (what REML estimates from
clusters this large). Reported per component, averaged over data sets:

- E[Psi_kk | u] / Psi_kk: the inflation of a never-asked cluster's effect variance;
- E[completed-data variance] / Psi_kk: what the analysis of the completed data is centred on
  (1 = unbiased; without missing clusters the sample variance is unbiased);

for J = 8 asked clusters out of 10 (the design) and, for comparison, 18 of 20 and 98 of 100.
Psi is the design's truth on the standardised scale (the outcome's and predictors' sds from
one large replication). At 8 of 10 the probe is repeated with smaller half-t scales A: the
inflation is the prior's (its inverse-Wishart scale 2 nu / a_k, of the order of A^2, is added
to the asked clusters' sum of squares), so a smaller A would move the completed-data
variances towards the truth, at the price of a prior that pulls random-effect sds towards
zero in every data set with few clusters.

A second table measures the same two ratios on the package's own methods, run as the
validity study runs them (m = 5, maxit = 10) on the first replications of ``heckman_rho0``
(rho = 0, so 2l.norm is compatible too): E[Psi | data] from the ``posterior`` group (the
outcome block, mapped back to the analysis model's uncentred, unstandardised scale), and the
variance of the per-cluster least-squares coefficients of the completed data over all 10
clusters and over the 8 asked ones (with 1,000 rows a cluster these are its effects to about
1%).

``python benchmarks/bench_few_cluster_variance.py [--method-reps K]`` writes
benchmarks/results/few_cluster_variance.md and few_cluster_variance_methods.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))
from _common import write_table  # noqa: E402

from bayesimpute.methods.core.priors import CovariancePrior  # noqa: E402
from bayesimpute.methods.gaussian.linear_mixed import LinearMixedPriors  # noqa: E402
from benchmarks.validity.designs.heckman import TRUTH, simulate_heckman  # noqa: E402

DATA_SETS, ITERATIONS, BURN, MISSING = 400, 600, 100, 2
COMPONENTS = ("Intercept", "x1", "x2")
DEFAULT_PRIOR = LinearMixedPriors().covariance
PRIOR_SCALES = (0.25, 0.1)
METHODS = ("bayesimpute 2l.norm", "bayesimpute 2l.heckman")


def standardised_truth(rng: np.random.Generator) -> np.ndarray:
    """diag(Psi) of the design (variances 0.4) on the scale the methods work on."""
    complete = simulate_heckman(rng, rho=0.0).complete
    y_sd = complete["y"].std()
    x_sd = np.array([1.0, complete["x1"].std(), complete["x2"].std()])
    return 0.4 * (x_sd / y_sd) ** 2


def completed_variances(effects: np.ndarray, n_total: int, rng: np.random.Generator,
                        prior: CovariancePrior = DEFAULT_PRIOR
                        ) -> tuple[np.ndarray, np.ndarray]:
    """E[diag Psi | effects] and the mean over draws of the completed effects' sample
    variances, by Gibbs on (mu, Psi, a) given the asked clusters' ``effects``."""
    n_asked, q = effects.shape
    hyper = prior.draw_hyper(q, rng)
    mu = effects.mean(axis=0)
    psi_draws, completed = [], []
    for iteration in range(ITERATIONS):
        psi, hyper = prior.update(effects - mu, hyper, rng)
        mu = rng.multivariate_normal(effects.mean(axis=0), psi / n_asked)
        if iteration >= BURN:
            imputed = mu + rng.multivariate_normal(np.zeros(q), psi, size=n_total - n_asked)
            psi_draws.append(np.diag(psi))
            completed.append(np.vstack([effects, imputed]).var(axis=0, ddof=1))
    return np.mean(psi_draws, axis=0), np.mean(completed, axis=0)


def probe(n_asked: int, truth: np.ndarray, rng: np.random.Generator,
          prior: CovariancePrior = DEFAULT_PRIOR) -> list[dict]:
    inflation, completed = [], []
    for _ in range(DATA_SETS):
        effects = rng.normal(0.0, np.sqrt(truth), size=(n_asked, len(truth)))
        psi_mean, variance = completed_variances(effects, n_asked + MISSING, rng, prior)
        inflation.append(psi_mean / truth)
        completed.append(variance / truth)
    inflation, completed = np.array(inflation), np.array(completed)
    return [{
        "asked / all clusters": f"{n_asked} / {n_asked + MISSING}",
        "prior scale A": f"{prior.scale:g}" + (" (default)" if prior == DEFAULT_PRIOR else ""),
        "component": name,
        "E[Psi | u] / Psi (MC s.e.)": f"{inflation[:, k].mean():.2f} "
                                      f"({inflation[:, k].std(ddof=1) / np.sqrt(DATA_SETS):.2f})",
        "completed-data variance / Psi (MC s.e.)": (
            f"{completed[:, k].mean():.3f} "
            f"({completed[:, k].std(ddof=1) / np.sqrt(DATA_SETS):.3f})"),
    } for k, name in enumerate(COMPONENTS)]


def outcome_psi(imp, column: str, data: pd.DataFrame) -> np.ndarray:
    """Posterior mean of diag Psi of the outcome's (Intercept, x1, x2) effects on the analysis
    model's scale: the methods standardise y by its observed sd and centre and scale the
    predictors, so the intercept effect there is the effect at the predictors' means."""
    psi = imp.idata.posterior[f"{column}_psi"]
    names = [str(v) for v in psi.coords[psi.dims[-2]].values]
    block = [k for k, name in enumerate(names) if name.startswith("out:")] or [0, 1, 2]
    mean = psi.values.reshape(-1, *psi.shape[-2:]).mean(axis=0)[np.ix_(block, block)]
    x = data[["x1", "x2"]]
    x_mean, x_sd = x.mean().to_numpy(), x.std(ddof=0).to_numpy()
    at_zero = np.concatenate([[1.0], -x_mean / x_sd])  # intercept at x = 0, uncentred
    y_sd = data[column].dropna().std(ddof=0)
    return np.array([at_zero @ mean @ at_zero, *(np.diag(mean)[1:] / x_sd**2)]) * y_sd**2


def cluster_coefficients(completed: pd.DataFrame) -> pd.DataFrame:
    """Least-squares (Intercept, x1, x2) of y per cluster."""
    rows = {}
    for cluster, part in completed.groupby("g"):
        X = np.column_stack([np.ones(len(part)), part["x1"], part["x2"]])
        rows[cluster] = np.linalg.lstsq(X, part["y"].to_numpy(), rcond=None)[0]
    return pd.DataFrame(rows, index=list(COMPONENTS)).T


def method_rows(label: str, reps: int) -> list[dict]:
    """The two ratios of the module docstring for one validity method on ``heckman_rho0``."""
    from benchmarks.validity.designs import get_design
    from benchmarks.validity.runner import replication

    design = get_design("heckman_rho0")
    method = design.method(label)
    truth = np.array([TRUTH[f"g: {name}"] for name in COMPONENTS])
    inflation, completed, asked = [], [], []
    for rep in range(reps):
        item, seed = replication(design, 1, rep)
        imp, _, _ = method._impute(design, item, 5, 10, seed)  # the study's own call
        inflation.append(outcome_psi(imp, "y", item.data) / truth)
        never = item.data.groupby("g")["y"].apply(lambda y: y.isna().all())
        for i in range(imp.m):
            coefficients = cluster_coefficients(imp.complete(i))
            completed.append(coefficients.var(ddof=1).to_numpy() / truth)
            asked.append(coefficients[~never.reindex(coefficients.index).to_numpy()]
                         .var(ddof=1).to_numpy() / truth)
    inflation, completed, asked = (np.array(a) for a in (inflation, completed, asked))
    per_set = [c.reshape(reps, -1, len(COMPONENTS)).mean(axis=1) for c in (completed, asked)]
    return [{
        "method": label, "component": name,
        "E[Psi | data] / Psi (MC s.e.)": _mean_se(inflation[:, k]),
        "completed-data variance / Psi (MC s.e.)": _mean_se(per_set[0][:, k]),
        "asked clusters only / Psi (MC s.e.)": _mean_se(per_set[1][:, k]),
        "difference (MC s.e.)": _mean_se(per_set[0][:, k] - per_set[1][:, k]),
    } for k, name in enumerate(COMPONENTS)]


def _mean_se(values: np.ndarray) -> str:
    return f"{values.mean():.2f} ({values.std(ddof=1) / np.sqrt(len(values)):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method-reps", type=int, default=20,
                        help="heckman_rho0 replications per method (default 20; 0 skips)")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    truth = standardised_truth(rng)
    rows = [row for n_asked in (8, 18, 98) for row in probe(n_asked, truth, rng)]
    rows += [row for scale in PRIOR_SCALES
             for row in probe(8, truth, rng, CovariancePrior(df=DEFAULT_PRIOR.df, scale=scale))]
    write_table("few_cluster_variance", pd.DataFrame(rows), [
        f"{DATA_SETS} data sets per row; effects u_j ~ N(0, diag Psi) known exactly (the "
        "design's clusters of 1,000 rows); standardised diag Psi = "
        + ", ".join(f"{v:.3f}" for v in truth) + f"; {ITERATIONS - BURN} Gibbs draws of "
        "(Psi, a) after " + f"{BURN}.",
        "completed-data variance: sample variance of the asked clusters' effects and the "
        f"{MISSING} imputed ones (mu + N(0, Psi) per draw), averaged over the draws.",
        "The validity study's Heckman designs (300 replications) measure +11..21% (2l.norm "
        "at rho = 0) and +12..28% (2l.heckman) on the 10 completed clusters, and -4..+1% "
        "with every cluster asked.",
        f"Prior scale A: Huang & Wand's half-t(nu = {DEFAULT_PRIOR.df:g}, A) on each "
        "standardised random-effect sd; the package's Gaussian and Heckman models use A = "
        f"{DEFAULT_PRIOR.scale:g}.",
    ])
    if args.method_reps:
        rows = [row for label in METHODS for row in method_rows(label, args.method_reps)]
        write_table("few_cluster_variance_methods", pd.DataFrame(rows), [
            f"First {args.method_reps} replications of `heckman_rho0` (validity seed 1), m = 5, "
            "maxit = 10, each method with the validity study's options and predictors.",
            "E[Psi | data]: posterior mean over the m chains' recorded draws of the outcome's "
            "random-effect covariance, on the analysis model's scale (intercept at x = 0).",
            "Completed-data variance: sample variance over the 10 clusters of the per-cluster "
            "least-squares coefficients of each completed data set, averaged over the m; "
            "asked clusters only: the same over the 8 asked clusters (the imputed values of "
            "their sporadically missing rows included); difference: completed minus asked "
            "only, paired by data set (what the 2 imputed clusters add).",
        ])


if __name__ == "__main__":
    main()
