"""FedALA: W is learned by hand-checkable steps and moves away from 1, so it is not FedAvg."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fhbench.federation import ClientRound
from tests.algorithms.conftest import full_grad, make_federation, snapshot, without_training_rows


def after_one_round(**params):
    fed = make_federation("fedala", n_clients=3, batch_size=64, params={"data_fraction": 1.0, **params})
    fed.run_round(1)
    return fed


def test_first_round_has_no_adaptation_and_download_keeps_the_local_model():
    fed = make_federation("fedala", n_clients=3)
    before = snapshot(fed.states[0].params)
    fed.run_round(1)
    state = fed.states[0]
    glob = state.extra["global"]
    assert any(not torch.equal(state.params[k], glob[k]) for k in glob)  # θ_i kept beside θ
    assert any(not torch.equal(state.params[k], before[k]) for k in before)


def test_one_weight_step_matches_hand_computation():
    fed = after_one_round(layers=1, eta=1.0)
    state = fed.states[0]
    state.extra["start_phase"] = False  # one pass over the slice, a single full batch
    local, glob = snapshot(state.params), state.extra["global"]
    top = fed.algorithm.top_names()
    assert top == ("classifier.weight", "classifier.bias")
    # At W = 1 the candidate is the global model; the step is W − η g ⊙ (θ − θ_i), clipped.
    g = full_grad(fed, glob, 0)
    expected_w = {k: torch.clamp(1.0 - g[k] * (glob[k] - local[k]), 0, 1) for k in top}
    fed.algorithm.adapt(state, ClientRound(fed, 0, 2))
    for k in top:
        torch.testing.assert_close(state.extra["weights"][k], expected_w[k])
        torch.testing.assert_close(state.params[k], local[k] + (glob[k] - local[k]) * expected_w[k])
    for k in local:
        if k not in top:
            assert torch.equal(state.params[k], glob[k])  # lower layers: global values
    assert "global" not in state.extra


def test_weights_move_away_from_one_and_result_differs_from_fedavg():
    fed = after_one_round(layers=2, eta=5.0)
    state = fed.states[1]
    glob = snapshot(state.extra["global"])
    losses = fed.algorithm.adapt(state, ClientRound(fed, 1, 2))
    assert len(losses) >= 1 and state.extra["start_phase"] is False
    moved = [bool((w < 1).any()) for w in state.extra["weights"].values()]
    assert all(moved)
    assert any(not torch.allclose(state.params[k], glob[k]) for k in fed.algorithm.top_names())


def test_start_phase_runs_until_losses_settle_or_cap():
    fed = after_one_round(num_pre_loss=2, threshold=0.0, max_start_epochs=4)
    losses = fed.algorithm.adapt(fed.states[0], ClientRound(fed, 0, 2))
    assert len(losses) == 4  # threshold 0 never met: capped
    fed = after_one_round(num_pre_loss=2, threshold=1e9, max_start_epochs=40)
    assert len(fed.algorithm.adapt(fed.states[0], ClientRound(fed, 0, 2))) == 3  # > num_pre_loss, then std < threshold


def test_layers_count_layers_not_tensors():
    from fhbench.algorithms.fedala import layer_groups

    fed = make_federation("fedala", n_clients=2)
    names = fed.algorithm.info.param_names
    # Tiny net: two LoRA-adapted blocks (A and B each) and a head (weight and bias).
    assert layer_groups(names) == [
        ("blocks.0.lora_A", "blocks.0.lora_B"),
        ("blocks.1.lora_A", "blocks.1.lora_B"),
        ("classifier.weight", "classifier.bias"),
    ]
    for layers, expected in ((1, 2), (2, 4), (3, 6), (9, 6)):
        fed.algorithm.layers = layers
        assert len(fed.algorithm.top_names()) == expected


def test_layers_on_real_backbone_names():
    from fhbench.algorithms.fedala import layer_groups

    vit = (
        "vit.encoder.layer.1.attention.attention.query.lora_A.default.weight",
        "vit.encoder.layer.1.attention.attention.query.lora_B.default.weight",
        "vit.encoder.layer.1.attention.attention.value.lora_A.default.weight",
        "vit.encoder.layer.1.attention.attention.value.lora_B.default.weight",
        "classifier.modules_to_save.default.weight",
        "classifier.modules_to_save.default.bias",
    )
    groups = layer_groups(vit)
    assert len(groups) == 3 and groups[-1] == vit[-2:]
    roberta_head = (
        "classifier.modules_to_save.default.dense.weight",
        "classifier.modules_to_save.default.dense.bias",
        "classifier.modules_to_save.default.out_proj.weight",
        "classifier.modules_to_save.default.out_proj.bias",
    )
    assert layer_groups(roberta_head) == [roberta_head[:2], roberta_head[2:]]


def test_layer_key_is_the_module_path_up_to_the_first_lora():
    from fhbench.algorithms.fedala import layer_key

    assert (
        layer_key("vit.encoder.layer.1.attention.attention.query.lora_A.default.weight") == "vit.encoder.layer.1.attention.attention.query"
    )
    assert layer_key("blocks.0.lora_B") == "blocks.0" and layer_key("lora_A.default.weight") == ""
    assert layer_key("convX.lora_A.default.weight") == "convX"  # only the dot before lora_ goes
    assert layer_key("adapter.lora_mix.lora_A.weight") == "adapter"  # the first lora_ starts the LoRA part
    assert layer_key("classifier.modules_to_save.default.bias") == "classifier.modules_to_save.default"
    assert layer_key("scale") == "scale"


@pytest.mark.parametrize("fraction,ok", [(1.0, True), (0.5, True), (0.0, False), (1.5, False)])
def test_data_fraction_must_lie_in_the_unit_interval(fraction, ok):
    from fhbench.algorithms import build

    if ok:
        assert build("fedala", data_fraction=fraction).data_fraction == fraction
    else:
        with pytest.raises(ValueError, match="data_fraction"):
            build("fedala", data_fraction=fraction)


def test_training_adapts_only_once_a_global_model_was_received():
    fed = make_federation("fedala", n_clients=2, rounds=3)
    state = fed.states[0]
    adapted, adapt = [], fed.algorithm.adapt
    fed.algorithm.adapt = lambda st, trainer: adapted.append(st) or adapt(st, trainer)
    assert fed.algorithm.received_params(0, state) is state.params  # nothing received yet
    fed.algorithm.local_update(0, state, ClientRound(fed, 0, 1))
    assert adapted == []  # round 1: no global model to mix in
    fed.run_round(1)
    assert fed.algorithm.received_params(0, state) is state.extra["global"]  # the server's model, not θ_i
    assert any(not torch.equal(state.extra["global"][k], state.params[k]) for k in state.params)
    adapted.clear()
    fed.algorithm.local_update(0, state, ClientRound(fed, 0, 2))
    assert adapted == [state]


def test_weight_learning_reads_its_data_fraction_and_keeps_weights_in_the_unit_interval():
    fed = make_federation("fedala", n_clients=2, rounds=3, params={"data_fraction": 0.5, "eta": 1e6})
    fed.run_round(1)
    fractions, batches = [], ClientRound.batches

    def spy(self, split="train", fraction=1.0):
        fractions.append((split, fraction))
        return batches(self, split, fraction=fraction)

    ClientRound.batches = spy
    try:
        fed.algorithm.adapt(fed.states[0], ClientRound(fed, 0, 2))
    finally:
        ClientRound.batches = batches
    assert fractions and set(fractions) == {("train", 0.5)}
    weights = fed.states[0].extra["weights"]
    values = torch.cat([w.flatten() for w in weights.values()])
    assert values.min() == 0.0 and values.max() <= 1.0  # a huge step is clamped at both ends


def test_start_phase_stops_at_the_first_epoch_whose_last_losses_settle():
    """The start phase ends after the first epoch where the std of the *last* ``num_pre_loss``
    epoch losses falls below ``threshold`` (or at ``max_start_epochs``): checked on the losses it
    returns, so it neither stopped early (on a shorter or other window) nor ran on. Here the
    losses fall by about 1e-4 per epoch (a window's std about 5e-5), so 2e-5 is never met."""
    n_pre, threshold, cap = 2, 2e-5, 8
    fed = after_one_round(num_pre_loss=n_pre, threshold=threshold, max_start_epochs=cap, eta=5.0)
    losses = fed.algorithm.adapt(fed.states[0], ClientRound(fed, 0, 2))

    def settled(epochs: int) -> bool:
        return epochs > n_pre and float(np.std(losses[epochs - n_pre : epochs])) < threshold

    assert not any(settled(e) for e in range(1, len(losses)))
    assert settled(len(losses)) or len(losses) == cap


def test_a_client_without_training_rows_takes_the_global_model():
    """ALA learns W on the client's own training data (paper Eq. 5-6); a site with none has
    nothing to learn from: every start-phase epoch's loss is NaN (no batch), W stays at its start
    1, so θ̂ = θ_i + (θ − θ_i) ⊙ 1 is the global model θ."""
    fed = without_training_rows("fedala", client=2, n_clients=3, params={"num_pre_loss": 2, "max_start_epochs": 4})
    fed.run_round(1)
    state = fed.states[2]
    glob = snapshot(state.extra["global"])
    assert any(not torch.equal(state.params[k], glob[k]) for k in fed.algorithm.top_names())  # θ_i ≠ θ: ALA runs
    losses = fed.algorithm.adapt(state, ClientRound(fed, 2, 2))
    assert len(losses) == 4 and all(math.isnan(loss) for loss in losses)
    assert all(torch.equal(w, torch.ones_like(w)) for w in state.extra["weights"].values())
    for k in glob:
        torch.testing.assert_close(state.params[k], glob[k])
