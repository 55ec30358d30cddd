"""Algorithm registry: one module per algorithm, registered by its config key."""

from __future__ import annotations

from fhbench.algorithms.base import Algorithm, ClientState, FederationInfo
from fhbench.algorithms.apfl import APFL
from fhbench.algorithms.apple import APPLE
from fhbench.algorithms.epfl import EPFL
from fhbench.algorithms.fedala import FedALA
from fhbench.algorithms.fedavg import FedAvg
from fhbench.algorithms.fedprox import FedProx
from fhbench.algorithms.fedsa_lora import FedSALoRA
from fhbench.algorithms.ffa_lora import FFALoRA
from fhbench.algorithms.local import Local
from fhbench.algorithms.scaffold import Scaffold

ALGORITHMS: dict[str, type[Algorithm]] = {
    "fedavg": FedAvg,
    "fedprox": FedProx,
    "scaffold": Scaffold,
    "apfl": APFL,
    "apple": APPLE,
    "fedala": FedALA,
    "epfl": EPFL,
    "local": Local,
    "fedsa_lora": FedSALoRA,
    "ffa_lora": FFALoRA,
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
