"""Registries list their names without importing heavy modules; entries resolve on use."""

import subprocess
import sys

from fhbench.registry import LazyRegistry
from tests.bounded import CHILD_TIMEOUT_S


def test_checking_names_imports_neither_torch_nor_readers():
    code = (
        "import sys\n"
        "from fhbench.algorithms import ALGORITHMS\n"
        "from fhbench.data import DATASETS\n"
        "from fhbench.models import BACKBONES\n"
        "assert 'epfl' in ALGORITHMS and 'ptbxl' in DATASETS and 'vit' in BACKBONES\n"
        "assert len(ALGORITHMS.builtin) == 11 and len(DATASETS.builtin) == 9 and len(BACKBONES.builtin) == 4\n"
        "print(sorted(m for m in ('torch', 'transformers', 'wfdb', 'mne') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=CHILD_TIMEOUT_S)
    assert done.stdout.strip() == "[]"


def test_entries_resolve_once_and_instantiate_when_asked():
    plain = LazyRegistry({"join": "os.path:join"})
    assert plain["join"]("a", "b").endswith("b") and plain["join"] is plain["join"]
    made = LazyRegistry({"counter": "collections:Counter"}, instantiate=True)
    assert made["counter"] is made["counter"] and len(made["counter"]) == 0
    assert list(made) == ["counter"] and "other" not in made


def test_every_registered_entry_resolves():
    from fhbench.algorithms import ALGORITHMS
    from fhbench.algorithms.base import Algorithm
    from fhbench.data import DATASETS
    from fhbench.data.base import Dataset
    from fhbench.models import BACKBONES
    from fhbench.models.base import Backbone

    assert all(issubclass(ALGORITHMS[n], Algorithm) and ALGORITHMS[n].name == n for n in ALGORITHMS)
    assert all(isinstance(DATASETS[n], Dataset) and DATASETS[n].key == n for n in DATASETS)
    assert all(isinstance(BACKBONES[n], Backbone) and BACKBONES[n].architecture == n for n in BACKBONES)
