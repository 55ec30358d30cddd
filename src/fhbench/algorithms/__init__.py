"""Algorithm registry: one module per algorithm, registered by its config key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fhbench.registry import LazyRegistry

if TYPE_CHECKING:
    from fhbench.algorithms.base import Algorithm

# Imported on first use, so checking names (config validation, dry runs) does not import torch.
# Installed distributions add theirs under the entry-point group fhbench.algorithms (docs/extending.md).
ALGORITHMS: LazyRegistry = LazyRegistry(
    {
        "fedavg": "fhbench.algorithms.fedavg:FedAvg",
        "fedprox": "fhbench.algorithms.fedprox:FedProx",
        "scaffold": "fhbench.algorithms.scaffold:Scaffold",
        "apfl": "fhbench.algorithms.apfl:APFL",
        "apple": "fhbench.algorithms.apple:APPLE",
        "fedala": "fhbench.algorithms.fedala:FedALA",
        "epfl": "fhbench.algorithms.epfl:EPFL",
        "local": "fhbench.algorithms.local:Local",
        "fedsa_lora": "fhbench.algorithms.fedsa_lora:FedSALoRA",
        "ffa_lora": "fhbench.algorithms.ffa_lora:FFALoRA",
        "centralized": "fhbench.algorithms.centralized:Centralized",
    },
    group="fhbench.algorithms",
    base="fhbench.algorithms.base:Algorithm",
    name_attribute="name",
)

#: Reference points rather than competing federated methods: tables list them apart, without
#: the best-per-column mark or a rank (no communication / no privacy constraint).
REFERENCES: tuple[str, ...] = ("local", "centralized")


def build(name: str, **hparams) -> Algorithm:
    """Instantiate a registered algorithm; unknown names or hyperparameters name the culprit."""
    if name not in ALGORITHMS:
        raise KeyError(f"unknown algorithm {name!r}; registered: {sorted(ALGORITHMS)}")
    cls = ALGORITHMS[name]
    unknown = set(hparams) - set(cls.hyperparameters())
    if unknown:
        raise TypeError(f"algorithms.{name}: unknown hyperparameter(s) {sorted(unknown)}; known: {cls.hyperparameters()}")
    return cls(**hparams)


def __getattr__(name: str):
    # The interface types live in base.py (which imports torch); re-exported on demand.
    if name in ("Algorithm", "ClientState", "FederationInfo"):
        from fhbench.algorithms import base

        return getattr(base, name)
    raise AttributeError(name)


__all__ = ["ALGORITHMS", "REFERENCES", "Algorithm", "ClientState", "FederationInfo", "build"]
