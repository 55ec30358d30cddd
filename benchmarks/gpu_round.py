"""GPU readiness: one federated round at real size per backbone, and the paper grid's projected wall time.

For each of the four paper backbones (ViT-B/16, wav2vec2-base, roberta-base, MOMENT-small) that
is registered in :data:`fhbench.models.BACKBONES`, builds the model from its configuration with
random weights (``Backbone.create_tiny`` with the real-size config), random inputs in the
prepared layout of its modality, and ``--clients`` clients; then runs one federated round (after
one warm-up round) with the sequential and with the batched engine, bf16 autocast on CUDA, and
prints training samples/s, achieved TFLOP/s (FLOPs of one training step counted with
``torch.utils.flop_counter``) against the device's peak, and peak memory. Evaluation throughput
(forward only, eval batch) is measured too. From these figures and the run grid of
``config/config.yaml`` (counted with :mod:`fhbench.grid`: main table and ablations) it projects
the wall time of the whole grid on one node of ``--gpus`` such GPUs, one run per GPU.

    python benchmarks/gpu_round.py                  # on a GPU machine
    python benchmarks/gpu_round.py --smoke          # CPU, tiny models (the demo's tiny configs)

Backbones missing from the registry are skipped with a message; so is one whose model or inputs
fail to build (the error is printed), so the other figures still come out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

from common import REPO, load_average, quiet_transformers

# Paper backbones: registry key → (label, batch size, real-size config overrides on top of the
# transformers config defaults, which already are the base sizes for ViT, wav2vec2 and RoBERTa).
BACKBONES = {
    "vit": ("ViT-B/16", 32, {}),
    "wav2vec2": ("wav2vec2-base", 16, {}),
    "roberta": ("roberta-base", 16, {"vocab_size": 50265, "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1}),
    "moment": ("MOMENT-1-small", 32, {}),
}
# Pooled sizes of docs/protocol.md §1, to project a run's samples per round (working size × datapercent).
POOLED_SIZES = {
    "organamnist": 58830,
    "organcmnist": 23583,
    "organsmnist": 25211,
    "icbhi": 6898,
    "sprsound": 9089,
    "ptbxl": 191400,
    "adftd": 69752,
    "medabs": 14438,
    "pubmedrct": 2240000,
}
TRAIN_SHARE, EVAL_SHARE = 0.4, 0.6  # per-client 40/30/30 split: train, then val + test are scored
# Dense bf16 tensor-core peaks (TFLOP/s) from the vendors' data sheets, matched against the device name.
PEAK_TFLOPS = [("H100 PCIe", 756.0), ("H100", 989.4), ("H200", 989.4), ("GH200", 989.4), ("A100", 312.0), ("L40S", 362.0)]
WORDS = "patient trial dose group outcome results methods randomized placebo baseline week mean ratio".split()


def random_inputs(modality: str, n: int, smoke: bool, rng, text_words: int):
    """Random inputs in a prepared dataset's layout for ``modality`` (the backbone's encode takes them)."""
    import numpy as np

    if modality == "image":
        size = 28 if smoke else 224
        return rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
    if modality == "audio":
        return rng.standard_normal((n, 1600 if smoke else 128_000)).astype(np.float32)  # 8 s at 16 kHz
    if modality == "text":
        words = 12 if smoke else text_words
        return np.array([" ".join(rng.choice(WORDS, size=words)) for _ in range(n)])
    if modality in ("time_series", "timeseries", "time series"):
        return rng.standard_normal((n, 3, 64) if smoke else (n, 12, 250)).astype(np.float32)  # PTB-XL windows
    raise ValueError(f"no random input generator for modality {modality!r}")


def model_config(arch: str, smoke: bool) -> dict:
    """Real size: transformers defaults plus overrides; smoke: the demo config's tiny twin of this architecture."""
    if not smoke:
        return dict(BACKBONES[arch][2])
    import yaml

    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    for bb in demo["backbones"].values():
        if bb["architecture"] == arch and bb.get("tiny"):
            return dict(bb["tiny"])
    raise ValueError(f"config/demo.yaml has no tiny backbone with architecture {arch!r}")


def build_workspace(root: Path, arch: str, args) -> tuple[Path, Path, Path]:
    import numpy as np

    from fhbench.data.prepared import write_prepared
    from fhbench.io import write_json
    from fhbench.models import get_backbone
    from fhbench.validate import labels_identity

    backbone = get_backbone(arch)
    model_dir, prepared, split = root / "model", root / "prepared", root / "split.json"
    backbone.create_tiny(model_dir, model_config(arch, args.smoke), seed=0)
    rng = np.random.default_rng(0)
    per_client = args.train_per_client + 2 * args.eval_per_client
    n = args.clients * per_client
    inputs = random_inputs(backbone.modality, n, args.smoke, rng, args.text_words)
    labels = rng.integers(0, args.classes, size=n)
    import pandas as pd

    write_prepared(
        prepared,
        inputs,
        labels,
        pd.DataFrame(index=range(n)),
        {"dataset": "bench", "modality": backbone.modality, "n_classes": args.classes},
    )
    clients = []
    for c in range(args.clients):
        rows = list(range(c * per_client, (c + 1) * per_client))
        t, e = args.train_per_client, args.eval_per_client
        clients.append({"train": rows[:t], "val": rows[t : t + e], "test": rows[t + e :]})
    # The labels record proves the split belongs to this prepared data (fhbench.validate.check_split).
    write_json(split, {"scheme": "iid", "labels": labels_identity(labels), "clients": clients})
    return model_dir, prepared, split


