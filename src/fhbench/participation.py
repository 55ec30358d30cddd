"""Partial participation and dropout: which clients a round asks, and which of them return.

A real round goes ahead with the sites that are up, and some sites that were asked never
answer. ``training.participation`` (overridable per run by a variant's ``training`` block) says

- ``fraction``: the share of the N training clients asked each round, in (0, 1]; the round asks
  m = max(1, ⌊fraction · N⌋) clients (McMahan et al.'s C, pFL-Bench's sample rate), or
- ``count``: m itself, 1 ≤ m ≤ N (FlowerTune's 2 of 20 is ``count: 2``);
- ``dropout``: the probability, in [0, 1), that an asked client does not return its update
  (PFLlib's drop rate, drawn per client here).

Without the section every client is asked and returns, as before: the results are bit for bit
those of a run without it (tested per algorithm). Which clients are asked in round r, and which of
them drop out, is drawn from the run's seed and r alone (:func:`round_plan`), so a run repeats
exactly and a resumed run draws what an uninterrupted one draws, with nothing to checkpoint.

What the engine does with the plan (:mod:`fhbench.federation`, one hook per round):

1. an asked client that missed a server message since its last one first downloads the server's
   current shared state (:meth:`fhbench.algorithms.base.Algorithm.catch_up`);
2. only the asked clients train (no training row for the others);
3. only the uploads of the clients that return reach the server; a client that trained but did
   not return keeps what :meth:`~fhbench.algorithms.base.Algorithm.not_returned` says;
4. the server step runs over the returned clients (``aggregate`` when every client returned,
   ``aggregate_returned`` otherwise) and only they receive its message; a round where no asked
   client returns changes no server state;
5. at an evaluation round every training client is scored, an absent one with the model it
   holds (the last it received or trained): what that site would use now.

Each run writes ``participation.csv`` beside ``metrics.csv``: one row per (round, client) with
``selected`` and ``returned`` (0/1). Each algorithm's rules for absent clients are in
docs/algorithms.md ("Partial participation").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from fhbench.errors import ConfigError

if TYPE_CHECKING:
    import pandas

    from fhbench.federation import Federation

PARTICIPATION_COLUMNS = ["round", "client", "selected", "returned"]
# The key of the per-round participation stream: far above any client id, so that the stream
# (seed, round, STREAM) never equals a client's training stream (seed, round, client).
STREAM = 1 << 40


@dataclass(frozen=True)
class ParticipationSpec:
    """One run's participation settings (``training.participation``); the default is everyone, always."""

    fraction: float | None = None
    count: int | None = None
    dropout: float = 0.0

    @classmethod
    def from_config(cls, values: Mapping | None, where: str = "training.participation") -> "ParticipationSpec":
        """Checked settings; a bad value raises :class:`~fhbench.errors.ConfigError` naming the key."""
        values = dict(values or {})
        unknown = sorted(set(values) - {"fraction", "count", "dropout"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; use fraction or count, and dropout")
        fraction, count, dropout = values.get("fraction"), values.get("count"), values.get("dropout", 0.0)
        if fraction is not None and count is not None:
            raise ConfigError(f"{where}: give fraction or count, not both (fraction {fraction}, count {count})")
        if fraction is not None and not (_number(fraction) and 0 < fraction <= 1):
            raise ConfigError(f"{where}.fraction: {fraction!r} is not in (0, 1]; give the share of clients asked each round")
        if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
            raise ConfigError(f"{where}.count: {count!r} is not a whole number of at least 1; give the clients asked each round")
        if not (_number(dropout) and 0 <= dropout < 1):
            raise ConfigError(
                f"{where}.dropout: {dropout!r} is not in [0, 1); it is the probability that an asked client does not return "
                "(1 would leave every round without updates)"
            )
        return cls(fraction=None if fraction is None else float(fraction), count=count, dropout=float(dropout))

    def asked(self, n_clients: int, where: str = "training.participation") -> int:
        """How many of ``n_clients`` training clients a round asks; a count above them is an error naming the key."""
        if self.count is not None:
            if self.count > n_clients:
                raise ConfigError(f"{where}.count: {self.count} clients asked per round, but only {n_clients} clients train")
            return self.count
        if self.fraction is None:
            return n_clients
        # Rounded first so that e.g. 0.29 · 100 (28.999…) asks 29 clients, then floored, at least one.
        return max(1, math.floor(round(self.fraction * n_clients, 9)))

    def is_full(self, n_clients: int) -> bool:
        return self.asked(n_clients) == n_clients and self.dropout == 0


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RoundPlan:
    """Which clients a round asks (``selected``) and which of them return their update (``returned``)."""

    round: int
    selected: tuple[int, ...]
    returned: tuple[int, ...]


def round_plan(spec: ParticipationSpec, seed: int, round_: int, n_clients: int) -> RoundPlan:
    """The clients asked in ``round_`` (a uniform draw of m without replacement, ascending) and
    those of them that return (each independently with probability 1 − dropout).

    Drawn from the stream (seed, round): the same plan whenever it is asked for. With every
    client asked and no dropout nothing is drawn.
    """
    everyone = tuple(range(n_clients))
    if spec.is_full(n_clients):
        return RoundPlan(round_, everyone, everyone)
    from fhbench.seeding import stream  # imports torch: not needed by config checks

    rng = stream(seed, round_, STREAM)
    m = spec.asked(n_clients)
    selected = everyone if m == n_clients else tuple(sorted(int(c) for c in rng.choice(n_clients, size=m, replace=False)))
    dropped = rng.random(len(selected)) < spec.dropout
    returned = tuple(c for c, drop in zip(selected, dropped) if not drop)
    return RoundPlan(round_, selected, returned)


class Participation:
    """A run's plans and who is behind the server: the engine asks it once per round.

    A client is *stale* when the server has changed its shared state (a round in which some
    client returned) since the last message the client received; a stale client that is asked
    again catches up first. The bookkeeping is replayed from the plans on resume, so it needs no
    checkpoint.
    """

    def __init__(self, spec: ParticipationSpec, seed: int, n_clients: int):
        self.spec, self.seed, self.n_clients = spec, int(seed), int(n_clients)
        self.full = spec.is_full(n_clients)
        self.server_version = 0  # rounds in which the server changed its state
        self.client_version = [0] * n_clients  # the server_version of each client's last message
        self.rounds_done = 0

    def plan(self, round_: int) -> RoundPlan:
        return round_plan(self.spec, self.seed, round_, self.n_clients)

    def is_stale(self, client: int) -> bool:
        return self.client_version[client] < self.server_version

    def round_done(self, plan: RoundPlan) -> None:
        """Record that the round's returned clients received the server's new state."""
        if plan.returned:
            self.server_version += 1
            for client in plan.returned:
                self.client_version[client] = self.server_version
        self.rounds_done = max(self.rounds_done, plan.round)

    def replay(self, until_round: int) -> None:
        """The bookkeeping after rounds 1 … ``until_round`` (a resumed run)."""
        for round_ in range(self.rounds_done + 1, until_round + 1):
            self.round_done(self.plan(round_))

    def rows(self, last_round: int | None = None) -> list[tuple[int, int, int, int]]:
        """``participation.csv`` rows for rounds 1 … ``last_round`` (default: the rounds done)."""
        rows = []
        for round_ in range(1, (self.rounds_done if last_round is None else last_round) + 1):
            plan = self.plan(round_)
            selected, returned = set(plan.selected), set(plan.returned)
            rows += [(round_, c, int(c in selected), int(c in returned)) for c in range(self.n_clients)]
        return rows

    def frame(self, last_round: int | None = None) -> "pandas.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.rows(last_round), columns=PARTICIPATION_COLUMNS)


def engine_participation(engine: "Federation") -> Participation:
    """The participation of one engine's run: its settings, unless the algorithm samples no clients
    (the centralized reference pools every client's data: every client counts as asked)."""
    spec = ParticipationSpec.from_config(engine.config.participation)
    if not engine.algorithm.samples_clients:
        spec = ParticipationSpec()
    return Participation(spec, engine.config.seed, len(engine.clients))


def catch_up(engine: "Federation", plan: RoundPlan) -> dict[int, dict]:
    """Bring the stale clients asked this round up to the server's state; returns what each downloaded."""
    downloaded = {}
    for client in plan.selected:
        if engine.participation.is_stale(client):
            message = engine.algorithm.catch_up(client, engine.states[client])
            engine.algorithm.download(client, engine.states[client], message)
            downloaded[client] = message
    return downloaded


def write_participation(engine: "Federation", path: str | Path) -> None:
    """``participation.csv``: every round the run reached, one row per (round, client)."""
    from fhbench.io import atomic_path

    last = max((row[5] for row in engine.rows), default=0)  # the round a diverged run stopped in included
    with atomic_path(path) as tmp:
        engine.participation.frame(last).to_csv(tmp, index=False)


def check_config(config: dict) -> None:
    """What the schema cannot check: every run's participation settings against its partition's
    training clients (n_clients − unseen). Raises :class:`~fhbench.errors.ConfigError` naming the key."""
    from fhbench.config_values import deep_merge

    where_base = "training.participation"
    ParticipationSpec.from_config(config.get("training", {}).get("participation"), where_base)
    for name, variant in config.get("variants", {}).items():
        if "participation" in variant.get("training", {}):
            where = f"variants.{name}.training.participation"
            ParticipationSpec.from_config(deep_merge(config.get("training", {}), variant["training"]).get("participation"), where)
    for exp in config.get("experiments", {}).values():
        for variant_name in exp.get("variants", ["default"]):
            variant = config.get("variants", {}).get(variant_name, {})
            training = deep_merge(config.get("training", {}), variant.get("training", {}))
            if "participation" not in training:
                continue
            where = f"variants.{variant_name}.training.participation" if "participation" in variant.get("training", {}) else where_base
            spec = ParticipationSpec.from_config(training["participation"], where)
            for partition in exp.get("partitions", []):
                part = config.get("partitions", {}).get(partition, {})
                n_clients = part.get("n_clients", 20)
                if n_clients is None:  # one client per group: known once the data is split; the engine checks
                    continue
                training_clients = n_clients - part.get("unseen", 0)
                if spec.count is not None and spec.count > training_clients:
                    held = f" ({part.get('unseen', 0)} of its {n_clients} are unseen)" if part.get("unseen") else ""
                    raise ConfigError(
                        f"{where}.count: {spec.count} clients asked per round, but partition {partition!r} trains "
                        f"only {training_clients}{held}; ask at most {training_clients}"
                    )
