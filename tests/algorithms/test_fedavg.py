"""FedAvg: the size-weighted average; with one client it is local training."""

from __future__ import annotations

import torch

from tests.algorithms.conftest import make_federation


def test_one_client_equals_local_training():
    fedavg, local = make_federation("fedavg", n_clients=1, rounds=3), make_federation("local", n_clients=1, rounds=3)
    fedavg.run(), local.run()
    a, b = fedavg.metrics_frame(), local.metrics_frame()

    def keep(f):
        return f[f.split != "comm"].drop(columns="algorithm").reset_index(drop=True)

    assert len(keep(a)) > 0
    assert keep(a).equals(keep(b))
    for k, v in fedavg.states[0].params.items():
        assert torch.equal(v, local.states[0].params[k])


def test_average_is_weighted_by_training_size():
    fed = make_federation("fedavg", n_clients=2)
    fed.algorithm.info = fed.algorithm.info.__class__(**{**fed.algorithm.info.__dict__, "train_sizes": (1, 3)})
    uploads = [{"t": torch.tensor([0.0])}, {"t": torch.tensor([4.0])}]
    messages = fed.algorithm.aggregate(uploads)
    assert messages[0]["t"].item() == 3.0 and messages[1]["t"].item() == 3.0
