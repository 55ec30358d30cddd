"""Shared set-up of the benchmark scripts: random prepared data, a split and a ViT, built with the real code.

Every benchmark builds its inputs through the package's own writers (``write_prepared``,
``partition_prepared``, ``Backbone.create_tiny``) so that what is timed is what a run does.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
warnings.filterwarnings("ignore", category=FutureWarning)  # transformers' deprecation notes, not ours

# The tests' tiny ViT, and a "small" one whose weights (3.2 M parameters) dwarf a client's
# LoRA state, so that memory comparisons against N model copies mean something.
VIT_CONFIGS = {
    "tiny": dict(
        image_size=28, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    ),
    "small": dict(
        image_size=32, patch_size=8, num_channels=3, hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512
    ),
}


@dataclass
class Workspace:
    prepared: Path
    split: Path
    model: Path
    n_clients: int

    def run_config(self, **overrides) -> dict:
        values = dict(
            dataset="bench",
            partition="iid",
            algorithm="fedavg",
            seed=0,
            backbone="vit_bench",
            architecture="vit",
            rounds=10,
            lr=0.01,
            batch_size=32,
            eval_every=10,
            eval_batch_size=128,
            lora={"rank": 8, "alpha": 16, "dropout": 0.0},
            device="cpu",
            threads=1,
        )
        values.update(overrides)
        return values


def make_workspace(
    root: str | Path,
    n_clients: int,
    samples_per_client: int,
    vit: str = "tiny",
    n_classes: int = 11,
    image_size: int = 28,
    scheme: str = "iid",
    seed: int = 0,
) -> Workspace:
    """Random grey images (the OrganAMNIST layout), a split into ``n_clients`` and a random ViT."""
    import numpy as np
    import pandas as pd

    from fhbench.data.prepared import write_prepared
    from fhbench.models import get_backbone
    from fhbench.partition import partition_prepared

    root = Path(root)
    n = n_clients * samples_per_client
    rng = np.random.default_rng(seed)
    prepared, split, model = root / "prepared", root / f"split{n_clients}.json", root / f"vit_{vit}"
    if not prepared.exists() or len(np.load(prepared / "labels.npy", mmap_mode="r")) != n:
        if prepared.exists():
            import shutil

            shutil.rmtree(prepared)
        images = rng.integers(0, 256, size=(n, image_size, image_size), dtype=np.uint8)
        labels = rng.integers(0, n_classes, size=n)
        labels[:n_classes] = np.arange(n_classes)  # every class present
        write_prepared(
            prepared, images, labels, pd.DataFrame(index=range(n)), {"dataset": "bench", "modality": "image", "n_classes": n_classes}
        )
        if split.exists():
            split.unlink()
    if not split.exists():
        _quiet(partition_prepared, prepared, split, scheme, n_clients=n_clients, alpha=0.5, datapercent=1.0, seed=2025)
    if not (model / "config.json").exists():
        get_backbone("vit").create_tiny(model, VIT_CONFIGS[vit], seed=0)
    return Workspace(prepared, split, model, n_clients)


def _quiet(fn, *args, **kwargs):
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def best_time(fn, repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls: the least disturbed by other processes on a shared machine."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished children so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def copy_workflow() -> Path:
    """A fresh temporary copy of the workflow without data, results or Snakemake state, so that
    what is timed is what a fresh clone does, whatever this checkout holds."""
    import shutil
    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="fhbench-bench-"))
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "resources", "results", "logs", ".snakemake", "__pycache__", "*.egg-info", "report.html"
    )
    shutil.copytree(REPO, workdir, ignore=ignore, dirs_exist_ok=True)
    return workdir


def load_average() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "FAIL"


def quiet_transformers() -> None:
    """No progress bars or advisory warnings from transformers in benchmark output."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def build_engine(ws: Workspace, **overrides):
    """A real :class:`fhbench.federation.Federation` on the workspace, silent."""
    from fhbench.federation import Federation, RunConfig

    quiet_transformers()
    return Federation(RunConfig(**ws.run_config(**overrides)), ws.prepared, ws.split, ws.model, log=lambda msg: None)
