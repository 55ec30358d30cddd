"""Federation overhead: one federated round against one centralized epoch over the same samples.

Same process, same shared model, same batch size, same samples: the centralized epoch is one
pass of :meth:`fhbench.federation.SharedModel.sgd` over the union of the clients' training
rows; the federated round is :meth:`fhbench.federation.Federation.run_round` (every client's
local epoch, uploads, aggregation, downloads, bookkeeping; not an evaluation round). Clients
are sized like OrganAMNIST's (about 236 training samples each), so each client's last batch is
partial, as in the paper's runs. Each timing is the best of ``--repeats``.

    python benchmarks/speed.py [--clients 10] [--algorithm fedavg] [--target 1.10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import best_time, build_engine, load_average, make_workspace, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--samples-per-client", type=int, default=590)
    # The tiny ViT makes per-step overheads weigh most: the harder case for the ratio.
    parser.add_argument("--vit", default="tiny", choices=["tiny", "small"])
    parser.add_argument("--algorithm", default="fedavg")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.10)
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as tmp:
        ws = make_workspace(Path(tmp), args.clients, args.samples_per_client, vit=args.vit)
        common = dict(algorithm=args.algorithm, batch_size=args.batch_size, rounds=100, eval_every=100)
        engines = {kind: build_engine(ws, engine=kind, **common) for kind in ("sequential", "batched")}
        seq = engines["sequential"]
        everyone = torch.cat([c.train for c in seq.clients])
        params = seq.shared.snapshot()
        generator = torch.Generator().manual_seed(0)

        def centralized():
            order = everyone[torch.randperm(len(everyone), generator=generator)]
            seq.shared.sgd(params, seq.inputs, seq.labels, order, args.batch_size, seq.config.lr_at(1))

        rounds = iter(range(1, 10**6))
        times = {"centralized": [], "sequential": [], "batched": []}
        for _ in range(args.repeats):  # interleaved, so a burst of load hits all three alike
            times["centralized"].append(best_time(centralized, 1))
            times["sequential"].append(best_time(lambda: engines["sequential"].run_round(next(rounds)), 1))
            times["batched"].append(best_time(lambda: engines["batched"].run_round(next(rounds)), 1))
        best = {k: min(v) for k, v in times.items()}

    n = len(everyone)
    print(
        f"# {load_average()}; ViT {args.vit}, {args.clients} clients, {n} training samples, batch {args.batch_size}, "
        f"{args.algorithm}, best of {args.repeats}"
    )
    print(f"centralized epoch:            {best['centralized']:.3f} s ({n / best['centralized']:.0f} samples/s)")
    failed = False
    for kind in ("sequential", "batched"):
        ratio = best[kind] / best["centralized"]
        failed |= ratio > args.target
        print(
            f"federated round ({kind:>10}): {best[kind]:.3f} s; ratio to centralized {ratio:.3f}; "
            f"target <= {args.target:.2f}; {verdict(ratio, args.target)}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
