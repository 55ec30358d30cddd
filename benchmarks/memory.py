"""Peak memory of an N-client run against the floor and against N full model copies.

For each N, side by side in one invocation (a ViT with 3.2 M parameters, random images):

- floor: one backbone, the data the split uses, N client states (the trainable tensors) and
  one centralized SGD epoch over all training rows (the working set any training of this
  model needs): what the arithmetic costs;
- copies: the floor plus N - 1 deep copies of the model, the published code's layout;
- run: a real :class:`fhbench.federation.Federation` doing one round (local training of all
  clients, evaluation, aggregation), with the sequential engine and with the batched one.

On CPU each measurement runs in a child forked from a parent that has already imported torch,
transformers and peft; the figure is the child's peak resident set (VmHWM) minus its resident
set at the fork, i.e. what the run itself added. On CUDA (``--device cuda``) the measurements run
in turn in this process and the figure is ``torch.cuda.max_memory_allocated`` above the start.

    python benchmarks/memory.py [--clients 5 20 50] [--device cpu|cuda] [--target 1.2]
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

from common import load_average, make_workspace, verdict

MODES = ("floor", "copies", "run", "run_batched")


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(mode: str, ws, device: str) -> int:
    """Run one mode; return the bytes it added at its peak."""
    import torch

    from fhbench.data.prepared import load_prepared
    from fhbench.federation import Federation, RunConfig, SharedModel, load_split
    from fhbench.models import LoraSpec, get_backbone, wrap_with_lora

    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = rss_kib("VmRSS") * 1024
    config = ws.run_config(device=device, eval_every=1, rounds=1, engine="batched" if mode == "run_batched" else "sequential")
    keep = []
    if mode in ("run", "run_batched"):
        engine = Federation(RunConfig(**config), ws.prepared, ws.split, ws.model, log=lambda m: None)
        engine.run_round(1)
        keep.append(engine)
    else:
        backbone = get_backbone("vit")
        data = load_prepared(ws.prepared)
        split = load_split(ws.split)
        import numpy as np

        used = np.unique(np.concatenate([np.asarray(c[s], dtype=np.int64) for c in split for s in c]))
        inputs = backbone.encode(ws.model, data.inputs[used]).to(device)
        labels = torch.from_numpy(data.labels[used]).to(device)
        model = wrap_with_lora(backbone.load(ws.model, data.n_classes), backbone, LoraSpec(**config["lora"]))
        shared = SharedModel(model, backbone.batch_inputs, torch.device(device))
        states = [shared.snapshot() for _ in range(ws.n_clients)]
        position = {int(g): i for i, g in enumerate(used)}
        # One centralized epoch over every client's training rows: as many steps as the round,
        # so the allocator reaches the same steady state (a single short pass understates it).
        order = np.array([position[int(g)] for c in split for g in c["train"]])
        shared.sgd(states[0], inputs, labels, order, config["batch_size"], config["lr"])
        keep += [inputs, labels, shared, states]
        if mode == "copies":
            keep += [copy.deepcopy(shared.model) for _ in range(ws.n_clients - 1)]
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
        del keep
        torch.cuda.empty_cache()
        return peak
    return rss_kib("VmHWM") * 1024 - base


def child(mode: str, ws, device: str, queue) -> None:
    queue.put(measure(mode, ws, device))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[5, 20, 50])
    parser.add_argument("--samples-per-client", type=int, default=60)
    parser.add_argument("--vit", default="small", choices=["tiny", "small"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--target", type=float, default=1.2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # no thread pool in the parent: children are forked from it
    # Import everything a run imports, so that children start from the same resident set.
    import peft  # noqa: F401
    import transformers.models.vit.modeling_vit  # noqa: F401

    import fhbench.batched  # noqa: F401
    import fhbench.federation  # noqa: F401

    ctx = mp.get_context("fork")
    failed = False
    print(f"# {load_average()}; ViT {args.vit}, {args.samples_per_client} samples per client, device {args.device}")
    print(
        f"{'N':>4} {'floor MiB':>10} {'copies MiB':>11} {'run MiB':>9} {'batched MiB':>12} {'run/floor':>10} {'batched/floor':>14} {'copies/run':>11}  verdict"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.clients:
            ws = make_workspace(
                Path(tmp) / f"n{n}", n_clients=n, samples_per_client=args.samples_per_client, vit=args.vit, n_classes=4, image_size=28
            )
            result = {}
            for mode in MODES:
                if args.device.startswith("cuda"):
                    result[mode] = measure(mode, ws, args.device)
                    continue
                queue = ctx.Queue()
                proc = ctx.Process(target=child, args=(mode, ws, args.device, queue))
                proc.start()
                result[mode] = queue.get()
                proc.join()
            mib = {k: v / 2**20 for k, v in result.items()}
            ratio = result["run"] / result["floor"]
            failed |= ratio > args.target
            print(
                f"{n:>4} {mib['floor']:>10.1f} {mib['copies']:>11.1f} {mib['run']:>9.1f} {mib['run_batched']:>12.1f} "
                f"{ratio:>10.2f} {result['run_batched'] / result['floor']:>14.2f} {result['copies'] / result['run']:>11.2f}  "
                f"run/floor <= {args.target}: {verdict(ratio, args.target)}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
