"""The federated simulation engine.

One frozen backbone is shared by all clients. A client is only the tensors it trains and keeps
(LoRA A/B and head, plus algorithm state); the engine loads them into the shared model, trains,
and stores them back, so memory is one backbone plus N small states. The evaluation protocol is
docs/protocol.md §4: every ``eval_every`` rounds each client, after local training and before
aggregation, is scored on its validation and test parts (evaluation point ``local``); the model
it holds after the server's message is scored too (point ``received``: the global model of a
global method, the personalised one of the others). ``eval_points`` chooses which are scored.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Sequence

import numpy as np
import torch

from fhbench import provenance
from fhbench.algorithms import build as build_algorithm
from fhbench.algorithms.base import ClientState, FederationInfo, Tensors
from fhbench.checkpoint_format import TABLES, checkpoint_tables, pack_tables
from fhbench.client_round import ClientRound, Diverged
from fhbench.data.prepared import load_prepared
from fhbench.devices import claim_device
from fhbench.diagnostics import FIGURE as DIAGNOSTICS_FIGURE
from fhbench.diagnostics import AdapterDiagnostics, stall_warning
from fhbench.io import atomic_path, read_json, write_json
from fhbench.metrics import EVAL_POINTS, FILE_COLUMNS, classification_metrics
from fhbench.models import LoraSpec, get_backbone, require_model_dir, wrap_with_lora
from fhbench.participation import catch_up, write_participation
from fhbench.partition import apply_label_maps, scheme_shares_samples
from fhbench.progress import RoundProgress
from fhbench.seeding import seed_torch
from fhbench.tracking import open_tracker
from fhbench.validate import check_finite_inputs, check_model_sizes, check_output_path, check_prepared, check_split

if TYPE_CHECKING:
    import pandas


PROGRESS_SECONDS = 10.0
CHECKPOINT = "last.pt"  # one file per run, replaced after every round
EVAL_SPLITS = ("val", "test")  # a client's parts scored at an evaluation round
ENGINES = ("sequential", "batched")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


@dataclass
class RunConfig:
    """Everything one federated run depends on (besides data and model files)."""

    dataset: str
    partition: str
    algorithm: str
    seed: int
    backbone: str  # config key of the backbone (its folder under resources/models)
    architecture: str  # registry key in fhbench.models.BACKBONES
    rounds: int
    lr: float
    batch_size: int
    variant: str = "default"
    local_epochs: int = 1
    eval_every: int = 5
    lr_min: float = 1e-6
    eval_batch_size: int = 128
    lora: dict = field(default_factory=lambda: {"rank": 8, "alpha": 16, "dropout": 0.0})
    algorithm_params: dict = field(default_factory=dict)
    device: str = "cpu"
    threads: int = 1
    engine: str = "sequential"  # or "batched": all clients of a round step together (fhbench.batched)
    batched_clients: int = 0  # batched engine: most clients stepped together (0 = all)
    precision: str = "fp32"  # or "bf16": autocast on CUDA (tensors stay float32)
    model_config: dict | None = None  # backbones.<name>.tiny: sizes the model folder must have (None: real weights)
    eval_points: tuple[str, ...] = EVAL_POINTS  # scored at each evaluation round (fhbench.metrics.EVAL_POINTS)
    participation: dict = field(default_factory=dict)  # clients asked per round and dropout (fhbench.participation)
    eval_splits: tuple[str, ...] = EVAL_SPLITS  # the client parts scored; ("val",) for tuning trials (fhbench.tuning)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"run config: unknown key(s) {sorted(unknown)}")
        return cls(**values)

    def __post_init__(self) -> None:
        for name in ("lr", "lr_min"):  # NaN passes every comparison: it would train as a "diverged" run
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                from fhbench.errors import InputError

                raise InputError(f"run config {name}", f"{value!r} is not a finite non-negative number", "fix the config value")
        if self.engine not in ENGINES:
            raise ValueError(f"run config: engine must be one of {ENGINES}, got {self.engine!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"run config: precision must be one of {tuple(PRECISIONS)}, got {self.precision!r}")
        self.eval_points = tuple(self.eval_points)
        unknown = [p for p in self.eval_points if p not in EVAL_POINTS]
        if unknown or not self.eval_points:
            raise ValueError(f"run config: eval_points must be a non-empty subset of {EVAL_POINTS}, got {list(self.eval_points)!r}")
        from fhbench.participation import ParticipationSpec

        ParticipationSpec.from_config(self.participation, "run config participation")  # a bad value fails here, named
        self.eval_splits = tuple(self.eval_splits)
        if "val" not in self.eval_splits or not set(self.eval_splits) <= set(EVAL_SPLITS):
            raise ValueError(f"run config: eval_splits must hold val and nothing outside {EVAL_SPLITS}, got {list(self.eval_splits)!r}")

    def lr_at(self, round_: int) -> float:
        """Cosine decay from ``lr`` to ``lr_min`` over the rounds, stepped once per round."""
        return self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * (round_ - 1) / self.rounds)) / 2

    def is_eval_round(self, round_: int) -> bool:
        return round_ % self.eval_every == 0 or round_ == self.rounds


@dataclass
class ClientData:
    train: torch.Tensor
    val: torch.Tensor
    test: torch.Tensor


def load_split(path: str | Path) -> list[dict[str, list[int]]]:
    split = read_json(path)
    try:
        return [{s: c[s] for s in ("train", "val", "test")} for c in split["clients"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path} is not a client split (expected clients[*].train/val/test): {exc}") from exc


def tensor_bytes(tensors: Tensors) -> int:
    return int(sum(t.numel() * t.element_size() for t in tensors.values()))


def resolve_device(name: str) -> torch.device:
    """``auto`` picks a GPU when there is one, so one config serves laptops and clusters.

    With several visible GPUs (a workstation running N runs on N GPUs), ``auto`` and ``cuda``
    claim one that no other run holds (:func:`fhbench.devices.claim_device`).
    """
    if name == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if name in ("auto", "cuda"):
        return torch.device("cuda", claim_device(torch.cuda.device_count()))
    return torch.device(name)


class SharedModel:
    """The one backbone of a run, with its trainable tensors swapped in per client."""

    def __init__(self, model: torch.nn.Module, batch_inputs: Callable, device: torch.device):
        self.model = model.to(device)
        self.device = device
        self.batch_inputs = batch_inputs
        self.trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.on_first_step: Callable[[], None] | None = None  # called once, after the first SGD step

    def set_training(self, training: bool) -> None:
        """Switch train/eval mode only when it changes: ``Module.train`` walks every submodule."""
        if self.model.training != training or not hasattr(self, "_mode_set"):
            self.model.train(training)
            self._mode_set = True

    def stepped(self) -> None:
        """Mark an SGD step done; the first one fires :attr:`on_first_step` (start-up cost is measured to it)."""
        if self.on_first_step is not None:
            callback, self.on_first_step = self.on_first_step, None
            callback()

    def names(self, contains: str) -> tuple[str, ...]:
        return tuple(n for n in self.trainable if contains in n)

    def snapshot(self) -> Tensors:
        return {n: p.detach().clone() for n, p in self.trainable.items()}

    @torch.no_grad()
    def load(self, params: Tensors) -> None:
        for name, value in params.items():
            self.trainable[name].copy_(value)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**self.batch_inputs(self.model, inputs, self.device)).logits

    def sgd(
        self,
        params: Tensors,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        order: torch.Tensor | np.ndarray,
        batch_size: int,
        lr: float,
        loss_term: Callable | None = None,
        grad_hook: Callable | None = None,
        frozen: Collection[str] = (),
    ) -> float:
        """One pass of plain SGD (no momentum, no weight decay) over ``order``; updates ``params`` in place.

        Tensors in ``params`` but not trainable in the model (an algorithm's extra copies) are
        ignored; trainable tensors missing from ``params`` keep whatever is loaded. Tensors named
        in ``frozen`` take part in the forward pass but are never stepped (FFA-LoRA's A). Losses
        are summed on the device and checked once at the end of the pass: a per-batch ``.item()``
        would stall a GPU at every step. A pass that went non-finite raises :class:`Diverged`.
        """
        self.load(params)
        self.set_training(True)
        order = torch.as_tensor(order, device=inputs.device)
        tensors = list(self.trainable.values())
        total = torch.zeros((), device=self.device)
        n_batches = 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            logits = self.forward(inputs[idx])
            loss = torch.nn.functional.cross_entropy(logits, labels[idx])
            if loss_term is not None:
                loss = loss + loss_term(self.trainable)
            for p in tensors:
                p.grad = None
            loss.backward()
            if grad_hook is not None:
                grad_hook(self.trainable)
            with torch.no_grad():
                stepped = [p for name, p in self.trainable.items() if p.grad is not None and name not in frozen]
                if stepped:
                    torch._foreach_add_(stepped, [p.grad for p in stepped], alpha=-lr)
            self.stepped()
            total += loss.detach().float()
            n_batches += 1
        if n_batches == 0:
            return float("nan")  # a client without training data
        mean = total.item() / n_batches
        if not math.isfinite(mean):
            raise Diverged(f"loss became {mean}")
        with torch.no_grad():
            for name in params:
                if name in self.trainable:
                    params[name].copy_(self.trainable[name])
        return mean

    def loss_and_grads(self, params: Tensors, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, Tensors]:
        """Cross-entropy of one batch at ``params`` and its gradient for every trainable tensor.

        For algorithms that step their own tensors (APFL's mixture, APPLE's p_i, FedALA's W):
        the gradient is taken at the loaded point and nothing is updated.
        """
        self.load(params)
        self.set_training(True)
        logits = self.forward(inputs)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        if not torch.isfinite(loss):
            raise Diverged(f"loss became {loss.item()}")
        for p in self.trainable.values():
            p.grad = None
        loss.backward()
        grads = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for n, p in self.trainable.items()}
        for p in self.trainable.values():
            p.grad = None
        return float(loss.item()), grads

    @torch.no_grad()
    def predict(self, params: Tensors, inputs: torch.Tensor, batch_size: int) -> np.ndarray:
        self.load(params)
        self.set_training(False)
        # Predictions stay on the device until the end: one transfer per split, not per batch.
        preds = [self.forward(inputs[s : s + batch_size]).argmax(-1) for s in range(0, len(inputs), batch_size)]
        return torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)

    @torch.no_grad()
    def predict_parts(
        self, params: Tensors, inputs: torch.Tensor, labels: torch.Tensor, sizes: Sequence[int], batch_size: int
    ) -> list[tuple[np.ndarray, float]]:
        """Per consecutive part of ``inputs`` (``sizes`` rows each): its predictions and mean
        cross-entropy (NaN when empty; the validation loss breaks ties between rounds of equal
        validation accuracy, fhbench.reporting.selection). One pass: a client's validation and test
        parts share batches, so a small client costs one forward pass per evaluation, not one per split."""
        self.load(params)
        self.set_training(False)
        preds, losses = [], []
        for s in range(0, len(inputs), batch_size):
            logits = self.forward(inputs[s : s + batch_size])
            losses.append(torch.nn.functional.cross_entropy(logits.float(), labels[s : s + batch_size], reduction="none"))
            preds.append(logits.argmax(-1))
        pred = torch.cat(preds).cpu().numpy() if preds else np.zeros(0, dtype=np.int64)
        loss = torch.cat(losses) if losses else torch.zeros(0)
        out, start = [], 0
        for size in sizes:
            part = loss[start : start + size]
            out.append((pred[start : start + size], float(part.sum().item()) / size if size else float("nan")))
            start += size
        if start != len(inputs):
            raise ValueError(f"parts of {sum(sizes)} rows for {len(inputs)} inputs")
        return out


class Federation:
    """A federated run: data, shared model, clients, algorithm, rounds, checkpoints."""

    def __init__(
        self,
        config: RunConfig,
        prepared_dir: str | Path,
        split_path: str | Path,
        model_dir: str | Path,
        log: Callable[[str], None] | None = None,
    ):
        self.config = config
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        torch.set_num_threads(max(1, int(config.threads)))
        device = resolve_device(config.device)
        # Every input is checked before any work (fhbench.validate): bad input fails here, naming the file.
        check_prepared(prepared_dir)
        check_model_sizes(require_model_dir(model_dir, config.backbone), config.model_config)
        data = load_prepared(prepared_dir)
        split = check_split(split_path, data.labels, scheme_shares_samples)
        split_json = read_json(split_path)
        # Load only the samples the split uses, once, as tensors on the device.
        used = np.unique(np.concatenate([np.asarray(c[s], dtype=np.int64) for c in split for s in c]))
        position = np.full(len(data.labels), -1, dtype=np.int64)
        position[used] = np.arange(len(used))
        backbone = get_backbone(config.architecture)
        rows = data.inputs[used]
        check_finite_inputs(Path(prepared_dir) / "inputs.npy", rows, used)  # a NaN fails here, not as a diverged run
        self.inputs = backbone.encode(model_dir, rows).to(device)
        self.labels = torch.from_numpy(apply_label_maps(data.labels, split_json)[used]).to(device)
        self.planted_groups = [c.get("planted_group") for c in split_json["clients"]]
        clients = [
            ClientData(**{s: torch.from_numpy(position[np.asarray(c[s], dtype=np.int64)]).to(device) for s in ("train", "val", "test")})
            for c in split
        ]
        self._hold_out(clients, split_json["clients"], split_path)
        seed_torch(config.seed)  # LoRA A and head initialisation
        model = backbone.load(require_model_dir(model_dir, config.backbone), data.n_classes)
        model = wrap_with_lora(model, backbone, LoraSpec(**config.lora))
        self._assemble(SharedModel(model, backbone.batch_inputs, device))

    @classmethod
    def from_tensors(
        cls,
        config: RunConfig,
        model: torch.nn.Module,
        batch_inputs: Callable,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        split: list[dict[str, list[int]]],
        log: Callable[[str], None] | None = None,
    ) -> "Federation":
        """A run over in-memory data and an already wrapped model (tests, notebooks).

        ``model``'s trainable parameters are the client tensors; names containing ``lora_A`` /
        ``lora_B`` are LoRA matrices, the rest the head. ``split`` indexes rows of ``inputs``.
        """
        self = cls.__new__(cls)
        self.config = config
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        device = resolve_device(config.device)
        self.inputs, self.labels = inputs.to(device), labels.to(device)
        clients = [
            ClientData(**{s: torch.as_tensor(c[s], dtype=torch.long, device=device) for s in ("train", "val", "test")}) for c in split
        ]
        self.planted_groups = [c.get("planted_group") for c in split]
        self._hold_out(clients, split, "split")
        self._assemble(SharedModel(model, batch_inputs, device))
        return self

    def _hold_out(self, clients: list[ClientData], entries: list[dict], where) -> None:
        """Training clients, and the unseen ones a split holds out (fhbench.newcomers): they never train."""
        from fhbench.newcomers import unseen_clients

        unseen = unseen_clients(entries, where)
        self.clients = clients[: len(clients) - len(unseen)]
        self.newcomers = [(i, clients[i]) for i in unseen]
        self.planted_groups = self.planted_groups[: len(self.clients)]

    def _assemble(self, shared: SharedModel) -> None:
        """Build the algorithm and the client states around the shared model."""
        config = self.config
        self.shared = shared
        self.shared.on_first_step = lambda: self.log(f"first training step done at unix time {time.time():.3f}")
        self.algorithm = build_algorithm(config.algorithm, **config.algorithm_params)
        self.algorithm.setup(
            FederationInfo(
                n_clients=len(self.clients),
                rounds=config.rounds,
                train_sizes=tuple(len(c.train) for c in self.clients),
                param_names=tuple(self.shared.trainable),
                lora_a=self.shared.names("lora_A"),
                lora_b=self.shared.names("lora_B"),
                head=tuple(n for n in self.shared.trainable if "lora_" not in n),
            )
        )
        self.initial = self.shared.snapshot()  # also what a newcomer's fresh tensors are (fhbench.newcomers)
        self.states = [self.algorithm.init_client(i, self.initial) for i in range(len(self.clients))]
        from fhbench.participation import engine_participation

        self.participation = engine_participation(self)
        keys = (config.dataset, config.partition, config.algorithm, config.variant, config.seed)
        self.diagnostics = AdapterDiagnostics(keys, self.algorithm.info)  # diagnostics.csv (fhbench.diagnostics)
        self.batched = None
        if config.engine == "batched":
            from fhbench.batched import batched_trainer

            self.batched = batched_trainer(self)
        self.rows: list[tuple] = []
        self.server_rows: list[tuple] = []  # the algorithm's server matrices (EPFL's weights), tidy
        from fhbench.asymmetry import AsymmetryRecorder

        # How alike the clients' A updates are, and their B updates, every round (asymmetry.csv).
        keys = (config.dataset, config.partition, config.algorithm, config.variant, config.seed)
        info = self.algorithm.info
        self.asymmetry = AsymmetryRecorder(keys, info.lora_a, info.lora_b, enabled=self.algorithm.samples_clients)
        self.start_round = 1
        # Each client's part sizes, once (round 0, split "data"): sample-weighted means need them.
        for i, part in enumerate(self.clients):
            for split in ("train", "val", "test"):
                self._row(0, i, "data", f"n_{split}", float(len(getattr(part, split))))

    # --- bookkeeping -------------------------------------------------------------------------
    def _row(self, round_: int, client: int, split: str, metric: str, value: float, eval_point: str = "") -> None:
        c = self.config
        self.rows.append((c.dataset, c.partition, c.algorithm, c.variant, c.seed, round_, client, split, metric, value, eval_point))

    def metrics_frame(self) -> "pandas.DataFrame":
        import pandas as pd  # only when writing results: keeps it off a job's start-up path

        return pd.DataFrame(self.rows, columns=FILE_COLUMNS)

    def record_server_matrices(self, round_: int, eval_round: bool = True) -> None:
        """Store the algorithm's server matrices of this round as tidy rows (nothing for most algorithms):
        all of them at an evaluation round, those :func:`fhbench.mixing.recorded_at` names at the others.

        The first time, the clients' own relations go with them: each client's dominant training
        class, its planted group (planted-structure splits) and the label-distribution distance
        (total variation) between clients, so weights can be read against the data.
        """
        from fhbench.mixing import client_relations, matrix_rows, recorded_at

        matrices = {name: m for name, m in self.algorithm.server_matrices().items() if recorded_at(name, eval_round)}
        if not matrices:
            return
        c = self.config
        keys = (c.dataset, c.partition, c.algorithm, c.variant, c.seed)
        if not self.server_rows:
            labels = [self.labels[d.train].cpu().numpy() for d in self.clients]
            self.server_rows += matrix_rows(keys, 0, client_relations(labels, self.planted_groups))
        self.server_rows += matrix_rows(keys, round_, matrices)

    def server_frame(self) -> "pandas.DataFrame":
        from fhbench.mixing import mixing_frame

        return mixing_frame(self.server_rows)

    def fingerprint(self) -> str:
        """What a checkpoint must match to be resumed: the run config and the device kind.

        ``device: auto`` resolves to a GPU on a cluster node and to the CPU on a laptop; their
        arithmetic differs, so a resume across the two would not reproduce an uninterrupted run.
        """
        return json.dumps({**asdict(self.config), "device_type": self.shared.device.type}, sort_keys=True)

    def save_checkpoint(self, directory: Path, round_: int) -> None:
        state = {
            "fingerprint": self.fingerprint(),
            "round": round_,
            "clients": [(s.params, s.extra) for s in self.states],
            "server": self.algorithm.server_state(),
            # One pickled blob: torch.save pickles each small tuple slowly (fhbench.checkpoint_format).
            TABLES: pack_tables(
                {
                    "rows": self.rows,
                    "server_rows": self.server_rows,
                    "asymmetry_rows": self.asymmetry.rows,
                    "diagnostics": self.diagnostics.state(),
                }
            ),
        }
        # Written to a temporary sibling, flushed to disk, then renamed over last.pt: a kill or a
        # node crash at any moment leaves either the previous checkpoint or the new one.
        with atomic_path(directory / CHECKPOINT) as tmp:
            with open(tmp, "wb") as handle:
                torch.save(state, handle)
                handle.flush()
                os.fsync(handle.fileno())

    def try_resume(self, directory: Path) -> None:
        path = directory / CHECKPOINT
        if not path.exists():
            return
        try:
            state = torch.load(path, weights_only=False, map_location=self.shared.device)
            state.update(checkpoint_tables(state))
        except Exception as exc:  # a damaged file must cost the rounds it held, never the run
            self.log(f"ignoring unreadable checkpoint {path} ({type(exc).__name__}: {exc}); starting from round 1")
            return
        if not isinstance(state, dict) or state.get("fingerprint") != self.fingerprint():
            self.log(f"ignoring checkpoint {path}: it belongs to a different run configuration")
            return
        self.states = [ClientState(params=p, extra=e) for p, e in state["clients"]]
        self.algorithm.load_server_state(state["server"])
        self.rows = [tuple(r) for r in state["rows"]]
        self.server_rows = [tuple(r) for r in state.get("server_rows", [])]
        self.asymmetry.rows = [tuple(r) for r in state.get("asymmetry_rows", [])]
        self.diagnostics.load_state(state.get("diagnostics"))
        self.start_round = state["round"] + 1
        self.participation.replay(state["round"])  # who is behind the server, from the seeded plans
        self.log(f"resuming from {path} after round {state['round']}")

    # --- the rounds --------------------------------------------------------------------------
    def evaluate(self, client: int, round_: int, point: str = "local") -> float:
        """Score one client at an evaluation point; returns its validation accuracy."""
        state = self.states[client]
        params = self.algorithm.eval_params(client, state) if point == "local" else self.algorithm.received_params(client, state)
        return self.score(params, self.clients[client], round_, client, point)

    def score(self, params: Tensors | None, data: ClientData, round_: int, client: int, point: str) -> float:
        """Rows for ``params`` on a client's val and test parts (NaN when ``params`` is None); returns val accuracy."""
        accuracy = float("nan")
        splits = self.config.eval_splits  # a tuning trial never touches test
        parts = [getattr(data, split) for split in splits]
        if params is None:
            predicted = [None] * len(parts)
        else:
            joined = torch.cat(parts)
            sizes = [len(idx) for idx in parts]
            predicted = self.shared.predict_parts(params, self.inputs[joined], self.labels[joined], sizes, self.config.eval_batch_size)
        for split, idx, result in zip(splits, parts, predicted):
            if result is None:
                scores = dict.fromkeys([*classification_metrics(np.zeros(0), np.zeros(0)), "loss"], float("nan"))
            else:
                pred, loss = result
                scores = classification_metrics(self.labels[idx].cpu().numpy(), pred) | {"loss": loss}
            for metric, value in scores.items():
                self._row(round_, client, split, metric, value, point)
            if split == "val":
                accuracy = scores["accuracy"]
        return accuracy

    def autocast(self):
        """Mixed precision for the forward passes when ``precision`` asks for it (CUDA only)."""
        dtype = PRECISIONS[self.config.precision]
        enabled = dtype is not None and self.shared.device.type == "cuda"
        return torch.autocast(self.shared.device.type, dtype=dtype, enabled=enabled)

    def run_round(self, round_: int) -> str:
        n = len(self.clients)
        # Who is asked and who returns (fhbench.participation): everyone unless configured.
        plan = self.participation.plan(round_)
        selected, returned = set(plan.selected), set(plan.returned)
        caught_up = {c: tensor_bytes(m) for c, m in catch_up(self, plan).items()} if not self.participation.full else {}
        uploads, losses, val_acc = [], [], []
        self.asymmetry.round_start({c: self.states[c].params for c in plan.selected})
        self.diagnostics.start_round(self.states, plan.selected)
        trained = self.batched.train_round(round_, plan.selected) if self.batched else None
        last_report = time.perf_counter()
        for client in range(n):
            if client in selected:
                if trained is None:
                    loss = self.algorithm.local_update(client, self.states[client], ClientRound(self, client, round_))
                else:
                    loss = trained[client]
                # A huge step can leave finite losses but infinite tensors; stop before they spread.
                # (A client with no training rows has a NaN loss and has not diverged.)
                no_data = len(self.clients[client].train) == 0
                if (not math.isfinite(loss) and not no_data) or not all(
                    bool(torch.isfinite(t).all()) for t in self.states[client].params.values()
                ):
                    raise Diverged(f"client {client}: non-finite loss or parameters after local training")
                losses.append(loss)
                if time.perf_counter() - last_report > PROGRESS_SECONDS:  # long rounds (real models) show clients too
                    self.log(f"  round {round_}: client {client + 1}/{n} trained · loss {loss:.4f}")
                    last_report = time.perf_counter()
                self._row(round_, client, "train", "loss", loss)
            if self.config.is_eval_round(round_) and "local" in self.config.eval_points:
                val_acc.append(self.evaluate(client, round_, "local"))  # an absent client: the model it holds
            if client in returned:
                uploads.append(self.algorithm.upload(client, self.states[client]))
            elif client in selected:
                self.algorithm.not_returned(client, self.states[client])
        self.asymmetry.round_end(round_, {c: self.states[c].params for c in plan.selected})
        self.diagnostics.end_training(round_, self.states, plan.selected)
        if len(returned) == n:
            messages = dict(zip(plan.returned, self.algorithm.aggregate(uploads)))
        else:  # no server step when nobody returned
            messages = dict(zip(plan.returned, self.algorithm.aggregate_returned(plan.returned, uploads))) if uploads else {}
        sent = dict(zip(plan.returned, uploads))
        for client in plan.selected:
            if client in messages:
                self.algorithm.download(client, self.states[client], messages[client])
            self._row(round_, client, "comm", "upload_bytes", tensor_bytes(sent.get(client, {})))
            self._row(round_, client, "comm", "download_bytes", tensor_bytes(messages.get(client, {})) + caught_up.get(client, 0))
        self.participation.round_done(plan)
        if self.config.is_eval_round(round_) and "received" in self.config.eval_points:
            received = [self.evaluate(client, round_, "received") for client in range(n)]
            val_acc = val_acc or received
        self.record_server_matrices(round_, self.config.is_eval_round(round_))
        summary = f"loss {np.mean(losses):.4f}"  # at least one client is asked every round
        if len(selected) < n or len(returned) < len(selected):
            summary = f"{len(selected)} asked, {len(returned)} returned · " + summary
        if val_acc:
            summary += f" · val acc {np.nanmean(val_acc):.3f}"
        return summary

    def run(self, checkpoint_dir: str | Path | None = None, progress_bar: bool = False, tracking_dir: str | Path | None = None) -> str:
        """Run all remaining rounds; return ``"completed"`` or ``"diverged"``.

        Each round logs one line with its ETA (fhbench.progress; also a tqdm bar when
        ``progress_bar``) and, when ``tracking_dir`` is given, TensorBoard scalars (fhbench.tracking).
        """
        c = self.config
        checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        if checkpoint_dir:
            self.try_resume(checkpoint_dir)
        name = f"{c.dataset}/{c.partition}/{c.algorithm}/{c.variant}/seed{c.seed}"
        progress = RoundProgress(name, c.rounds, self.start_round, log=self.log, bar=progress_bar)
        tracker = open_tracker(tracking_dir, name, asdict(c), self.start_round, str(self.shared.device))
        for round_ in range(self.start_round, c.rounds + 1):
            t0 = time.perf_counter()
            try:
                with self.autocast():
                    summary = self.run_round(round_)
            except Diverged as exc:
                self.log(f"[{name}] round {round_}/{c.rounds}: diverged ({exc}); stopping this run")
                # Drop the partial round, keep one row saying where the run stopped.
                self.rows = [r for r in self.rows if r[5] < round_]
                self.diagnostics.rows = [r for r in self.diagnostics.rows if r[5] < round_]
                self.asymmetry.rows = [r for r in self.asymmetry.rows if r[5] < round_]
                self._row(round_, -1, "run", "diverged", 1.0)
                return self._finish("diverged", progress, tracker)
            progress.round_done(round_, f"{len(self.clients)} clients · lr {c.lr_at(round_):.2e} · {summary}", postfix=summary)
            tracker.log_round(round_, self.rows, time.perf_counter() - t0)
            if checkpoint_dir:
                self.save_checkpoint(checkpoint_dir, round_)
        if self.newcomers:
            from fhbench.newcomers import score_newcomers

            score_newcomers(self)
        return self._finish("completed", progress, tracker)

    def _finish(self, status: str, progress: RoundProgress, tracker) -> str:
        c = self.config
        warning = stall_warning(
            f"{c.dataset}/{c.partition}/{c.algorithm}/{c.variant}/seed{c.seed}", self.diagnostics.frame(), DIAGNOSTICS_FIGURE
        )
        if warning:
            self.log(warning)
        progress.close()
        tracker.finish(status, self.rows)
        tracker.close()
        return status


def run_federation(
    config: RunConfig | dict,
    prepared_dir: str | Path,
    split_path: str | Path,
    model_dir: str | Path,
    metrics_out: str | Path,
    checkpoint_dir: str | Path | None = None,
    run_info_out: str | Path | None = None,
    progress_bar: bool = False,
    tracking_dir: str | Path | None = None,
    mixing_out: str | Path | None = None,
    asymmetry_out: str | Path | None = None,
    diagnostics_out: str | Path | None = None,
) -> str:
    """Run (or resume) one federated run and write its tidy ``metrics.csv`` atomically, with
    ``participation.csv`` beside it (who was asked and who returned per round, fhbench.participation)
    and ``asymmetry_out`` (default: ``asymmetry.csv`` beside the metrics; how alike the clients'
    A and B updates are per round, fhbench.asymmetry).

    The resolved configuration, status, cost (wall and CPU time, peak memory) and provenance
    (:mod:`fhbench.provenance`) go to ``run_info_out`` (default: a ``run.json`` beside the metrics); the algorithm's server matrices per evaluation
    round (EPFL's mixing weights and B distances; only a header for other algorithms) to
    ``mixing_out`` (default: ``mixing.csv`` beside the metrics); the learning diagnostics
    (:mod:`fhbench.diagnostics`) to ``diagnostics_out`` (default: ``diagnostics.csv`` beside the
    metrics). A finished run removes its checkpoints.
    """
    config = RunConfig.from_dict(config) if isinstance(config, dict) else config
    check_output_path(metrics_out, "metrics")
    t0, cpu0, started = time.perf_counter(), time.process_time(), provenance.now()
    if not progress_bar:  # a log file gets plain lines, not the model loader's progress bars either
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    engine = Federation(config, prepared_dir, split_path, model_dir)
    status = engine.run(checkpoint_dir, progress_bar, tracking_dir)
    with atomic_path(metrics_out) as tmp:
        engine.metrics_frame().to_csv(tmp, index=False)
    with atomic_path(mixing_out or Path(metrics_out).with_name("mixing.csv")) as tmp:
        engine.server_frame().to_csv(tmp, index=False)
    with atomic_path(asymmetry_out or Path(metrics_out).with_name("asymmetry.csv")) as tmp:
        engine.asymmetry.frame().to_csv(tmp, index=False)
    write_participation(engine, Path(metrics_out).with_name("participation.csv"))
    with atomic_path(diagnostics_out or Path(metrics_out).with_name("diagnostics.csv")) as tmp:
        engine.diagnostics.frame().to_csv(tmp, index=False)
    run_info_out = run_info_out or Path(metrics_out).with_name("run.json")
    device = engine.shared.device
    # The run's own cost: under the warm worker (fhbench.worker) Snakemake's benchmark files time only the job's client.
    info = {"status": status, **provenance.cost(t0, cpu0, device)}
    inputs = {"prepared": prepared_dir, "split": split_path, "model": model_dir}
    info["provenance"] = provenance.collect(started, inputs, device)
    info["train_sizes"] = [len(c.train) for c in engine.clients]  # per training client: the client-size figure
    write_json(run_info_out, info | {"config": asdict(config)})
    if checkpoint_dir:
        remove_checkpoints(checkpoint_dir)
    return status


def remove_checkpoints(directory: str | Path) -> None:
    """Delete a finished run's checkpoint and leftovers of interrupted saves, then the folder if empty.

    Only files this module writes are removed, so a folder given by mistake loses nothing else.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    (directory / CHECKPOINT).unlink(missing_ok=True)
    for leftover in directory.glob(f".{CHECKPOINT}.*"):  # atomic_path temp folders of killed saves
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        directory.rmdir()
    except OSError:
        pass  # not empty: something else lives there
