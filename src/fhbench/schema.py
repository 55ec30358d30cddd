"""Where the config's JSON schema lives.

Both :mod:`fhbench.config` (validation) and :mod:`fhbench.grid` (each algorithm's
hyperparameters) read it; the path sits here, below both, so that config → grid stays the only
direction of import between them.
"""

from __future__ import annotations

from pathlib import Path

SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schemas" / "config.schema.yaml"
