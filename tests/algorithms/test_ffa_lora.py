"""FFA-LoRA: A frozen at its random initialisation, B (and the head) trained and averaged."""

from __future__ import annotations

import pytest
import torch

from fhbench.federation import tensor_bytes
from tests.algorithms.conftest import make_federation, snapshot


@pytest.mark.parametrize("share_head", [True, False])
def test_a_never_moves_b_is_averaged(share_head):
    fed = make_federation("ffa_lora", n_clients=3, params={"share_head": share_head})
    info = fed.algorithm.info
    a0 = {k: fed.shared.trainable[k].detach().clone() for k in info.lora_a}
    assert not set(info.lora_a) & set(fed.states[0].params)  # A is not per-client state
    b0 = snapshot({k: fed.states[0].params[k] for k in info.lora_b})
    fed.run()
    for k in info.lora_a:
        assert torch.equal(fed.shared.trainable[k], a0[k])
    assert any(not torch.equal(fed.states[0].params[k], b0[k]) for k in info.lora_b)
    for s in fed.states[1:]:
        for k in info.lora_b:
            assert torch.equal(s.params[k], fed.states[0].params[k])
    heads_equal = all(torch.equal(s.params[k], fed.states[0].params[k]) for s in fed.states for k in info.head)
    assert heads_equal == share_head
    sent = info.lora_b + (info.head if share_head else ())
    expected = tensor_bytes({k: fed.states[0].params[k] for k in sent})
    assert (fed.metrics_frame().query("split == 'comm'")["value"] == expected).all()
