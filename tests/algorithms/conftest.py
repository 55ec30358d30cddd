"""A tiny LoRA-shaped model and in-memory federations for algorithm tests.

The model is a real torch module whose trainable tensors carry the names the engine keys on
(``lora_A``, ``lora_B``, head), so every algorithm runs through the real engine in milliseconds.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch

from fhbench.federation import Federation, RunConfig


class TinyLoraNet(torch.nn.Module):
    """Two frozen linear blocks with LoRA A/B adapters and a trainable classifier head."""

    def __init__(self, d_in: int = 6, hidden: int = 5, rank: int = 2, n_classes: int = 3, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.base = torch.nn.ParameterList(
            [
                torch.nn.Parameter(torch.randn(hidden, d_in, generator=g), requires_grad=False),
                torch.nn.Parameter(torch.randn(hidden, hidden, generator=g), requires_grad=False),
            ]
        )
        dims = [d_in, hidden]
        self.blocks = torch.nn.ModuleList()
        for d in dims:
            block = torch.nn.Module()
            block.lora_A = torch.nn.Parameter(0.5 * torch.randn(rank, d, generator=g))
            block.lora_B = torch.nn.Parameter(0.1 * torch.randn(hidden, rank, generator=g))
            self.blocks.append(block)
        self.classifier = torch.nn.Linear(hidden, n_classes)
        with torch.no_grad():
            self.classifier.weight.copy_(0.3 * torch.randn(n_classes, hidden, generator=g))
            self.classifier.bias.zero_()

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        h = x
        for w, block in zip(self.base, self.blocks):
            h = torch.tanh(h @ w.T + (h @ block.lora_A.T) @ block.lora_B.T)
        return SimpleNamespace(logits=self.classifier(h))


FAST = {"fedala": {"max_start_epochs": 5}}


def batch_inputs(model, inputs, device) -> dict:
    return {"x": inputs.to(device)}


def make_federation(
    algorithm: str,
    n_clients: int = 3,
    identical: bool = False,
    rounds: int = 2,
    lr: float = 0.1,
    batch_size: int = 8,
    n_train: int = 12,
    params: dict | None = None,
    seed: int = 0,
    eval_every: int = 1,
    rank: int = 2,
    **overrides,
) -> Federation:
    """A federation over random data; ``identical`` gives every client the same samples.

    FedALA's start phase is capped at a few epochs unless ``params`` says otherwise, to keep
    the suite fast on two cores.
    """
    params = {**FAST.get(algorithm, {}), **(params or {})}
    g = torch.Generator().manual_seed(100 + seed)
    per_client = n_train + 8
    n = per_client * (1 if identical else n_clients)
    inputs = torch.randn(n, 6, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    split = []
    for c in range(n_clients):
        base = 0 if identical else c * per_client
        split.append(
            {
                "train": list(range(base, base + n_train)),
                "val": list(range(base + n_train, base + n_train + 4)),
                "test": list(range(base + n_train + 4, base + per_client)),
            }
        )
    config = RunConfig(
        dataset="toy",
        partition="toy",
        algorithm=algorithm,
        seed=seed,
        backbone="tiny",
        architecture="tiny",
        rounds=rounds,
        lr=lr,
        lr_min=lr,
        batch_size=batch_size,
        eval_every=eval_every,
        algorithm_params=params or {},
        **overrides,
    )
    return Federation.from_tensors(config, TinyLoraNet(rank=rank, seed=seed), batch_inputs, inputs, labels, split, log=lambda m: None)


def train_batch(fed: Federation, client: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All of a client's training samples as one batch (full-batch steps make orders irrelevant)."""
    idx = fed.clients[client].train
    return fed.inputs[idx], fed.labels[idx]


def full_grad(fed: Federation, params: dict, client: int) -> dict:
    """Gradient of the mean cross-entropy over the client's training data at ``params``."""
    return fed.shared.loss_and_grads(params, *train_batch(fed, client))[1]


def snapshot(tensors: dict) -> dict:
    return {k: v.detach().clone() for k, v in tensors.items()}


def without_training_rows(algorithm: str, client: int, rank: int = 2, **kw) -> Federation:
    """:func:`make_federation`'s run with ``client``'s training part emptied (its val and test
    parts kept): a site that holds no training rows, which the engine supports (its local loss
    is NaN and it takes no SGD step)."""
    fed = make_federation(algorithm, rank=rank, **kw)
    split = [{s: getattr(c, s).tolist() for s in ("train", "val", "test")} for c in fed.clients]
    split[client]["train"] = []
    return Federation.from_tensors(
        fed.config, TinyLoraNet(rank=rank, seed=fed.config.seed), batch_inputs, fed.inputs, fed.labels, split, log=lambda m: None
    )
