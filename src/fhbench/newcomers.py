"""Unseen clients: hospitals that join after training, scored with what each method gives them.

A partition with ``unseen: k`` holds out k of its clients (drawn from the partition seed,
:func:`fhbench.partition.hold_out`; they come last in the split file, marked ``unseen``). They
never train, upload or count in a server step, a summary or a table of participating clients.
After the last round each is served what a hospital joining now would get from the method
(:meth:`fhbench.algorithms.base.Algorithm.newcomer_state`): the global model for a global
method; for a personalised one the method's shared state adapted by one round of its own local
update on the newcomer's training part (:meth:`~fhbench.algorithms.base.Algorithm.newcomer_trains`),
at the dataset's learning rate (the cosine schedule ends near ``lr_min``, too small to adapt).
Each newcomer is adapted from the same server state, independently of the others.

Its validation and test scores go to ``metrics.csv`` at the last round with evaluation point
``newcomer``; the tables of participating clients read ``local`` or ``received`` only, and
:mod:`fhbench.reporting.unseen` sets the two side by side (``unseen_accuracy.csv``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fhbench.errors import InputError

if TYPE_CHECKING:
    from fhbench.federation import Federation

NEWCOMER = "newcomer"  # the evaluation point of unseen clients' rows


def unseen_clients(split_clients: list[dict], path: str | Path = "split") -> list[int]:
    """Indices of the clients a split holds out; they must follow every training client."""
    unseen = [i for i, c in enumerate(split_clients) if c.get("unseen")]
    n_train = len(split_clients) - len(unseen)
    if unseen != list(range(n_train, len(split_clients))):
        raise InputError(path, f"unseen clients {unseen} do not all follow the training clients", "make the split again")
    if n_train == 0:
        raise InputError(path, f"all {len(split_clients)} clients are unseen, none trains", "hold out fewer clients")
    return unseen


def score_newcomers(engine: "Federation") -> None:
    """Serve and score every unseen client of a finished run (rows at the last round, point ``newcomer``)."""
    from fhbench.client_round import ClientRound, Diverged

    algorithm, config = engine.algorithm, engine.config
    index = len(engine.clients)  # the algorithm sees a newcomer as client N (its states are 0 … N − 1)
    for client, data in engine.newcomers:
        state = algorithm.newcomer_state(engine.initial)
        try:
            if algorithm.newcomer_trains():
                trainer = ClientRound(engine, client, config.rounds + 1, data=data, lr=config.lr)
                algorithm.local_update(index, state, trainer)
            params = algorithm.eval_params(index, state)
        except Diverged as exc:  # scored as NaN, said in the log: never dropped
            engine.log(f"unseen client {client}: adaptation diverged ({exc}); its scores are NaN")
            params = None
        engine.score(params, data, config.rounds, client, NEWCOMER)
    if engine.newcomers:
        engine.log(f"scored {len(engine.newcomers)} unseen client(s) as newcomers")
