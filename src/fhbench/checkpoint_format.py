"""The row tables of a run's round checkpoint (``last.pt``), packed as one pickled blob.

A checkpoint holds the clients' tensors, the server state and the run's row tables so far (metrics,
server matrices, A/B asymmetry, diagnostics): tens of thousands of small tuples by the last round.
``torch.save``'s pickler calls back into Python for every object it writes: the ten checkpoints of
a demo OrganAMNIST run cost 0.35 s of its 5-6 s of CPU, and 0.15 s with the tables packed into one
``pickle.dumps`` blob. Readers (the engine's resume, ``fhbench status``) go through
:func:`checkpoint_tables`, which also reads checkpoints written before the tables were packed.
"""

from __future__ import annotations

import pickle

TABLES = "tables"  # the checkpoint key of the packed blob
TABLE_KEYS = ("rows", "server_rows", "asymmetry_rows", "diagnostics")


def pack_tables(tables: dict) -> bytes:
    """The row tables (keys of ``TABLE_KEYS``) as one pickled blob."""
    unknown = set(tables) - set(TABLE_KEYS)
    if unknown:
        raise ValueError(f"not a checkpoint table: {sorted(unknown)}; expected {list(TABLE_KEYS)}")
    return pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL)


def checkpoint_tables(state: dict) -> dict:
    """A loaded checkpoint's row tables: unpacked from the blob, or the keys of an older checkpoint."""
    if TABLES in state:
        return pickle.loads(state[TABLES])
    return {key: state[key] for key in TABLE_KEYS if key in state}
