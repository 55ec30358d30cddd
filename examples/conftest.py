"""Lets the project's test run (``make test``) import each example from its source folder.

Installed examples (``pip install examples/<name>``) are imported from the environment as
usual; their entry points then also reach fhbench's registries (tests/test_extending.py).
"""

import sys
from pathlib import Path

for source in sorted(Path(__file__).resolve().parent.glob("*/src")):
    if str(source) not in sys.path:
        sys.path.insert(0, str(source))
