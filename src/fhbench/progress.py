"""Progress of one run: the per-round log line with elapsed time and ETA, and a terminal bar.

The log line is the one contract between a running run and ``fhbench status`` (which parses it
with :data:`ROUND_LINE`), so its format lives here next to its parser.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Callable

#: ``[dataset/partition/algorithm/variant/seedN] round k/T · ... · 1.2s/round · elapsed 12s · ETA 40s``
ROUND_LINE = re.compile(r"^\[(?P<name>[^\]]+)\] round (?P<round>\d+)/(?P<rounds>\d+) · (?P<rest>.*)$")
VAL_ACC = re.compile(r"val acc (?P<acc>[0-9.]+|nan)")
SECONDS_PER_ROUND = re.compile(r"(?P<spr>[0-9.]+)s/round")


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``, ``1d03h``: short enough for a table column."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


class RoundProgress:
    """Times the rounds of one run and reports each: a plain log line, plus a tqdm bar when asked.

    Seconds per round are measured over the rounds this process ran (a resumed run does not count
    the rounds it skipped), so the ETA is that mean times the rounds left.
    """

    def __init__(
        self,
        name: str,
        rounds: int,
        start_round: int = 1,
        log: Callable[[str], None] | None = None,
        bar: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.name, self.rounds, self.start_round = name, rounds, start_round
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.clock = clock
        self.t0 = self.last = clock()
        self.bar = None
        if bar:
            from tqdm import tqdm

            # $COLUMNS/$LINES, else the terminal's size, else 80 x 24: a pseudo-terminal may report
            # 0 x 0, which makes tqdm hide the bar.
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                total=rounds, initial=start_round - 1, desc=name, unit="round", file=sys.stderr, ncols=size.columns, nrows=size.lines
            )

    def line(self, round_: int, summary: str, now: float | None = None) -> str:
        """The log line for a finished round (``summary``: what the engine measured in it)."""
        now = self.clock() if now is None else now
        took, elapsed = now - self.last, now - self.t0
        per_round = elapsed / max(1, round_ - self.start_round + 1)
        eta = per_round * (self.rounds - round_)
        return (
            f"[{self.name}] round {round_}/{self.rounds} · {summary} · {took:.1f}s · {per_round:.2f}s/round"
            f" · elapsed {format_duration(elapsed)} · ETA {format_duration(eta)}"
        )

    def round_done(self, round_: int, summary: str, postfix: str = "") -> str:
        now = self.clock()
        text = self.line(round_, summary, now)
        self.last = now
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)  # above the bar, which stays at the bottom
            self.bar.set_postfix_str(postfix or summary, refresh=False)
            self.bar.update(1)
        else:
            self.log(text)
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
