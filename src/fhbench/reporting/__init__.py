"""Tables, figures and the reproduction report, each computed from the tidy per-run metrics.

``TABLE_KINDS`` (experiment kinds) and ``FIGURE_KINDS`` are the registries the config's
``experiments.*.kind`` and ``figures.*.kind`` are checked against.
"""

from fhbench.reporting.figures import FIGURES as FIGURE_KINDS
from fhbench.reporting.report import EXPERIMENT_KINDS as TABLE_KINDS

__all__ = ["FIGURE_KINDS", "TABLE_KINDS"]
