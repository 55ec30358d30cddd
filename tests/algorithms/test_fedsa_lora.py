"""FedSA-LoRA: A averaged over all clients, B and head local; EPFL's uniform variant, named."""

from __future__ import annotations

import torch

from fhbench.algorithms import build
from fhbench.federation import ClientRound, tensor_bytes
from tests.algorithms.conftest import make_federation, snapshot


def test_a_is_the_plain_mean_b_and_head_stay():
    fed = make_federation("fedsa_lora", n_clients=3)
    for i, s in enumerate(fed.states):
        fed.algorithm.local_update(i, s, ClientRound(fed, i, 1))
    info = fed.algorithm.info
    before = [snapshot(s.params) for s in fed.states]
    uploads = [fed.algorithm.upload(i, s) for i, s in enumerate(fed.states)]
    assert all(set(u) == set(info.lora_a) for u in uploads)
    # Same result as EPFL with uniform weights and self weight 1/N.
    epfl = build("epfl", weights="uniform", self_weight=1 / 3, share="A")
    epfl.setup(info)
    reference = epfl.aggregate(uploads)
    messages = fed.algorithm.aggregate(uploads)
    for i, s in enumerate(fed.states):
        fed.algorithm.download(i, s, messages[i])
        for k in info.lora_a:
            torch.testing.assert_close(s.params[k], sum(b[k] for b in before) / 3)
            torch.testing.assert_close(s.params[k], reference[i][k])
        for k in info.lora_b + info.head:
            assert torch.equal(s.params[k], before[i][k])


def test_sends_only_a_matrices():
    fed = make_federation("fedsa_lora", n_clients=2)
    fed.run()
    a_bytes = tensor_bytes({k: fed.states[0].params[k] for k in fed.algorithm.info.lora_a})
    assert (fed.metrics_frame().query("split == 'comm'")["value"] == a_bytes).all()
