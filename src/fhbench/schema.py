"""Where the config's JSON schema lives.

Both :mod:`fhbench.config` (validation) and :mod:`fhbench.grid` (each algorithm's
hyperparameters) read it; the path sits here, below both, so that config → grid stays the only
direction of import between them.
"""

from __future__ import annotations

from pathlib import Path

# Inside the package so that an installed wheel validates configs too; config/schemas/ holds a
# link to it where users of the workflow look for it.
SCHEMA = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"
