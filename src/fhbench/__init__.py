"""fhbench: a reproducible pipeline for personalized federated learning on multimodal healthcare data."""

__version__ = "0.1.0"
