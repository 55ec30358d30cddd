"""FedRep for fhbench (entry point ``fhbench.algorithms: fedrep``).

Kept empty on purpose: fhbench reads the algorithm's hyperparameters from the source of
:mod:`fhbench_fedrep.fedrep` without importing it, and finding that module runs this file.
"""
