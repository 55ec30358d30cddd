"""The interface every federated algorithm implements.

An algorithm states in one place what a client uploads (:meth:`Algorithm.upload`), what the
server computes from all uploads (:meth:`Algorithm.aggregate`) and what each client applies
(:meth:`Algorithm.download`). The engine owns the shared model, the data and the bookkeeping,
and counts communicated bytes from exactly the tensors these methods return.

Realistic federations (:mod:`fhbench.participation`) add what an algorithm does when not every
client takes part: its server step over the clients that returned
(:meth:`Algorithm.aggregate_returned`), what a client that missed messages downloads when it is
asked again (:meth:`Algorithm.catch_up`), what a client whose upload was lost keeps
(:meth:`Algorithm.not_returned`), and what a hospital joining after training gets
(:meth:`Algorithm.newcomer_state`, :meth:`Algorithm.newcomer_trains`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, Collection, Iterator, Protocol, Sequence

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
    #: False for an algorithm without clients to sample (the centralized reference pools every
    #: client's data): participation settings do not apply to it and every client counts as asked.
    samples_clients: ClassVar[bool] = True
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

    def aggregate(self, uploads: list[Tensors]) -> list[Tensors]:
        """Server step: one message per client, computed from every client's upload.

        By default the step of :meth:`aggregate_returned` over every client; an algorithm that
        only knows full participation may define this instead.
        """
        return self.aggregate_returned(tuple(range(len(uploads))), uploads)

    def aggregate_returned(self, returned: Sequence[int], uploads: list[Tensors]) -> list[Tensors]:
        """Server step of a round whose uploads came from the clients ``returned`` only (ascending,
        ``uploads`` in the same order, at least one); one message per returned client. Clients
        that did not return receive nothing this round.

        The engine calls it only when some client did not return; every client returning calls
        :meth:`aggregate`, which by default is this step over every client.
        """
        if type(self).aggregate is not Algorithm.aggregate:
            raise NotImplementedError(
                f"algorithm {self.name!r} defines aggregate (every client) but not aggregate_returned, so it cannot run "
                "with partial participation or dropout; define aggregate_returned, or run it with every client"
            )
        raise NotImplementedError(f"algorithm {self.name!r} defines neither aggregate nor aggregate_returned")

    def catch_up(self, client: int, state: ClientState) -> Tensors:
        """What a client downloads when it is asked again after missing a server message: the
        server's current shared state (applied with :meth:`download`, bytes counted). ``{}``
        when the server holds nothing the client lacks. Called under partial participation only."""
        raise NotImplementedError(f"algorithm {self.name!r} does not define catch_up, so it cannot run with partial participation")

    def not_returned(self, client: int, state: ClientState) -> None:  # noqa: B027 (optional hook)
        """A client trained this round but its upload never reached the server. By default it
        keeps what it trained (its site has the new tensors); an algorithm whose server state
        must agree with the clients' (SCAFFOLD's control variates) undoes what the server missed."""

    def newcomer_trains(self) -> bool:
        """Whether a hospital joining after training adapts before it is scored: ``False`` for a
        global method (it is served the global model as is), ``True`` for a personalised one
        (one round of this algorithm's own local update on the newcomer's training part)."""
        return True

    def newcomer_state(self, initial: Tensors) -> ClientState:
        """The state a hospital joining now starts from, built from the server's shared state
        only (``initial``: the run's initial tensors, which every client started from). The
        engine scores it with :meth:`eval_params` as client ``info.n_clients``, after one round
        of :meth:`local_update` when :meth:`newcomer_trains`. Needed for unseen clients only."""
        raise NotImplementedError(f"algorithm {self.name!r} does not define newcomer_state, so it cannot score unseen clients")

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
