"""Demo backbones pretrained on a public draw of a twin: small models that carry features.

The paper fine-tunes LoRA adapters on backbones pretrained on large public corpora. A demo on
randomly initialised tiny models has no such features: its adapters barely move and its methods
cannot differ (issue #22). This module gives a tiny model what pretraining gives a real one,
at demo cost: full fine-tuning (every weight, AdamW) for a few seconds on a separate draw of
the dataset's twin (``datasets.<name>.pretrain.public``: the twin's generator with its own
seed, so no client's sample is in it), then the weights **without the classification head**
are written in exactly the format ``fetch_model`` writes (:meth:`Backbone.save_backbone`), so a
run loads them through the same path as real weights and starts a fresh head, as on a hub
checkpoint. The folder's id is a hash of the base model, the public data and the training
settings (:func:`fhbench.grid.pretrained_id`): different weights never share a path.

A fraction ``holdout`` of the public draw is kept out of training and scored each epoch, so
the log says how far the features reach (a twin whose held-out accuracy is near 100% is too
easy for methods to differ on).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

PRETRAIN_KEYS = ("epochs", "lr", "batch_size", "holdout", "seed")


def _accuracy(model, backbone, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int) -> float:
    if len(labels) == 0:
        return float("nan")
    model.eval()
    with torch.no_grad():
        preds = [
            model(**backbone.batch_inputs(model, inputs[s : s + batch_size], "cpu")).logits.argmax(-1)
            for s in range(0, len(inputs), batch_size)
        ]
    return float((torch.cat(preds) == labels).float().mean())


def pretrain_backbone(
    architecture: str,
    base_model_dir: str | Path,
    public_dir: str | Path,
    out_dir: str | Path,
    epochs: int,
    lr: float,
    batch_size: int,
    holdout: float = 0.2,
    seed: int = 0,
    threads: int = 1,
    log: Callable[[str], None] = print,
) -> dict:
    """Fine-tune every weight of the model in ``base_model_dir`` on the prepared public draw in
    ``public_dir`` and write it, head removed, to ``out_dir`` (atomically). Returns what the
    log says: per-epoch training loss and held-out accuracy, wall and CPU seconds."""
    from fhbench.data.prepared import load_prepared
    from fhbench.io import atomic_path
    from fhbench.models import get_backbone
    from fhbench.seeding import seed_torch, stream

    t0, cpu0 = time.perf_counter(), time.process_time()
    torch.set_num_threads(max(1, int(threads)))
    backbone = get_backbone(architecture)
    data = load_prepared(public_dir)
    inputs = backbone.encode(base_model_dir, data.inputs[np.arange(len(data.labels))])  # a copy in memory, as a run loads it
    labels = torch.as_tensor(np.asarray(data.labels, dtype=np.int64))
    order = torch.as_tensor(stream(seed, 0).permutation(len(labels)))
    n_held = int(round(holdout * len(labels)))
    held, train = order[:n_held], order[n_held:]
    seed_torch(seed)
    model = backbone.load(base_model_dir, data.n_classes)
    for p in model.parameters():
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    steps = epochs * math.ceil(len(train) / batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / max(steps, 1))))
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        shuffled = train[torch.as_tensor(stream(seed, epoch).permutation(len(train)))]
        losses = []
        for s in range(0, len(shuffled), batch_size):
            idx = shuffled[s : s + batch_size]
            logits = model(**backbone.batch_inputs(model, inputs[idx], "cpu")).logits
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        held_acc = _accuracy(model, backbone, inputs[held], labels[held], 256)
        history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "held_out_accuracy": held_acc})
        log(f"pretrain epoch {epoch}/{epochs}: train loss {np.mean(losses):.4f} · held-out accuracy {held_acc:.3f} ({n_held} samples)")
    with atomic_path(out_dir) as tmp:
        backbone.save_backbone(model, base_model_dir, tmp)
    summary = {
        "samples": len(train),
        "held_out": n_held,
        "history": history,
        "wall_seconds": round(time.perf_counter() - t0, 2),
        "cpu_seconds": round(time.process_time() - cpu0, 2),
    }
    log(f"pretrained on {len(train)} public samples in {summary['wall_seconds']} s wall, {summary['cpu_seconds']} s CPU; wrote {out_dir}")
    return summary
