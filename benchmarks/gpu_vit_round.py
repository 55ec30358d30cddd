"""One federated round of a real-size ViT-B/16 + LoRA on random data: throughput and peak memory.

The model is built from ViT-B/16's configuration with random weights (nothing is downloaded),
wrapped with LoRA exactly as in a run, and trained by the engine's own pieces
(:class:`fhbench.federation.SharedModel`, FedAvg upload/aggregate/download), so the numbers
are those of a real round. ``--small`` swaps in a tiny ViT for a CPU smoke test.

    python benchmarks/gpu_vit_round.py --device cuda               # on a GPU node
    python benchmarks/gpu_vit_round.py --small --device cpu        # smoke test
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import torch

from fhbench.algorithms import build as build_algorithm
from fhbench.algorithms.base import FederationInfo
from fhbench.federation import SharedModel, resolve_device, tensor_bytes
from fhbench.models import LoraSpec, get_backbone, wrap_with_lora
from fhbench.models.vit import real_config

SMALL = {"image_size": 32, "patch_size": 8, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 …")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--samples", type=int, default=256, help="training samples per client")
    p.add_argument("--batch-size", type=int, default=32, help="docs/protocol.md §4: 32 for images")
    p.add_argument("--rounds", type=int, default=2, help="the first round is a warm-up and not timed")
    p.add_argument("--classes", type=int, default=11)
    p.add_argument("--small", action="store_true", help="tiny ViT instead of ViT-B/16 (CPU smoke test)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(**SMALL, num_labels=args.classes) if args.small else real_config(args.classes)
    backbone = get_backbone("vit")
    model = wrap_with_lora(ViTForImageClassification(config), backbone, LoraSpec(8, 16, 0.0))
    shared = SharedModel(model, backbone.batch_inputs, device)

    rng = np.random.default_rng(args.seed)
    n = args.clients * args.samples
    size = config.image_size
    # Prepared MedMNIST images are uint8 grey; batch_inputs normalises them on the device.
    inputs = torch.from_numpy(rng.integers(0, 256, (n, size, size), dtype=np.uint8)).to(device)
    labels = torch.from_numpy(rng.integers(0, args.classes, n)).to(device)
    algorithm = build_algorithm("fedavg")
    algorithm.setup(
        FederationInfo(
            args.clients,
            args.rounds,
            (args.samples,) * args.clients,
            tuple(shared.trainable),
            shared.names("lora_A"),
            shared.names("lora_B"),
            tuple(k for k in shared.trainable if "lora_" not in k),
        )
    )
    initial = shared.snapshot()
    states = [algorithm.init_client(i, initial) for i in range(args.clients)]

    timed_seconds, timed_samples, comm = 0.0, 0, 0
    for round_ in range(1, args.rounds + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            if round_ == 2:
                torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        uploads = []
        for client in range(args.clients):
            order = np.arange(client * args.samples, (client + 1) * args.samples)
            rng.shuffle(order)
            shared.sgd(states[client].params, inputs, labels, order, args.batch_size, lr=1e-3)
            uploads.append(algorithm.upload(client, states[client]))
        messages = algorithm.aggregate(uploads)
        for client in range(args.clients):
            algorithm.download(client, states[client], messages[client])
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        comm = sum(tensor_bytes(u) for u in uploads) + sum(tensor_bytes(m) for m in messages)
        print(f"round {round_}: {n} samples in {seconds:.2f} s ({n / seconds:.1f} samples/s)", file=sys.stderr, flush=True)
        if round_ > 1 or args.rounds == 1:
            timed_seconds += seconds
            timed_samples += n

    result = {
        "model": "vit-small-smoke" if args.small else "vit-b16-224",
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "clients": args.clients,
        "samples_per_client": args.samples,
        "batch_size": args.batch_size,
        "total_params": sum(p.numel() for p in model.parameters()),
        "trained_params": sum(p.numel() for p in shared.trainable.values()),
        "samples_per_s": round(timed_samples / timed_seconds, 2),
        "round_seconds": round(timed_seconds / max(1, args.rounds - 1), 3),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        "comm_bytes_per_round": comm,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
