"""Throughput of the batched multi-client engine against the sequential one, side by side.

One federated round (local training of every client, aggregation; no evaluation) per engine,
on the same data and model, alternating engines, best of ``--repeats``. On a CUDA device the
comparison is repeated with bf16 autocast (``precision: bf16``).

    python benchmarks/batched.py [--clients 20] [--vit tiny|small] [--device auto]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from common import build_engine, load_average, make_workspace


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--samples-per-client", type=int, default=150)
    parser.add_argument("--vit", default="tiny", choices=["tiny", "small"])
    parser.add_argument("--algorithm", default="fedavg")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from fhbench.federation import resolve_device

    device = resolve_device(args.device)
    precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
    print(
        f"# {load_average()}; ViT {args.vit}, {args.clients} clients, batch {args.batch_size}, {args.algorithm}, "
        f"device {device}, best of {args.repeats}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp), args.clients, args.samples_per_client, vit=args.vit)
        for precision in precisions:
            engines = {
                kind: build_engine(
                    ws,
                    engine=kind,
                    algorithm=args.algorithm,
                    batch_size=args.batch_size,
                    device=str(device),
                    precision=precision,
                    rounds=100,
                    eval_every=100,
                )
                for kind in ("sequential", "batched")
            }
            n = sum(len(c.train) for c in engines["sequential"].clients)
            best = {kind: float("inf") for kind in engines}
            for r in range(1, args.repeats + 2):
                for kind, engine in engines.items():
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    with engine.autocast():
                        engine.run_round(r)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    if r > 1:  # the first round warms up kernels and caches
                        best[kind] = min(best[kind], time.perf_counter() - t0)
            sps = {k: n / v for k, v in best.items()}
            print(
                f"{precision}: sequential {sps['sequential']:.0f} samples/s, batched {sps['batched']:.0f} samples/s; "
                f"throughput ratio batched/sequential {sps['batched'] / sps['sequential']:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