def flops_per_sample(engine, eval_batch: int) -> tuple[float, float]:
    """FLOPs of one training sample (forward + backward) and of one evaluated sample (forward)."""
    from torch.utils.flop_counter import FlopCounterMode

    shared, rows = engine.shared, engine.clients[0].train[: engine.config.batch_size]
    params = {k: v.clone() for k, v in engine.states[0].params.items()}
    with engine.autocast(), FlopCounterMode(display=False) as counter:
        shared.sgd(params, engine.inputs, engine.labels, rows, len(rows), 0.0)
    train = counter.get_total_flops() / len(rows)
    rows = engine.clients[0].val[:eval_batch]
    with engine.autocast(), FlopCounterMode(display=False) as counter:
        shared.predict(params, engine.inputs[rows], eval_batch)
    return train, counter.get_total_flops() / max(1, len(rows))


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device) -> float:
    import resource

    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process peak RSS (KiB → GiB)


def measure_engine(kind: str, arch: str, paths, args, device) -> dict:
    """Warm-up round, then one timed round (training only) and one timed evaluation pass."""
    import torch

    from fhbench.federation import Federation, RunConfig

    model_dir, prepared, split = paths
    label, batch, _ = BACKBONES[arch]
    config = RunConfig(
        dataset="bench",
        partition="bench",
        algorithm="fedavg",
        seed=0,
        backbone=arch,
        architecture=arch,
        rounds=100,
        lr=1e-3,
        batch_size=args.batch_size or batch,
        eval_every=100,
        eval_batch_size=args.eval_batch_size,
        lora={"rank": 8, "alpha": 16, "dropout": 0.0},
        device=str(device),
        engine=kind,
        batched_clients=args.batched_clients,
        precision="bf16" if device.type == "cuda" else "fp32",
    )
    engine = Federation(config, prepared, split, model_dir, log=lambda m: None)
    if kind == "batched" and engine.batched is None:
        raise RuntimeError("the batched engine fell back to sequential for this backbone")
    reset_peak(device)
    while True:
        try:
            with engine.autocast():
                engine.run_round(1)  # warm-up (kernels, allocator, cuDNN/cuBLAS heuristics)
            break
        except torch.cuda.OutOfMemoryError:
            if kind != "batched" or engine.batched.group_size == 1:
                raise
            engine.batched.group_size = max(1, engine.batched.group_size // 2)
            torch.cuda.empty_cache()
            reset_peak(device)
    synchronize(device)
    t0 = time.perf_counter()
    with engine.autocast():
        engine.run_round(2)
    synchronize(device)
    train_seconds = time.perf_counter() - t0
    n_train = sum(len(c.train) for c in engine.clients)
    t0 = time.perf_counter()
    with engine.autocast():
        for c in range(len(engine.clients)):
            engine.evaluate(c, 2)
    synchronize(device)
    eval_seconds = time.perf_counter() - t0
    n_eval = sum(len(c.val) + len(c.test) for c in engine.clients)
    result = {
        "train_sps": n_train / train_seconds,
        "eval_sps": n_eval / eval_seconds,
        "peak_gib": peak_gib(device),
        "group": engine.batched.group_size if engine.batched else 1,
    }
    result["train_flops"], result["eval_flops"] = flops_per_sample(engine, args.eval_batch_size)
    del engine
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


def device_peak(device, override: float | None) -> tuple[float | None, str]:
    import torch

    if override:
        return override, "given"
    if device.type != "cuda":
        return None, "cpu"
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_TFLOPS:
        if key in name:
            return tflops, name
    return None, name


def project_grid(config_path: Path, measured: dict[str, dict], gpus: int, precision: str) -> None:
    """Projected wall time of every run of the config on one node of ``gpus`` GPUs (one run per GPU)."""
    import yaml

    from fhbench import grid

    config = yaml.safe_load(config_path.read_text())
    runs = grid.all_runs(config)
    per_run, missing = [], {}
    for key in runs:
        ds = config["datasets"][key.dataset]
        arch = config["backbones"][ds["backbone"]]["architecture"]
        rc = grid.resolve_run_config(config, key)
        datapercent = grid.partition_params(config, key.dataset, key.partition)["datapercent"]
        if arch not in measured or key.dataset not in POOLED_SIZES:
            missing[key.dataset] = arch if arch not in measured else "pooled size unknown"
            continue
        m = measured[arch]
        working = POOLED_SIZES[key.dataset] * datapercent
        eval_rounds = sum(1 for r in range(1, rc["rounds"] + 1) if r % rc["eval_every"] == 0 or r == rc["rounds"])
        seconds = (
            rc["rounds"] * rc["local_epochs"] * TRAIN_SHARE * working / m["train_sps"] + eval_rounds * EVAL_SHARE * working / m["eval_sps"]
        )
        per_run.append((seconds, key))
    experiments = ", ".join(f"{name} ({len(grid.experiment_runs(config, name))} runs)" for name in config["experiments"])
    print(
        f"\nprojection for {config_path.relative_to(REPO) if config_path.is_relative_to(REPO) else config_path}: "
        f"{len(runs)} distinct runs from experiments {experiments}"
    )
    if missing:
        print(f"  not projected (backbone not measured or size unknown): {json.dumps(missing)}")
    if not per_run:
        return
    total = sum(s for s, _ in per_run)
    longest, key = max(per_run, key=lambda item: item[0])
    # Longest-first onto the least loaded GPU: a realistic schedule for independent jobs.
    loads = [0.0] * gpus
    for seconds, _ in sorted(per_run, key=lambda item: item[0], reverse=True):
        loads[loads.index(min(loads))] += seconds
    print(
        f"  {len(per_run)} runs, {total / 3600:.1f} GPU-hours in total; longest run {longest / 3600:.2f} h ({key.dataset}/{key.algorithm}/{key.variant})"
    )
    print(f"  projected wall time on one node of {gpus} GPUs: {max(loads) / 3600:.1f} h (best engine per backbone, {precision})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models and inputs on CPU (a quick test)")
    parser.add_argument("--device", default=None, help="default: cuda when available (cpu with --smoke)")
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--train-per-client", type=int, default=64)
    parser.add_argument("--eval-per-client", type=int, default=32, help="validation and test samples each")
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=0, help="0 = the paper's batch size of the modality")
    parser.add_argument("--eval-batch-size", type=int, default=128)
    parser.add_argument("--batched-clients", type=int, default=0, help="clients per batched step (0 = all; halved on OOM)")
    parser.add_argument("--text-words", type=int, default=200, help="words per random text sample (Medical Abstracts-like)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak, overrides the known table")
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per node for the projection")
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    args = parser.parse_args()
    if args.smoke:
        args.clients, args.train_per_client, args.eval_per_client = (
            min(args.clients, 3),
            min(args.train_per_client, 8),
            min(args.eval_per_client, 4),
        )

    from fhbench.federation import resolve_device
    from fhbench.models import BACKBONES as REGISTRY

    quiet_transformers()
    device = resolve_device(args.device or ("cpu" if args.smoke else "auto"))
    peak, device_name = device_peak(device, args.peak_tflops)
    print(
        f"# {load_average()}; device {device} ({device_name}); {'smoke (tiny models)' if args.smoke else 'real size, random weights'}; "
        f"{args.clients} clients x {args.train_per_client} training samples; precision {'bf16 autocast' if device.type == 'cuda' else 'fp32'}"
    )
    print(
        f"{'backbone':<16} {'engine':<10} {'train samples/s':>15} {'eval samples/s':>14} {'GFLOP/sample':>12} {'TFLOP/s':>8} {'of peak':>8} {'peak GiB':>9} {'group':>5}"
    )
    measured: dict[str, dict] = {}
    for arch in args.backbones:
        label = BACKBONES.get(arch, (arch,))[0]
        if arch not in REGISTRY:
            print(f"{label:<16} skipped: architecture {arch!r} is not in fhbench.models.BACKBONES on this branch")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                paths = build_workspace(Path(tmp), arch, args)
            except Exception as exc:  # report and go on with the other backbones
                print(f"{label:<16} skipped: could not build model or inputs: {type(exc).__name__}: {exc}")
                continue
            for kind in ("sequential", "batched"):
                try:
                    r = measure_engine(kind, arch, paths, args, device)
                except Exception as exc:
                    print(f"{label:<16} {kind:<10} failed: {type(exc).__name__}: {exc}")
                    traceback.print_exc(limit=3, file=sys.stderr)
                    continue
                tflops = r["train_sps"] * r["train_flops"] / 1e12
                share = f"{100 * tflops / peak:.1f}%" if peak else "n/a"
                print(
                    f"{label:<16} {kind:<10} {r['train_sps']:>15.1f} {r['eval_sps']:>14.1f} {r['train_flops'] / 1e9:>12.3g} "
                    f"{tflops:>8.2f} {share:>8} {r['peak_gib']:>9.2f} {r['group']:>5}"
                )
                best = measured.get(arch)
                if best is None or r["train_sps"] > best["train_sps"]:
                    measured[arch] = r
    project_grid(Path(args.config), measured, args.gpus, "bf16" if device.type == "cuda" else "fp32")
    if args.smoke:
        print("(smoke mode: tiny models on CPU; the projection above is not a GPU figure)")
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
