"""Learning diagnostics (fhbench.diagnostics): what they measure, where they go, how they warn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from fhbench.algorithms.base import ClientState, FederationInfo
from fhbench.diagnostics import (
    DIAGNOSTICS_COLUMNS,
    STALL_THRESHOLD,
    AdapterDiagnostics,
    stall_warning,
    stalled_in_file,
    stalled_tensors,
)
from fhbench.federation import Federation, RunConfig, run_federation
from fhbench.io import write_json
from fhbench.partition import make_partition

INFO = FederationInfo(n_clients=2, rounds=3, train_sizes=(1, 1), param_names=("a", "b", "h"), lora_a=("a",), lora_b=("b",), head=("h",))
KEYS = ("ds", "part", "alg", "default", 0)


def state(a, b, h) -> ClientState:
    return ClientState(params={"a": torch.tensor(a, dtype=torch.float32), "b": torch.tensor(b, dtype=torch.float32), "h": torch.tensor(h)})


def values(diag: AdapterDiagnostics) -> dict:
    return {(r[5], r[6], r[7]): r[8] for r in diag.rows}


def test_relative_changes_b_against_its_round_one_norm_and_the_spread_of_a():
    diag = AdapterDiagnostics(KEYS, INFO)
    states = [state([3.0, 4.0], [0.0, 0.0], [1.0]), state([3.0, 4.0], [0.0, 0.0], [2.0])]
    diag.start_round(states)
    states[0].params["a"] += torch.tensor([0.5, 0.0])  # ‖ΔA‖ / ‖A‖ = 0.5 / 5
    states[0].params["b"] += torch.tensor([0.0, 2.0])  # B₁ = (0, 2): round 1 is 1 by definition
    states[1].params["h"] *= 1.5  # ‖Δh‖ / ‖h‖ = 0.5
    diag.end_training(1, states)
    got = values(diag)
    assert got[(1, 0, "lora_A")] == pytest.approx(0.1)
    assert got[(1, 0, "lora_B")] == pytest.approx(1.0)
    assert math.isnan(got[(1, 1, "lora_B")])  # client 1's B never moved: no scale, no number
    assert got[(1, 1, "head")] == pytest.approx(0.5) and got[(1, 1, "lora_A")] == 0.0
    # A after training: (3.5, 4) and (3, 4); mean (3.25, 4); each 0.25 from it.
    assert got[(1, -1, "lora_A_spread")] == pytest.approx(0.25 / math.hypot(3.25, 4.0))

    diag.start_round(states)
    states[0].params["b"] += torch.tensor([1.0, 0.0])  # ‖ΔB‖ = 1 against ‖B₁‖ = 2
    diag.end_training(2, states)
    assert values(diag)[(2, 0, "lora_B")] == pytest.approx(0.5)


def test_a_tensor_the_algorithm_does_not_train_has_no_row_and_state_round_trips():
    diag = AdapterDiagnostics(KEYS, INFO)
    states = [ClientState(params={"b": torch.ones(2), "h": torch.ones(1)}) for _ in range(2)]  # FFA-LoRA: A frozen, not client state
    diag.start_round(states)
    diag.end_training(1, states)
    assert {r[7] for r in diag.rows} == {"lora_B", "head"}
    again = AdapterDiagnostics(KEYS, INFO)
    again.load_state(diag.state())
    assert again.rows == diag.rows and again.b_scale == diag.b_scale
    assert list(diag.frame().columns) == DIAGNOSTICS_COLUMNS


def test_stalled_tensors_name_what_never_moved(tmp_path):
    rows = [(*KEYS, r, c, q, v) for r in (1, 2) for c in (0, 1) for q, v in (("lora_A", 3e-8), ("lora_B", 0.4), ("head", float("nan")))]
    frame = pd.DataFrame(rows, columns=DIAGNOSTICS_COLUMNS)
    stalled = stalled_tensors(frame)
    assert stalled == ["lora_A moved by at most 3.0e-08 (relative, per round)", "head moved by at most never finite (relative, per round)"]
    path = tmp_path / "diagnostics.csv"
    frame.to_csv(path, index=False)
    assert stalled_in_file(path) == stalled
    warning = stall_warning("ds/part/alg/default/seed0", frame, "figures/diagnostics.png")
    assert "ds/part/alg/default/seed0" in warning and "lora_A" in warning and "figures/diagnostics.png" in warning
    moved = frame.assign(value=10 * STALL_THRESHOLD)
    assert stalled_tensors(moved) == [] and stall_warning("x", moved) is None


@pytest.fixture
def small_run(tmp_path, demo_organamnist, tiny_vit_dir):
    labels = np.load(demo_organamnist / "labels.npy")
    split = tmp_path / "split.json"
    write_json(split, make_partition(labels, "iid", 4, 0.1, 1.0, 2025).to_json(labels.astype(int).ravel()))
    config = dict(
        dataset="organamnist", partition="iid", algorithm="epfl", seed=1, backbone="vit_tiny", architecture="vit", rounds=3, lr=0.2,
        batch_size=16, eval_every=3, lora={"rank": 4, "alpha": 32, "dropout": 0.0},
    )  # fmt: skip
    return config, demo_organamnist, split, tiny_vit_dir


def test_a_run_writes_diagnostics_beside_its_metrics_and_a_resumed_run_writes_the_same(tmp_path, small_run):
    """Checkpoint/resume must give identical files: the diagnostics rows travel in the checkpoint."""
    config, prepared, split, model = small_run
    reference = tmp_path / "ref" / "metrics.csv"
    assert run_federation(config, prepared, split, model, reference) == "completed"
    frame = pd.read_csv(reference.with_name("diagnostics.csv"))
    assert set(frame["quantity"]) == {"lora_A", "lora_B", "head", "lora_A_spread"}
    assert sorted(frame["round"].unique()) == [1, 2, 3] and set(frame["client"]) == {-1, 0, 1, 2, 3}

    checkpoints = tmp_path / "ckpt"
    engine = Federation(RunConfig.from_dict(config), prepared, split, model, log=lambda m: None)
    for round_ in (1, 2):  # a run stopped after round 2 (preempted), its checkpoint on disk
        engine.run_round(round_)
        engine.save_checkpoint(checkpoints, round_)
    resumed = tmp_path / "resumed" / "metrics.csv"
    assert run_federation(config, prepared, split, model, resumed, checkpoints) == "completed"
    assert resumed.with_name("diagnostics.csv").read_bytes() == reference.with_name("diagnostics.csv").read_bytes()
    assert resumed.read_bytes() == reference.read_bytes()


def test_the_run_log_warns_when_the_adapters_have_not_moved(small_run):
    config, prepared, split, model = small_run
    messages = []
    engine = Federation(RunConfig.from_dict(dict(config, lr=0.0, rounds=1)), prepared, split, model, log=messages.append)
    engine.run()
    warnings = [m for m in messages if "have not moved" in m]
    assert len(warnings) == 1 and "organamnist/iid/epfl/default/seed1" in warnings[0]
    assert "lora_A" in warnings[0] and "lora_B" in warnings[0] and "diagnostics.png" in warnings[0]


def test_status_lists_finished_runs_whose_adapters_did_not_move(tmp_path):
    from fhbench import grid
    from fhbench.config import load_config
    from fhbench.status import collect, render
    from tests.conftest import REPO

    config = load_config(REPO / "config/demo.yaml")
    key = grid.all_runs(config)[0]
    run_dir = tmp_path / key.directory
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text("dataset\n")
    pd.DataFrame([(*KEYS, 1, 0, "lora_A", 1e-9)], columns=DIAGNOSTICS_COLUMNS).to_csv(run_dir / "diagnostics.csv", index=False)
    screen = render(config, collect(config, tmp_path), now=0.0)
    assert "adapters have not moved" in screen and key.label in screen and "lora_A moved by at most 1.0e-09" in screen
