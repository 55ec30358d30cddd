"""Batched multi-client local training: the clients of a round step together through one backbone.

The sequential engine trains client after client, each with small batches that leave a GPU
mostly idle. Here a group of C clients takes its s-th SGD step at once: the C batches are
concatenated client-major into one batch of C × B rows that runs once through the shared,
frozen backbone. Every ``torch.nn.Linear`` that owns trainable tensors (LoRA A and B, the
head) is given, for the duration, a forward that reads its weight from a stacked per-client
tensor (C, out, in) and applies it with one batched matrix product to the C client slices of
its input; the frozen base weights are used as they are, once, for all rows.

Why the results equal the sequential engine's: a step minimises Σ_c L_c, where L_c is client
c's mean cross-entropy over its own real rows. Client c's tensors touch only client c's rows,
so ∂(Σ L)/∂θ_c = ∂L_c/∂θ_c, exactly the sequential gradient, and the plain SGD update is then
applied per client with the same learning rate. Each client draws its batch order from the
same per-(round, client) stream as the sequential engine.

Ragged clients: clients hold different numbers of samples, so they differ in the size of their
last batch and in their number of steps. A step feeds only the clients that still have a batch
(their stacked tensors are gathered, so the others receive no gradient and stay untouched),
and pads shorter batches to the step's longest by repeating a real row with weight zero.

Limits (each falls back to, or differs from, the sequential engine, and says so in the log):
- Algorithms whose local update is not plain SGD on all trainable tensors (a loss term, a
  gradient hook, their own loop) declare it through
  :meth:`fhbench.algorithms.base.Algorithm.supports_batched_training`; they train sequentially.
- A model whose trainable tensors live outside ``torch.nn.Linear`` modules raises
  :class:`NotBatchable`; the run trains sequentially.
- Dropout (LoRA dropout or the backbone's own) draws one mask for the concatenated batch from
  the first client's torch seed, so with dropout > 0 the results follow the same distribution
  as the sequential engine's but are not identical; equality holds with dropout 0.
- Evaluation still scores one client at a time.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Sequence

import torch

from fhbench.client_round import ClientRound, Diverged

if TYPE_CHECKING:
    from fhbench.federation import Federation


class NotBatchable(RuntimeError):
    """The model or algorithm cannot be trained with the batched engine."""


class ClientLinears:
    """Client-batched forwards for the Linear modules that own a model's trainable tensors.

    Parameters
    ----------
    model
        The LoRA-wrapped model (its frozen weights are shared by all clients).
    trainable
        Parameter name → parameter, as ``model.named_parameters()`` names them.
    """

    def __init__(self, model: torch.nn.Module, trainable: dict[str, torch.nn.Parameter]):
        self.modules: dict[str, tuple[torch.nn.Linear, dict[str, str]]] = {}
        for name in trainable:
            module_name, attr = name.rsplit(".", 1)
            module = model.get_submodule(module_name)
            if type(module) is not torch.nn.Linear or attr not in ("weight", "bias"):
                raise NotBatchable(
                    f"trainable tensor {name} belongs to a {type(module).__name__}, not a torch.nn.Linear; "
                    "the batched engine only batches Linear layers"
                )
            self.modules.setdefault(module_name, (module, {}))[1][attr] = name
        self.current: dict[str, torch.Tensor] = {}

    def _forward(self, names: dict[str, str], x: torch.Tensor) -> torch.Tensor:
        weight = self.current[names["weight"]]  # (C, out, in)
        n_clients = weight.shape[0]
        if x.shape[0] % n_clients:
            raise NotBatchable(f"a batch of {x.shape[0]} rows does not split into {n_clients} clients")
        # Rows are client-major, so the C slices are contiguous: (C·B, …, in) → (C, B·…, in).
        xs = x.reshape(n_clients, -1, x.shape[-1])
        if "bias" in names:
            y = torch.baddbmm(self.current[names["bias"]].unsqueeze(1), xs, weight.transpose(1, 2))
        else:
            y = torch.bmm(xs, weight.transpose(1, 2))
        return y.reshape(*x.shape[:-1], weight.shape[1])

    @contextmanager
    def installed(self) -> Iterator["ClientLinears"]:
        """Route the trainable Linears through :attr:`current` (stacked per-client tensors)."""
        for module, names in self.modules.values():
            module.forward = lambda x, _names=names: self._forward(_names, x)
        try:
            yield self
        finally:
            for module, _ in self.modules.values():
                del module.forward  # the class's own forward again
            self.current = {}


class BatchedTrainer:
    """Trains all clients of a round (in groups of ``batched_clients``) with :class:`ClientLinears`."""

    def __init__(self, engine: "Federation"):
        self.engine = engine
        self.linears = ClientLinears(engine.shared.model, engine.shared.trainable)
        n = len(engine.clients)
        self.group_size = min(n, engine.config.batched_clients or n)

    def train_round(self, round_: int, clients: Sequence[int] | None = None) -> dict[int, float]:
        """Local training of this round's clients (default: all; partial participation asks fewer,
        :mod:`fhbench.participation`); returns each one's mean loss."""
        clients = list(range(len(self.engine.clients)) if clients is None else clients)
        losses: dict[int, float] = {}
        for start in range(0, len(clients), self.group_size):
            group = clients[start : start + self.group_size]
            losses.update(zip(group, self._train_group(group, round_)))
        return losses

    def _train_group(self, clients: list[int], round_: int) -> list[float]:
        engine, shared, cfg = self.engine, self.engine.shared, self.engine.config
        names = list(shared.trainable)
        for c in clients:
            missing = set(names) - set(engine.states[c].params)
            if missing:
                raise NotBatchable(f"client {c} does not hold trainable tensor(s) {sorted(missing)[:3]}")
        trainers = [ClientRound(engine, c, round_) for c in clients]
        lr = trainers[0].lr
        # Each client's batches, drawn from its own stream exactly as ClientRound.train draws them.
        plans: list[list[tuple[torch.Tensor, int]]] = []
        for t in trainers:
            rows = engine.clients[t.client].train
            batches = []
            for epoch in range(cfg.local_epochs):
                order = rows[torch.as_tensor(t.rng.permutation(len(rows)), device=rows.device)]
                batches += [(order[s : s + cfg.batch_size], epoch) for s in range(0, len(order), cfg.batch_size)]
            plans.append(batches)

        device = shared.device
        n_group, n_epochs = len(clients), cfg.local_epochs
        stacked = {n: torch.stack([engine.states[c].params[n].detach() for c in clients]).to(device).requires_grad_(True) for n in names}
        tensors = list(stacked.values())
        loss_sum = torch.zeros(n_group * n_epochs, device=device)
        batch_count = torch.zeros(n_group * n_epochs, dtype=torch.long)
        shared.set_training(True)
        with self.linears.installed() as linears:
            for step in range(max((len(p) for p in plans), default=0)):
                active = [k for k in range(n_group) if step < len(plans[k])]
                parts = [plans[k][step][0] for k in active]
                sizes = [len(p) for p in parts]
                longest = max(sizes)
                if min(sizes) < longest:  # pad short batches with a repeated real row (weight 0)
                    parts = [p if len(p) == longest else torch.cat([p, p[:1].expand(longest - len(p))]) for p in parts]
                idx = torch.cat(parts)
                if len(active) == n_group:
                    linears.current = stacked
                else:
                    which = torch.as_tensor(active, device=device)
                    linears.current = {n: t.index_select(0, which) for n, t in stacked.items()}
                logits = shared.forward(engine.inputs[idx])
                ce = torch.nn.functional.cross_entropy(logits.float(), engine.labels[idx], reduction="none").view(len(active), longest)
                if min(sizes) < longest:
                    n_real = torch.as_tensor(sizes, device=device)
                    mask = torch.arange(longest, device=device) < n_real[:, None]
                    per_client = (ce * mask).sum(1) / n_real
                else:
                    per_client = ce.mean(1)
                for t in tensors:
                    t.grad = None
                per_client.sum().backward()
                with torch.no_grad():
                    # As the sequential engine: a tensor without a gradient is not stepped (wav2vec2's
                    # LayerDrop skips whole layers, and their adapters then get none).
                    stepped = [t for t in tensors if t.grad is not None]
                    if stepped:
                        torch._foreach_add_(stepped, [t.grad for t in stepped], alpha=-lr)
                shared.stepped()
                slots = [k * n_epochs + plans[k][step][1] for k in active]
                loss_sum.index_add_(0, torch.as_tensor(slots, device=device), per_client.detach())
                batch_count[slots] += 1

        means = (loss_sum.cpu().double() / batch_count.double()).view(n_group, n_epochs)
        losses = [float(means[k].mean()) for k in range(n_group)]  # NaN where a client has no data
        for k, c in enumerate(clients):
            if plans[k] and not math.isfinite(losses[k]):
                raise Diverged(f"loss of client {c} became {losses[k]}")
        with torch.no_grad():
            for k, c in enumerate(clients):
                for n in names:
                    engine.states[c].params[n].copy_(stacked[n][k])
        return losses


def batched_trainer(engine: "Federation") -> BatchedTrainer | None:
    """The batched trainer for this run, or ``None`` (with a log line saying why) to train sequentially."""
    algorithm = engine.algorithm
    if not algorithm.supports_batched_training():
        engine.log(
            f"engine batched: algorithm {engine.config.algorithm} does not train plainly "
            "(supports_batched_training() is false); its clients train one after another"
        )
        return None
    try:
        return BatchedTrainer(engine)
    except NotBatchable as exc:
        engine.log(f"engine batched: {exc}; clients train one after another")
        return None
