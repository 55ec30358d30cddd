"""OrganMNIST3D and a volume backbone for fhbench (entry points ``fhbench.datasets: organmnist3d``,
``fhbench.backbones: videomae``).

Kept empty on purpose: a config check imports the dataset module (numpy and pandas) but must
not import the backbone's torch and transformers; only a run does.
"""
