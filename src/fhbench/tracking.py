"""Optional experiment tracking: TensorBoard event files per run (``tracking: tensorboard``).

Every scalar is computed from the same tidy rows that become ``metrics.csv`` (:func:`round_scalars`),
so the dashboard and the tables cannot disagree. Off by default: :func:`open_tracker` then returns
a tracker that does nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from fhbench.metrics import FILE_COLUMNS, bottom10

COLUMN = {name: i for i, name in enumerate(FILE_COLUMNS)}
EVALUATED = ("val", "test")


def round_scalars(rows: Sequence[tuple], round_: int) -> dict[str, float]:
    """TensorBoard tags → values for one round, from the tidy rows of ``metrics.csv``.

    ``train/loss``: mean over clients with training data; ``{val,test}/{metric}_mean``,
    ``_worst`` and ``_bottom10``: mean, lowest and mean of the worst 10% (:func:`fhbench.metrics.bottom10`)
    over clients (empty parts, NaN, left out), at the ``local`` evaluation point; another
    point's scores (``received``, unseen clients' ``newcomer``) go to ``{val,test}_{point}/...``;
    ``comm/*_bytes``: the round's total over clients.
    """
    r, split_i, metric_i, value_i = COLUMN["round"], COLUMN["split"], COLUMN["metric"], COLUMN["value"]
    point_i = COLUMN["eval_point"]
    groups: dict[tuple[str, str], list[float]] = {}
    # Rows are appended round by round: walk back from the end to this round's block.
    for row in reversed(rows):
        if row[r] > round_:
            continue
        if row[r] < round_:
            break
        split = row[split_i]
        if split in EVALUATED and len(row) > point_i and row[point_i] not in ("", "local") and isinstance(row[point_i], str):
            split = f"{split}_{row[point_i]}"
        groups.setdefault((split, row[metric_i]), []).append(float(row[value_i]))
    scalars: dict[str, float] = {}
    for (split, metric), values in sorted(groups.items()):
        finite = [v for v in values if math.isfinite(v)]
        if split == "train" and metric == "loss" and finite:
            scalars["train/loss"] = sum(finite) / len(finite)
        elif split.split("_")[0] in EVALUATED and finite:
            scalars[f"{split}/{metric}_mean"] = sum(finite) / len(finite)
            scalars[f"{split}/{metric}_worst"] = min(finite)
            scalars[f"{split}/{metric}_bottom10"] = bottom10(finite)
        elif split == "comm":
            scalars[f"comm/{metric}"] = sum(values)
    return scalars


def flat_hparams(config: dict, prefix: str = "") -> dict[str, float | int | str | bool]:
    """A nested run config as TensorBoard hparams (scalars only; lists and None as text)."""
    out: dict[str, float | int | str | bool] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = json.dumps(value)
    return out


def environment(device: str) -> dict[str, str]:
    """Where a run ran, for its text summary: host, device and package versions."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"host": platform.node(), "device": device, "python": platform.python_version()}
    for package in ("fhbench", "torch", "transformers", "peft"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out


class NullTracker:
    def log_round(self, round_: int, rows: Sequence[tuple], seconds: float) -> None:
        pass

    def finish(self, status: str, rows: Sequence[tuple]) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardTracker(NullTracker):
    """One run's event files in ``directory``; the run key and config as text and hparams."""

    def __init__(self, directory: str | Path, name: str, config: dict, start_round: int = 1, provenance: dict | None = None):
        from torch.utils.tensorboard import SummaryWriter

        directory = Path(directory)
        if start_round == 1 and directory.is_dir():
            # A run from round 1 replaces its history: stale event files would mix two runs.
            for old in directory.glob("events.out.tfevents.*"):
                old.unlink()
        # A resumed run hides whatever a killed attempt logged from its first round on.
        self.writer = SummaryWriter(str(directory), purge_step=start_round if start_round > 1 else None)
        self.name, self.config = name, config
        if start_round == 1:
            self.writer.add_text("run/key", name, 0)
            self.writer.add_text("run/config", "```\n" + json.dumps(config, indent=1, sort_keys=True, default=str) + "\n```", 0)
            if provenance:
                self.writer.add_text("run/provenance", "```\n" + json.dumps(provenance, indent=1, sort_keys=True, default=str) + "\n```", 0)

    def log_round(self, round_: int, rows: Sequence[tuple], seconds: float) -> None:
        for tag, value in round_scalars(rows, round_).items():
            self.writer.add_scalar(tag, value, round_)
        self.writer.add_scalar("time/seconds_per_round", seconds, round_)
        self.writer.flush()  # `tensorboard` and `fhbench status` see each round as it ends

    def finish(self, status: str, rows: Sequence[tuple]) -> None:
        """hparams (the run config, with the run key fields) and the final mean and bottom-10% metrics, in this run's folder."""
        from torch.utils.tensorboard.summary import hparams

        last = max((row[COLUMN["round"]] for row in rows), default=0)
        finals = {f"final/{tag}": value for tag, value in round_scalars(rows, last).items() if tag.endswith(("_mean", "_bottom10"))}
        for tag, value in finals.items():
            self.writer.add_scalar(tag, value, last)
        params = flat_hparams(self.config) | {"status": status}
        # SummaryWriter.add_hparams would write to a new sub-folder; these three summaries keep
        # the hparams beside the scalars of the same run.
        for summary in hparams(params, finals):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("run/status", status, last)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tracker(directory: str | Path | None, name: str, config: dict, start_round: int = 1, device: str = "cpu") -> NullTracker:
    """A TensorBoard tracker writing to ``directory``, or one that does nothing when it is None."""
    if directory is None:
        return NullTracker()
    return TensorBoardTracker(directory, name, config, start_round, environment(device))
