"""Algorithm registry: one module per algorithm, registered by its config key."""

from __future__ import annotations

from fhbench.algorithms.base import Algorithm, ClientState, FederationInfo
from fhbench.algorithms.epfl import EPFL
from fhbench.algorithms.fedavg import FedAvg

ALGORITHMS: dict[str, type[Algorithm]] = {
    "fedavg": FedAvg,
    "epfl": EPFL,
}


def build(name: str, **hparams) -> Algorithm:
    """Instantiate a registered algorithm; unknown names or hyperparameters name the culprit."""
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; registered: {sorted(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    unknown = set(hparams) - set(cls.hyperparameters())
    if unknown:
        raise TypeError(f"algorithms.{name}: unknown hyperparameter(s) {sorted(unknown)}; known: {cls.hyperparameters()}")
    return cls(**hparams)


__all__ = ["ALGORITHMS", "Algorithm", "ClientState", "FederationInfo", "build"]
