"""The interface every federated algorithm implements.

An algorithm states in one place what a client uploads (:meth:`Algorithm.upload`), what the
server computes from all uploads (:meth:`Algorithm.aggregate`) and what each client applies
(:meth:`Algorithm.download`). The engine owns the shared model, the data and the bookkeeping,
and counts communicated bytes from exactly the tensors these methods return.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, Collection, Iterator, Protocol

import torch

from fhbench.search_space import LR, LR_DIMENSION, Dimension

Tensors = dict[str, torch.Tensor]


@dataclass
class ClientState:
    """Everything one client keeps between rounds.

    ``params`` are the trainable tensors loaded into the shared model (LoRA A/B and head);
    ``extra`` holds algorithm state (control variates, personal models, mixing weights).
    """

    params: Tensors
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FederationInfo:
    """Static facts of a run the algorithm may need, fixed before round 1."""

    n_clients: int
    rounds: int
    train_sizes: tuple[int, ...]
    param_names: tuple[str, ...]  # all trainable tensors, in model order
    lora_a: tuple[str, ...]  # LoRA A tensors, in model order
    lora_b: tuple[str, ...]  # LoRA B tensors, in model order
    head: tuple[str, ...]  # classification head tensors


class LocalTrainer(Protocol):
    """What the engine offers an algorithm for one client in one round.

    ``train`` runs the standard local epochs; algorithms with their own inner loop (APFL,
    APPLE, FedALA) draw ``batches`` and take gradients with ``loss_and_grads``. Both draw from
    the same seeded (round, client) stream, so a run repeats exactly.
    """

    round: int
    lr: float
    local_epochs: int
    steps: int  # SGD steps taken by ``train`` so far

    def train(
        self,
        params: Tensors,
        loss_term: Callable[[Tensors], torch.Tensor] | None = None,
        grad_hook: Callable[[Tensors], None] | None = None,
        frozen: Collection[str] = (),
        pooled: bool = False,
    ) -> float:
        """Run the local epochs of plain SGD on ``params`` in place; return the mean loss.

        ``loss_term`` adds to each batch's loss (FedProx), ``grad_hook`` may edit the gradients
        before the step (SCAFFOLD), tensors in ``frozen`` are never stepped (FFA-LoRA);
        ``pooled`` trains on the union of all clients' training parts (the centralized reference).
        """

    def batches(self, split: str = "train", fraction: float = 1.0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One shuffled pass over (a random ``fraction`` of) this client's ``split``."""

    def loss_and_grads(self, params: Tensors, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, Tensors]:
        """Cross-entropy of one batch evaluated at ``params`` and its gradient per trainable tensor."""


def clone(tensors: Tensors) -> Tensors:
    """Detached copies, so later in-place steps never touch the originals."""
    return {k: v.detach().clone() for k, v in tensors.items()}


def weighted_mean(tensor_dicts: list[Tensors], weights: list[float]) -> Tensors:
    """Average tensors key by key with the given (not necessarily normalised) weights."""
    total = float(sum(weights))
    return {
        key: sum(w / total * d[key] for w, d in zip(weights, tensor_dicts))  # type: ignore[misc]
        for key in tensor_dicts[0]
    }


def copy_into(state_params: Tensors, message: Tensors) -> None:
    """Overwrite the named client tensors with the server's values (in place, no aliasing)."""
    for key, value in message.items():
        state_params[key].copy_(value)


class Algorithm(ABC):
    """Base class: hyperparameters are dataclass fields of the subclass."""

    name: ClassVar[str]
    #: Whether a client's local update is exactly ``trainer.train(state.params)`` (plain SGD on
    #: all trainable tensors, no loss term, no gradient hook), so that the batched engine
    #: (:mod:`fhbench.batched`) may train all clients of a round together. ``None`` infers it:
    #: true exactly when the subclass keeps the base :meth:`local_update`. An algorithm that
    #: overrides ``local_update`` but still trains plainly may set ``True``.
    plain_local_training: ClassVar[bool | None] = None
    #: What :mod:`fhbench.tuning` may vary: hyperparameter → :class:`fhbench.search_space.Dimension`
    #: (range, scale, reason). Every method's learning rate is here; a subclass adds its own
    #: hyperparameters with ``search_space = Algorithm.search_space | {...}``.
    search_space: ClassVar[dict[str, Dimension]] = {LR: LR_DIMENSION}

    @classmethod
    def supports_batched_training(cls) -> bool:
        """True when the batched multi-client engine reproduces this algorithm's local update."""
        if cls.plain_local_training is not None:
            return bool(cls.plain_local_training)
        return cls.local_update is Algorithm.local_update

    def setup(self, info: FederationInfo) -> None:
        self.info = info

    def init_client(self, client: int, initial: Tensors) -> ClientState:
        """Every client starts from the same initial trainable tensors."""
        return ClientState(params=clone(initial))

    def local_update(self, client: int, state: ClientState, trainer: LocalTrainer) -> float:
        """Train the client's tensors; algorithms that change the local objective override this."""
        return trainer.train(state.params)

    def eval_params(self, client: int, state: ClientState) -> Tensors:
        """The tensors a client is scored with (a personal mix for some algorithms)."""
        return state.params

    def received_params(self, client: int, state: ClientState) -> Tensors:
        """The tensors a client holds after the server's message, before it trains again
        (evaluation point ``received``). By default what :meth:`eval_params` gives after
        :meth:`download`: the global model of a global method, the personalised one otherwise."""
        return self.eval_params(client, state)

    def server_matrices(self) -> dict[str, torch.Tensor]:
        """N × N matrices the server computed in the last :meth:`aggregate` (EPFL's mixing
        weights), saved at each evaluation round as a tidy artifact; none by default."""
        return {}

    @abstractmethod
    def upload(self, client: int, state: ClientState) -> Tensors:
        """The tensors this client sends to the server after local training."""

    @abstractmethod
    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        """Server step: one message per client, computed from every client's upload."""

    @abstractmethod
    def download(self, client: int, state: ClientState, message: Tensors) -> None:
        """Apply the server's message to the client's state."""

    def server_state(self) -> dict[str, Any]:
        """State the server carries between rounds (saved in checkpoints)."""
        return {}

    def load_server_state(self, state: dict[str, Any]) -> None:  # noqa: B027 (optional hook: stateless by default)
        pass

    @classmethod
    def hyperparameters(cls) -> list[str]:
        return [f.name for f in fields(cls)] if hasattr(cls, "__dataclass_fields__") else []
