"""Plots for exploring incomplete multilevel data (matplotlib).

Every function returns the :class:`matplotlib.figure.Figure` it drew on, so a user can
restyle it (``fig.axes[0]`` is the main axes) or save it with ``fig.savefig``.
"""

from bayesimpute.plots.correlation import plot_corr
from bayesimpute.plots.flux import plot_flux
from bayesimpute.plots.missingness import plot_missingness
from bayesimpute.plots.pattern import plot_pattern
from bayesimpute.plots.predictor import PREDICTOR_CODES, plot_pred

__all__ = [
    "plot_pattern",
    "plot_missingness",
    "plot_corr",
    "plot_pred",
    "plot_flux",
    "PREDICTOR_CODES",
]
