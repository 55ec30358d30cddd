"""The paper config's four backbones at their real sizes, one federated round each, on CPU.

Each backbone is built with random weights (the hub is out of reach) from its published
architecture settings and saved as the workflow's ``fetch_model`` would leave it; the run is the
one ``config/config.yaml`` resolves for that dataset (LoRA rank, alpha, dropout, targets and
head, learning rate, batch size, 200 rounds), of which its first round runs, on 2 clients × 4
samples (2 train, 1 validation, 1 test: the protocol's 40/30/30 rounded) in the prepared layout
of the real dataset: 224 px images, 8 s of 16 kHz audio, texts longer than 512 tokens, 12-lead
ECG windows (padded by MOMENT to its 512 steps). The engine is the workflow's
(:class:`fhbench.federation.Federation`, which ``run_federation`` drives round by round).
Round 1 is not an evaluation round (every 5th is), which keeps the four runs within a minute
on two cores; evaluation at real size is left to the GPU benchmark (benchmarks/gpu_round.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fhbench import grid
from fhbench.config import load_config
from fhbench.data import DATASETS
from fhbench.data.prepared import write_prepared
from fhbench.federation import Federation, RunConfig
from fhbench.io import write_json
from fhbench.models import LoraSpec, get_backbone, wrap_with_lora
from fhbench.validate import labels_identity
from tests.models.conftest import lora_counts

REPO = Path(__file__).resolve().parents[2]
N_CLIENTS, PER_CLIENT = 2, 4
# Backbone key of config/config.yaml → (a dataset that uses it, LoRA A+B and head parameters
# trained per client). LoRA and the ViT and RoBERTa heads are PROTOCOL §3's figures; the
# wav2vec2 head is its projector (768×256+256) and classifier (256×4+4, ICBHI), MOMENT's a
# linear layer (512×5+5, PTB-XL).
CASES = {
    "vit_b16": ("organamnist", 294_912, 8_459),
    "wav2vec2_base": ("icbhi", 294_912, 196_864 + 1_028),
    "roberta_base": ("medabs", 294_912, 594_437),
    "moment_small": ("ptbxl", 114_688, 2_565),
}
# The published architecture of each, as `fetch_model` would download it: transformers' config
# defaults are the base sizes for ViT (224 px, patch 16) and wav2vec2; RoBERTa's published
# vocabulary and positions; MOMENT-1-small's own config.json (fhbench.models.moment).
REAL_ARCHITECTURE = {
    "vit": {"image_size": 224, "patch_size": 16},
    "wav2vec2": {"vocab_size": 32},
    "roberta": {"vocab_size": 50265, "max_position_embeddings": 514, "layer_norm_eps": 1e-5},
    "moment": {},
}
WORDS = "patient trial dose group outcome results methods randomized placebo baseline week mean ratio".split()


def real_inputs(modality: str, n: int, rng: np.random.Generator):
    """Random inputs in the prepared layout of the real datasets (fhbench.data)."""
    if modality == "image":
        return rng.integers(0, 256, size=(n, 224, 224), dtype=np.uint8)  # MedMNIST+ at 224 px
    if modality == "audio":
        return (0.1 * rng.standard_normal((n, 8 * 16_000))).astype(np.float32)  # 8 s at 16 kHz
    if modality == "text":
        return np.array([" ".join(rng.choice(WORDS, size=700)) for _ in range(n)])  # > 512 tokens
    if modality == "timeseries":
        return rng.standard_normal((n, 12, 250)).astype(np.float32)  # PTB-XL: 12 leads, 1 s at 250 Hz
    raise ValueError(f"no inputs for modality {modality!r}")


@pytest.fixture(scope="module")
def paper_config() -> dict:
    return load_config(REPO / "config" / "config.yaml")


@pytest.mark.slow
@pytest.mark.parametrize("backbone_key", list(CASES))
def test_one_round_at_real_size(tmp_path, paper_config, backbone_key):
    t0 = time.perf_counter()
    dataset, lora_params, head_params = CASES[backbone_key]
    assert paper_config["datasets"][dataset]["backbone"] == backbone_key
    # The run the workflow would make for this dataset (main grid: FedAvg, seed 0); its first round.
    key = next(k for k in grid.all_runs(paper_config) if k.dataset == dataset and k.algorithm == "fedavg" and k.variant == "default")
    run = grid.resolve_run_config(paper_config, key) | {"threads": torch.get_num_threads()}
    architecture = run["architecture"]
    backbone = get_backbone(architecture)
    assert run["lora"] == paper_config["backbones"][backbone_key]["lora"]

    model_dir = tmp_path / "models" / backbone_key
    backbone.create_tiny(model_dir, REAL_ARCHITECTURE[architecture], seed=0)
    spec = DATASETS[dataset]
    rng = np.random.default_rng(0)
    n = N_CLIENTS * PER_CLIENT
    labels = rng.integers(0, spec.n_classes, size=n)
    write_prepared(tmp_path / "prepared", real_inputs(spec.modality, n, rng), labels, pd.DataFrame(index=range(n)), spec.base_info())
    clients = [{"train": [4 * c, 4 * c + 1], "val": [4 * c + 2], "test": [4 * c + 3]} for c in range(N_CLIENTS)]
    write_json(tmp_path / "split.json", {"scheme": "iid", "labels": labels_identity(labels), "clients": clients})

    engine = Federation(RunConfig.from_dict(run), tmp_path / "prepared", tmp_path / "split.json", model_dir, log=lambda m: None)
    model = engine.shared.model
    # The loaded model is the published architecture: same parameters as the weightless build.
    reference = wrap_with_lora(backbone.build_meta(spec.n_classes), backbone, LoraSpec(**run["lora"]))
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    assert sum(lora_counts(model)) == lora_params
    trainable = sum(p.numel() for p in engine.shared.trainable.values())
    assert trainable == lora_params + head_params
    if architecture == "roberta":
        assert engine.inputs.shape[1] == 512  # the texts were cut at 512 tokens
    if architecture == "moment":
        assert engine.inputs.shape[-1] == 512  # left-padded to MOMENT's 512 steps

    assert not engine.config.is_eval_round(1)
    with engine.autocast():
        engine.run_round(1)  # raises Diverged on a non-finite loss or tensor
    metrics = engine.metrics_frame()
    loss = metrics[(metrics.split == "train") & (metrics.metric == "loss")]["value"]
    assert len(loss) == N_CLIENTS and np.isfinite(loss).all()
    # FedAvg uploads every trained tensor: the per-client upload is the trainable count in float32.
    upload = metrics[metrics.metric == "upload_bytes"]["value"]
    assert (upload == 4 * trainable).all()
    print(f"{backbone_key}: {trainable:,} trainable, loss {loss.mean():.3f}, {time.perf_counter() - t0:.1f} s")
