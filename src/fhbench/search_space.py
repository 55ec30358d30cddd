"""Search spaces: the ranges over which an algorithm's hyperparameters are tuned (:mod:`fhbench.tuning`).

Every algorithm declares its space next to its hyperparameters, as the class attribute
``search_space`` (:class:`fhbench.algorithms.base.Algorithm`): hyperparameter name →
:class:`Dimension`, each with its scale (``log``, ``linear`` or ``choice``), its range and a
one-line reason. The base class declares the learning rate (:data:`LR`), which every method has;
a subclass adds its own (``search_space = Algorithm.search_space | {...}``), and one that adds
nothing, a plugin included, is tuned over the learning rate alone.

A ``relative`` dimension is a factor of the configured value: the learning rate's range is
0.1 to 10 times the dataset's ``lr``, because good step sizes differ by orders of magnitude
between modalities (docs/protocol.md §4) and one absolute range would fit none of them.

No torch here: the config checks and ``snakemake -n`` read spaces through this module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fhbench.errors import ConfigError

SCALES = ("log", "linear", "choice")
LR = "lr"  # every method's learning rate (datasets.<name>.lr); not an algorithm field
SIGNIFICANT_DIGITS = 4  # drawn values are rounded so that tables and run configs stay readable


@dataclass(frozen=True)
class Dimension:
    """One tuned hyperparameter: where its values come from and why that range."""

    scale: str  # one of SCALES
    low: float | None = None  # log / linear: inclusive bounds
    high: float | None = None
    choices: tuple = ()  # choice: the values, drawn with equal probability
    integer: bool = False  # linear: whole numbers from low to high
    relative: bool = False  # log / linear: factors of the configured value
    reason: str = ""

    def check(self, where: str) -> None:
        """Raise ``ConfigError`` naming ``where`` for a space no value can be drawn from."""
        if self.scale not in SCALES:
            raise ConfigError(f"{where}.scale: {self.scale!r} is not one of {list(SCALES)}")
        if self.scale == "choice":
            if not self.choices:
                raise ConfigError(f"{where}.values: no values to choose from; list at least one")
            if len(set(map(repr, self.choices))) != len(self.choices):
                raise ConfigError(f"{where}.values: {list(self.choices)} repeats a value; list each once")
            return
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"{where}.{bound}: {value!r} is not a finite number")
        if not self.low < self.high:
            raise ConfigError(f"{where}: range [{self.low}, {self.high}] is empty or inverted; give low < high")
        if self.scale == "log" and self.low <= 0:
            raise ConfigError(f"{where}: a log scale needs positive bounds, got [{self.low}, {self.high}]; use linear or a low above 0")
        if self.integer and (self.scale != "linear" or int(self.low) != self.low or int(self.high) != self.high):
            raise ConfigError(f"{where}.integer: needs a linear scale with whole-number bounds, got {self.scale} [{self.low}, {self.high}]")

    def value(self, u: float, configured: Any = None) -> Any:
        """The value at ``u`` ∈ [0, 1) of the unit interval (a sampler's coordinate).

        ``configured`` is the value the config sets, which a ``relative`` range multiplies.
        """
        u = min(max(float(u), 0.0), math.nextafter(1.0, 0.0))
        if self.scale == "choice":
            return self.choices[int(u * len(self.choices))]
        if self.integer:
            return int(self.low + math.floor(u * (self.high - self.low + 1)))
        if self.scale == "log":
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        if self.relative:
            x *= float(configured)
        return float(f"{x:.{SIGNIFICANT_DIGITS}g}")

    def describe(self) -> str:
        """``log [0.001, 1]``, ``linear [0.1, 0.9]``, ``choice {all, first_half}``; relative ranges say so."""
        if self.scale == "choice":
            return "choice {" + ", ".join(str(c) for c in self.choices) + "}"
        kind = f"{self.scale} integer" if self.integer else self.scale
        return f"{kind} [{self.low:g}, {self.high:g}]" + (" × configured" if self.relative else "")

    def as_config(self) -> dict:
        """The config spelling of this dimension (``tuning.spaces.<algorithm>.<name>``)."""
        if self.scale == "choice":
            return {"scale": "choice", "values": list(self.choices), "reason": self.reason}
        out = {"scale": self.scale, "low": self.low, "high": self.high, "reason": self.reason}
        return out | ({"integer": True} if self.integer else {}) | ({"relative": True} if self.relative else {})


def log_range(low: float, high: float, reason: str, relative: bool = False) -> Dimension:
    """Log-uniform between ``low`` and ``high``: for scales whose plausible values span decades."""
    return Dimension("log", float(low), float(high), reason=reason, relative=relative)


def linear_range(low: float, high: float, reason: str, integer: bool = False) -> Dimension:
    """Uniform between ``low`` and ``high`` (whole numbers when ``integer``)."""
    return Dimension("linear", low if integer else float(low), high if integer else float(high), integer=integer, reason=reason)


def choice(values: tuple | list, reason: str) -> Dimension:
    """One of ``values``, each equally likely: categorical settings."""
    return Dimension("choice", choices=tuple(values), reason=reason)


def from_config(where: str, entry: dict) -> Dimension:
    """A dimension written in the config (``{scale, low, high}`` or ``{scale: choice, values}``), checked."""
    scale = entry.get("scale")
    if scale == "choice":
        dimension = Dimension("choice", choices=tuple(entry.get("values") or ()), reason=entry.get("reason", "set in the config"))
    else:
        dimension = Dimension(
            scale,
            entry.get("low"),
            entry.get("high"),
            integer=bool(entry.get("integer", False)),
            relative=bool(entry.get("relative", False)),
            reason=entry.get("reason", "set in the config"),
        )
    dimension.check(where)
    return dimension


LR_DIMENSION = log_range(
    0.1,
    10.0,
    "the step size that trains best differs per method and dataset; one decade either side of the dataset's lr",
    relative=True,
)
