"""``fhbench status``: where a grid stands, from the files its runs leave behind.

Nothing is asked of Snakemake or Slurm: a run's state follows from its files (paths from
:mod:`fhbench.grid`), so the same screen works while a local or cluster workflow runs and on a
results folder copied from a cluster.

- done / diverged: ``metrics.csv`` exists (diverged when ``run.json`` says so);
- failed: no metrics, and the run's log ends in a Python traceback;
- running: no metrics, and its log or checkpoint changed recently (within ``stale`` seconds, or
  three rounds of its own pace if slower);
- stalled: no metrics, progress on disk (log or checkpoint) but nothing written recently: killed,
  preempted and waiting for its requeue, or copied from elsewhere;
- pending: nothing on disk yet.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fhbench import grid
from fhbench.progress import ROUND_LINE, SECONDS_PER_ROUND, VAL_ACC, format_duration

STATES = ("done", "diverged", "running", "stalled", "failed", "pending")
TAIL_BYTES = 64 * 1024  # the end of a log holds its last rounds and any traceback
TRACEBACK = "Traceback (most recent call last)"
RESUMED = re.compile(r"^resuming from .* after round (\d+)$")  # fhbench.federation.Federation.try_resume
CHECKPOINT = "last.pt"  # fhbench.federation.CHECKPOINT, named here to keep torch out of this module (a test checks)


@dataclass
class RunStatus:
    key: grid.RunKey
    state: str
    rounds: int
    round: int = 0  # last finished round (running, stalled, done)
    val_acc: float | None = None  # mean validation accuracy of the last evaluation round
    seconds_per_round: float | None = None
    last_activity: float | None = None  # unix time of the last write to the log or checkpoint
    log: str | None = None
    tail: list[str] = field(default_factory=list)  # failed runs: the last lines of the log
    stalled: list[str] = field(default_factory=list)  # finished runs: tensors that never moved (fhbench.diagnostics)

    def eta(self, now: float) -> float | None:
        """Seconds until this run finishes at its measured pace (running runs)."""
        if self.seconds_per_round is None:
            return None
        since = now - self.last_activity if self.last_activity else 0.0
        return max(0.0, (self.rounds - self.round) * self.seconds_per_round - since)


@dataclass
class LogInfo:
    round: int = 0
    rounds: int | None = None
    val_acc: float | None = None
    seconds_per_round: float | None = None
    failed: bool = False
    lines: list[str] = field(default_factory=list)


def read_tail(path: Path, size: int = TAIL_BYTES) -> str:
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        end = handle.tell()
        handle.seek(max(0, end - size))
        return handle.read().decode("utf-8", errors="replace")


def parse_log(text: str) -> LogInfo:
    """Progress and failure of a run from (the end of) its log (line format: fhbench.progress)."""
    info = LogInfo(lines=[line for line in text.splitlines() if line.strip()])
    last_round_line = -1
    for i, line in enumerate(info.lines):
        resumed = RESUMED.search(line)
        if resumed:  # a retry's log starts with where its checkpoint left off
            info.round = int(resumed[1])
        match = ROUND_LINE.match(line)
        if not match or "diverged" in match["rest"]:
            continue
        last_round_line = i
        info.round, info.rounds = int(match["round"]), int(match["rounds"])
        acc = VAL_ACC.search(match["rest"])
        if acc:
            info.val_acc = float(acc["acc"])
        spr = SECONDS_PER_ROUND.search(match["rest"])
        if spr:
            info.seconds_per_round = float(spr["spr"])
    # A traceback after the last finished round: the attempt failed (a retry rewrites the log).
    info.failed = any(TRACEBACK in line for line in info.lines[last_round_line + 1 :])
    return info


def checkpoint_progress(path: Path) -> tuple[int, float | None]:
    """Last round and mean validation accuracy held by a checkpoint (used when no log is there)."""
    import torch

    from fhbench.checkpoint_format import checkpoint_tables
    from fhbench.tracking import round_scalars

    state = torch.load(path, map_location="cpu", weights_only=False)
    round_ = int(state["round"])
    rows = [tuple(r) for r in checkpoint_tables(state)["rows"]]
    evaluated = [r for r in range(round_, 0, -1) if "val/accuracy_mean" in round_scalars(rows, r)]
    acc = round_scalars(rows, evaluated[0])["val/accuracy_mean"] if evaluated else None
    return round_, acc


def mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def run_status(config: dict, key: grid.RunKey, root: Path, now: float, stale: float = 600.0, tail: int = 8) -> RunStatus:
    """The state of one run from its files under ``root``."""
    rounds = int(grid.resolve_run_config(config, key)["rounds"])
    metrics, info_path = root / key.metrics, root / grid.run_info(config, key)
    log = root / grid.log_path(config, key)
    if metrics.exists():
        state, seconds_per_round = "done", None
        try:
            info = json.loads(info_path.read_text())
            state = "diverged" if info.get("status") == "diverged" else "done"
            rounds = int(info.get("config", {}).get("rounds", rounds))
            if info.get("wall_seconds") and state == "done":  # a diverged run stopped early: no pace
                seconds_per_round = float(info["wall_seconds"]) / rounds
        except (OSError, ValueError):
            # No run.json (written a moment after the metrics, or an older layout): a diverged
            # run's last metrics row says so (fhbench.federation writes it last).
            state = "diverged" if ",run,diverged," in read_tail(metrics, 1024) else "done"
        return RunStatus(
            key, state, rounds, round=rounds, seconds_per_round=seconds_per_round, log=str(log), stalled=stalled_of(root / key.diagnostics)
        )
    checkpoint = root / grid.checkpoint_dir(config, key) / CHECKPOINT
    log_time, checkpoint_time = mtime(log), mtime(checkpoint)
    if log_time is None and checkpoint_time is None:
        return RunStatus(key, "pending", rounds)
    try:
        parsed = parse_log(read_tail(log)) if log_time is not None else LogInfo()
    except OSError:  # replaced by a retry between the two looks
        parsed = LogInfo()
    status = RunStatus(
        key,
        "stalled",
        parsed.rounds or rounds,
        parsed.round,
        parsed.val_acc,
        parsed.seconds_per_round,
        max(t for t in (log_time, checkpoint_time) if t is not None),
        str(log) if log_time else None,
    )
    if log_time is None:  # a results folder copied without its logs: the checkpoint tells the round
        try:
            status.round, status.val_acc = checkpoint_progress(checkpoint)
        except Exception:  # noqa: BLE001 - a checkpoint being replaced or damaged: the state still shows
            pass
    if parsed.failed:
        status.state, status.tail = "failed", parsed.lines[-tail:]
    elif now - status.last_activity <= max(stale, 3 * (status.seconds_per_round or 0.0)):
        status.state = "running"
    return status


def stalled_of(path: Path) -> list[str]:
    """The tensors of a finished run that never moved, from its diagnostics.csv (none when absent or unreadable)."""
    from fhbench.diagnostics import stalled_in_file

    try:
        return stalled_in_file(path) if path.exists() else []
    except (OSError, ValueError, KeyError):
        return []


def stall_lines(statuses: list[RunStatus], max_rows: int = 20) -> list[str]:
    """Warnings for finished runs whose adapters have not moved: the run, the tensors, the figure."""
    from fhbench.diagnostics import FIGURE

    stalled = [s for s in statuses if s.stalled]
    if not stalled:
        return []
    lines = [f"warning: {len(stalled)} finished run(s) whose adapters have not moved (see each run's diagnostics.csv and {FIGURE})"]
    lines += [f"  {s.key.label}: {'; '.join(s.stalled)}" for s in stalled[:max_rows]]
    if len(stalled) > max_rows:
        lines.append(f"  ... and {len(stalled) - max_rows} more")
    return lines


def collect(config: dict, root: str | Path = ".", now: float | None = None, stale: float = 600.0, tail: int = 8) -> list[RunStatus]:
    """Every run of the configured grid (:func:`fhbench.grid.all_runs`) with its state."""
    now = time.time() if now is None else now
    return [run_status(config, key, Path(root), now, stale, tail) for key in grid.all_runs(config)]


def counts_by_experiment(config: dict, statuses: list[RunStatus]) -> dict[str, Counter]:
    """State counts per experiment (a run in two experiments counts in both) and ``all`` (each run once)."""
    by_key = {s.key: s.state for s in statuses}
    out = {exp: Counter(by_key[k] for k in grid.experiment_runs(config, exp) if k in by_key) for exp in config["experiments"]}
    out["all"] = Counter(by_key.values())
    return out


def _pace_estimates(statuses: list[RunStatus]) -> dict[tuple, float]:
    """Mean measured seconds per round by (dataset, algorithm), by dataset and overall."""
    samples: dict[tuple, list[float]] = {}
    for s in statuses:
        if s.seconds_per_round:
            for group in ((s.key.dataset, s.key.algorithm), (s.key.dataset,), ()):
                samples.setdefault(group, []).append(s.seconds_per_round)
    return {group: sum(v) / len(v) for group, v in samples.items()}


def projected_finish(statuses: list[RunStatus], now: float, parallel: int | None = None) -> tuple[float | None, int, int]:
    """Seconds until the grid is finished, the parallelism assumed and how many runs were measured.

    Work left = the running runs' ETAs + every stalled or pending run's rounds left at the pace
    measured for its dataset and algorithm (else its dataset, else the grid's mean), spread over
    ``parallel`` runs at once (default: as many as run now). Failed runs are left out (they need
    a rerun). None when no run has been timed yet.
    """
    paces = _pace_estimates(statuses)
    measured = sum(1 for s in statuses if s.seconds_per_round)
    running = [s for s in statuses if s.state == "running"]
    parallel = parallel or max(1, len(running))
    left, longest = 0.0, 0.0
    for s in statuses:
        if s.state in ("done", "diverged", "failed"):
            continue
        pace = s.seconds_per_round or paces.get((s.key.dataset, s.key.algorithm)) or paces.get((s.key.dataset,)) or paces.get(())
        if pace is None:
            return None, parallel, measured
        seconds = s.eta(now) if s.state == "running" and s.seconds_per_round else (s.rounds - s.round) * pace
        left += seconds
        longest = max(longest, seconds)
    return max(longest, left / parallel), parallel, measured


def _clock(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(unix))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list) -> str:  # first column left-aligned, numbers right-aligned
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [fmt(header)] + [fmt(r) for r in rows]


def render(config: dict, statuses: list[RunStatus], now: float, title: str = "", parallel: int | None = None, max_rows: int = 20) -> str:
    """The status screen: counts per experiment, running runs with ETA, failed runs' log tails, projected finish."""
    lines = [f"fhbench status · {title} · {_clock(now)}".replace(" ·  · ", " · ")]
    counts = counts_by_experiment(config, statuses)
    rows = [[exp, sum(c.values())] + [c.get(state, 0) for state in STATES] for exp, c in counts.items()]
    lines += [""] + _table(["experiment", "runs", *STATES], rows)

    running = sorted((s for s in statuses if s.state == "running"), key=lambda s: (s.eta(now) is None, s.eta(now) or 0))
    if running:
        lines += ["", f"running ({len(running)})"]
        table = [
            [
                s.key.label,
                f"{s.round}/{s.rounds}",
                "-" if s.val_acc is None or math.isnan(s.val_acc) else f"{s.val_acc:.3f}",
                "-" if s.seconds_per_round is None else f"{s.seconds_per_round:.2f}",
                "-" if s.eta(now) is None else format_duration(s.eta(now)),
            ]
            for s in running[:max_rows]
        ]
        lines += ["  " + line for line in _table(["run", "round", "val acc", "s/round", "ETA"], table)]
        if len(running) > max_rows:
            lines.append(f"  ... and {len(running) - max_rows} more")
    stalled = [s for s in statuses if s.state == "stalled"]
    if stalled:
        lines += ["", f"stalled ({len(stalled)}): progress on disk, nothing written for a while (killed, preempted, or copied)"]
        table = [[s.key.label, f"{s.round}/{s.rounds}", format_duration(now - s.last_activity) + " ago"] for s in stalled[:max_rows]]
        lines += ["  " + line for line in _table(["run", "round", "last write"], table)]
        if len(stalled) > max_rows:
            lines.append(f"  ... and {len(stalled) - max_rows} more")
    failed = [s for s in statuses if s.state == "failed"]
    if failed:
        lines += ["", f"failed ({len(failed)})"]
        for s in failed[:max_rows]:
            lines.append(f"  {s.key.label}  (round {s.round}/{s.rounds}; {s.log})")
            lines += [f"    | {line}" for line in s.tail]
        if len(failed) > max_rows:
            lines.append(f"  ... and {len(failed) - max_rows} more")

    warnings = stall_lines(statuses, max_rows)
    if warnings:
        lines += [""] + warnings
    left_runs = sum(1 for s in statuses if s.state in ("running", "stalled", "pending"))
    lines.append("")
    if not left_runs:
        finished = counts["all"]
        lines.append(
            f"grid finished: {finished.get('done', 0)} done, {finished.get('diverged', 0)} diverged, {finished.get('failed', 0)} failed"
        )
    else:
        seconds, used, measured = projected_finish(statuses, now, parallel)
        if seconds is None:
            lines.append(f"projected finish: unknown until a run has timed a round ({left_runs} runs to go)")
        else:
            lines.append(
                f"projected finish: {_clock(now + seconds)} (in {format_duration(seconds)}) for {left_runs} runs to go,"
                f" {used} at a time{' (as many as run now; --jobs N to change)' if parallel is None else ''},"
                f" at the pace measured over {measured} runs"
            )
    return "\n".join(lines)


def workflow_summary(config: dict, root: str | Path = ".", configfile: str | Path | None = None) -> str:
    """The few lines ``snakemake all`` ends with: run counts, where the tables, figures and report are."""
    root = Path(root)
    statuses = collect(config, root)
    counts = Counter(s.state for s in statuses)
    unfinished = ", ".join(f"{counts[s]} {s}" for s in ("running", "stalled", "pending") if counts.get(s))
    lines = [
        f"fhbench: {sum(counts.values())} runs: {counts.get('done', 0)} done, {counts.get('diverged', 0)} diverged,"
        f" {counts.get('failed', 0)} failed" + (f", {unfinished}" if unfinished else "")
    ]
    outputs = []
    for kind, targets in (("table", grid.table_targets(config)), ("figure", grid.figure_targets(config))):
        written = [t for t in targets if (root / t).exists()]
        folders = sorted({str(Path(t).parent) + "/" for t in written})
        outputs.append(f"{len(written)} {kind} files in {', '.join(folders)}" if written else f"no {kind}s")
    reports = [r for r in grid.report_targets(config) if (root / r).exists()]
    outputs.append(f"report {', '.join(reports)} (`snakemake --report report.html` bundles them)" if reports else "no report yet")
    lines.append("fhbench: " + "; ".join(outputs))
    lines += [f"fhbench: {line}" for line in stall_lines(statuses, max_rows=5)]
    if counts.get("failed") or counts.get("diverged") or unfinished:
        lines.append(f"fhbench: per-run details: fhbench status{f' --config {configfile}' if configfile else ''}")
    return "\n".join(lines)
