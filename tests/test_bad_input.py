"""The malformed-input battery: what a careless user gives each command, and what they see.

Every case runs the real ``fhbench`` command (``fhbench.cli.main`` in this process: a fresh
process would spend ~8 s importing torch per case; a few cases run as subprocesses) on a
workspace of valid inputs with one thing broken, and checks that

- the exit status is 2 (bad input) or 1 (download, disk),
- stderr is one line ``fhbench: error: ...`` naming the culprit, with no traceback,
- no output (nor a temporary leftover) is written,
- no file of the workspace outside the outputs is touched.

docs/bad-input.md lists the cases and the messages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from fhbench.cli import main
from tests.conftest import REPO, TINY_VIT

PASSWORD = "s3cr3t-pw"


# --------------------------------------------------------------------------- the workspace


@pytest.fixture(scope="session")
def valid_inputs(tmp_path_factory, demo_organamnist, tiny_vit_dir) -> Path:
    """One set of valid inputs, copied into each case's workspace."""
    from fhbench.data import acquire
    from fhbench.partition import partition_prepared

    root = tmp_path_factory.mktemp("valid")
    labels = np.random.default_rng(0).permutation(np.arange(1300) % 11)
    np.save(root / "labels.npy", labels)
    shutil.copytree(demo_organamnist, root / "prepared")
    acquire("organamnist", root / "raw", source="demo", demo_options={"n_train": 40, "n_val": 10, "n_test": 20})
    partition_prepared(root / "prepared", root / "split.json", "fhbench", 4, 0.5, 1.0, 2025)
    shutil.copytree(tiny_vit_dir, root / "model")
    run = {
        "dataset": "organamnist",
        "partition": "fhbench",
        "algorithm": "fedavg",
        "seed": 0,
        "backbone": "vit_tiny",
        "architecture": "vit",
        "rounds": 1,
        "lr": 0.05,
        "batch_size": 16,
        "eval_every": 1,
        "device": "cpu",
        "lora": {"rank": 2, "alpha": 4, "dropout": 0.0},
        "model_config": dict(TINY_VIT),
    }
    (root / "run.yaml").write_text(yaml.safe_dump(run))
    shutil.copy(REPO / "config" / "demo.yaml", root / "config.yaml")
    return root


@pytest.fixture
def ws(tmp_path, valid_inputs) -> Path:
    work = tmp_path / "ws"
    shutil.copytree(valid_inputs, work)
    (work / "out").mkdir()
    return work


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")) if p.is_file()}


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def log_case(ws: Path, code: int, line: str) -> None:
    """docs/bad-input.md's messages come from here (FHBENCH_BATTERY_LOG=file.jsonl)."""
    if os.environ.get("FHBENCH_BATTERY_LOG"):
        with open(os.environ["FHBENCH_BATTERY_LOG"], "a") as log:
            case = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
            log.write(json.dumps({"case": case, "code": code, "line": line.replace(str(ws), "WS")}) + "\n")


def expect_failure(capsys, ws: Path, argv: list[str], code: int, culprits: list[str], outputs: list[Path]) -> str:
    """Run ``fhbench argv`` in-process and check the five promises; returns the error line."""
    capsys.readouterr()  # what the case's setup printed
    before = snapshot(ws)
    outputs_before = {o: o.exists() for o in outputs}
    got = main(argv)
    err = capsys.readouterr().err
    # The work's own progress lines (a download's percentage, a reader's counts) may come first; the error is
    # one line, the last, and the only one.
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("fhbench: error: ")]
    assert got == code, err
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err
    lines = errors
    for culprit in culprits:
        assert culprit in lines[0], f"{culprit!r} not named in: {lines[0]}"
    assert PASSWORD not in err
    for out in outputs:
        if not outputs_before[out]:
            assert not out.exists(), f"{out} was written"
    log_case(ws, got, lines[0])
    after = snapshot(ws)
    touched = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert not touched, f"files outside the outputs touched: {sorted(touched)}"
    return lines[0]


# --------------------------------------------------------------------------- fhbench partition


def labels_case(make):
    """A --labels file written by ``make(path)``."""
    return make


PARTITION_LABELS = {
    "2-D": (lambda p: np.save(p, np.zeros((20, 2), dtype=int)), "shape (20, 2)"),
    "float": (lambda p: np.save(p, np.arange(30) % 3 + 0.5), "floats"),
    "float-integral": (lambda p: np.save(p, (np.arange(30) % 3).astype(float)), "floats"),
    "nan": (lambda p: np.save(p, np.r_[np.arange(29) % 3, np.nan]), "NaN"),
    "negative": (lambda p: np.save(p, np.r_[np.arange(29) % 3, -1]), "label -1 at index 29 is negative"),
    "non-contiguous": (lambda p: np.save(p, np.repeat([0, 5, 10, 15, 20], 260)), "5 distinct values up to 20"),
    "huge-value": (lambda p: np.save(p, np.r_[np.arange(1299) % 3, 10**9]), "up to 1000000000"),
    "empty": (lambda p: np.save(p, np.zeros(0, dtype=int)), "holds no labels"),
    "strings": (lambda p: np.save(p, np.array(["a", "b"] * 20)), "not integer"),
    "bool": (lambda p: np.save(p, np.arange(40) % 2 == 0), "not integer"),
    "truncated": (lambda p: (np.save(p, np.arange(1000) % 3), p.write_bytes(p.read_bytes()[:300])), "cannot be read"),
    "zero-byte": (lambda p: p.write_bytes(b""), "cannot be read"),
    "text-file": (lambda p: p.write_text("0,1,2\n"), "cannot be read"),
    "pickled-objects": (lambda p: np.save(p, np.array([{"a": 1}] * 5, dtype=object)), "cannot be read"),
    "npz-archive": (lambda p: (np.savez(str(p) + ".npz", y=np.arange(5)), os.replace(str(p) + ".npz", p)), "npz archive"),
}


@pytest.mark.parametrize("name", sorted(PARTITION_LABELS))
def test_partition_refuses_bad_labels(capsys, ws, name):
    make, culprit = PARTITION_LABELS[name]
    bad = ws / "bad_labels.npy"
    make(bad)
    out = ws / "out" / "split.json"
    expect_failure(capsys, ws, ["partition", "--labels", str(bad), "--n-clients", "2", "--out", str(out)], 2, [str(bad), culprit], [out])


PARTITION_ARGS = {
    "labels-missing": (["--labels", "{ws}/nope.npy"], ["nope.npy", "does not exist"]),
    "labels-is-a-directory": (["--labels", "{ws}/prepared"], ["prepared", "is a directory"]),
    "datapercent-2": (["--datapercent", "2"], ["datapercent"]),
    "datapercent-0": (["--datapercent", "0"], ["datapercent"]),
    "datapercent-nan": (["--datapercent", "nan"], ["datapercent"]),
    "alpha-nan": (["--alpha", "nan"], ["alpha", "nan"]),
    "alpha-negative": (["--alpha", "-1"], ["alpha"]),
    "alpha-zero-dirichlet": (["--alpha", "0", "--scheme", "dirichlet"], ["alpha"]),
    "n-clients-0": (["--n-clients", "0"], ["n_clients"]),
    "n-clients-not-a-number": (["--n-clients", "twenty"], ["--n-clients", "twenty"]),
    "n-clients-more-than-samples": (["--n-clients", "2000"], ["cannot fill 2000 clients"]),
    "scheme-unknown": (["--scheme", "random"], ["--scheme", "random"]),
    "natural-without-group": (["--scheme", "natural"], ["natural scheme needs a group"]),
    "group-without-metadata": (["--scheme", "natural", "--group", "patient"], ["--group", "--metadata"]),
    "group-not-a-column": (
        ["--scheme", "natural", "--group", "ward", "--metadata", "{ws}/prepared/metadata.csv"],
        ["metadata.csv", "'ward'"],
    ),
    "out-parent-is-a-file": (["--out", "{ws}/labels.npy/split.json"], ["labels.npy", "is a file"]),
    # 30 samples for 20 clients: some client gets nothing to train on (was a ZeroDivisionError in the run)
    "too-few-samples-per-client": (
        ["--labels", "{ws}/small.npy", "--n-clients", "20", "--scheme", "iid"],
        ["none of the 20 clients gets a training sample", "fewer clients"],
    ),
}


@pytest.mark.parametrize("name", sorted(PARTITION_ARGS))
def test_partition_refuses_bad_arguments(capsys, ws, name):
    extra, culprits = PARTITION_ARGS[name]
    np.save(ws / "small.npy", np.arange(30) % 3)
    out = ws / "out" / "split.json"
    argv = ["partition", "--labels", str(ws / "labels.npy"), "--out", str(out)]
    argv += [a.format(ws=ws) for a in extra]
    if "--out" in extra:  # the case's own --out replaces the default
        argv = argv[:3] + argv[5:]
    expect_failure(capsys, ws, argv, 2, [c.format(ws=ws) for c in culprits], [out])


def test_partition_out_directory_is_refused_and_kept(capsys, ws):
    """The data-loss case: --out naming an existing folder used to delete the whole tree."""
    folder = ws / "my_results"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "thesis.tex").write_text("two years of work\n")
    line = expect_failure(
        capsys, ws, ["partition", "--labels", str(ws / "labels.npy"), "--out", str(folder)], 2, [str(folder), "existing directory"], []
    )
    assert (folder / "sub" / "thesis.tex").read_text() == "two years of work\n"
    assert "give a file path" in line


@pytest.mark.parametrize(
    "scheme,labels,alpha,culprit",
    [
        ("dirichlet", "demo", "0.01", "alpha=0.01 cannot give every one of 20 clients"),
        ("dirichlet", "demo", "1e-06", "alpha=1e-06 cannot give every one of 20 clients"),
        ("fhbench", "one-dominant-class", "1e-06", "alpha=1e-06 cannot give both workers of chunk 0"),
    ],
    ids=["dirichlet-0.01", "dirichlet-1e-6", "fhbench-one-dominant-class"],
)
def test_partition_hang_cases_end_with_an_error(ws, scheme, labels, alpha, culprit):
    """Redraw loops that never ended: now bounded, through the real command in its own process."""
    from fhbench.data.prepared import load_prepared

    path = ws / "hang.npy"
    if labels == "demo":  # the demo OrganAMNIST labels, as in the report
        np.save(path, load_prepared(ws / "prepared").labels)
    else:  # 1290 of 1300 samples in one class: at alpha 1e-6 each draw gives a chunk's class 0 to one worker
        np.save(path, np.repeat([0, 1], [1290, 10]))
    out = ws / "out" / "split.json"
    cmd = [
        sys.executable,
        "-m",
        "fhbench.cli",
        "partition",
        "--labels",
        str(path),
        "--scheme",
        scheme,
        "--alpha",
        alpha,
        "--n-clients",
        "20",
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 2, done.stderr
    assert culprit in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_partition_labels_vector_that_is_valid_still_works(capsys, ws):
    out = ws / "out" / "split.json"
    assert main(["partition", "--labels", str(ws / "labels.npy"), "--out", str(out)]) == 0
    split = json.loads(out.read_text())
    assert split["labels"]["count"] == 1300 and len(split["labels"]["sha256"]) == 64


# --------------------------------------------------------------------------- configs


def _set(path: tuple, value):
    def change(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


CONFIGS = {
    "lr-nan": (_set(("datasets", "organamnist", "lr"), float("nan")), ["datasets.organamnist.lr", "nan"]),
    "lr-inf": (_set(("datasets", "organamnist", "lr"), float("inf")), ["datasets.organamnist.lr", "inf"]),
    "lr_min-nan": (_set(("training", "lr_min"), float("nan")), ["training.lr_min"]),
    "alpha-nan": (_set(("partitions", "fhbench", "alpha"), float("nan")), ["partitions.fhbench.alpha"]),
    "variant-misspelt-training-key": (_set(("variants", "rank4"), {"training": {"roundz": 2}}), ["variants.rank4.training.roundz"]),
    "variant-training-out-of-range": (_set(("variants", "rank4"), {"training": {"rounds": 0}}), ["variants.rank4.training.rounds"]),
    "variant-lora-wrong-type": (_set(("variants", "rank4"), {"lora": {"rank": "eight"}}), ["variants.rank4.lora.rank"]),
    "variant-lora-misspelt": (_set(("variants", "rank4"), {"lora": {"rnak": 4}}), ["variants.rank4.lora.rnak"]),
    "rounds-zero": (_set(("training", "rounds"), 0), ["training.rounds"]),
    "unknown-top-level-key": (_set(("trainings",), {}), ["trainings"]),
    "undefined-backbone": (_set(("datasets", "organamnist", "backbone"), "vit_huge"), ["datasets.organamnist.backbone", "vit_huge"]),
    "undefined-dataset-in-experiment": (
        _set(("experiments", "main", "datasets"), ["organbmnist"]),
        ["experiments.main.datasets", "organbmnist"],
    ),
    "negative-seed": (_set(("seeds",), [-1]), ["seeds"]),
    "credentials-in-base-url": (
        _set(("datasets", "organamnist", "base_url"), f"http://alice:{PASSWORD}@mirror.example/data"),
        ["datasets.organamnist.base_url", "alice:***@", "netrc"],
    ),
}


# Demo, prepare and tiny-model options (issue 23): in the schema, each refused naming its key.
DEMO = ("datasets", "organamnist", "demo")
TINY = ("backbones", "vit_tiny", "tiny")
CONFIGS.update(
    {
        "demo-seed-negative": (_set((*DEMO, "seed"), -1), ["datasets.organamnist.demo.seed", "minimum of 0"]),
        "demo-image-size-zero": (_set((*DEMO, "image_size"), 0), ["datasets.organamnist.demo.image_size"]),
        "demo-image-size-huge": (_set((*DEMO, "image_size"), 100_000), ["datasets.organamnist.demo.image_size", "maximum"]),
        "demo-count-as-text": (_set((*DEMO, "n_train"), "800"), ["datasets.organamnist.demo.n_train", "not of type 'integer'"]),
        "demo-count-zero": (_set((*DEMO, "n_val"), 0), ["datasets.organamnist.demo.n_val"]),
        "demo-option-misspelt": (_set((*DEMO, "n_trian"), 800), ["datasets.organamnist.demo.n_trian", "not a key here", "n_train"]),
        "demo-icbhi-flag-as-text": (_set(("datasets", "icbhi", "demo", "list_quirk"), "yes"), ["datasets.icbhi.demo.list_quirk"]),
        "demo-icbhi-no-cycles": (_set(("datasets", "icbhi", "demo", "cycles_per_recording"), 0), ["cycles_per_recording"]),
        "demo-sprsound-no-events": (_set(("datasets", "sprsound", "demo", "events_per_recording"), 0), ["events_per_recording"]),
        "demo-ptbxl-records-too-short": (_set(("datasets", "ptbxl", "demo", "seconds"), 5), ["datasets.ptbxl.demo.seconds"]),
        "demo-adftd-other-rate": (_set(("datasets", "adftd", "demo", "sfreq"), 250), ["datasets.adftd.demo.sfreq", "500"]),
        "demo-adftd-no-seconds": (_set(("datasets", "adftd", "demo", "seconds"), 0), ["datasets.adftd.demo.seconds"]),
        "demo-medabs-one-word": (_set(("datasets", "medabs", "demo", "words"), 1), ["datasets.medabs.demo.words"]),
        "demo-pubmedrct-two-words": (_set(("datasets", "pubmedrct", "demo", "words"), 2), ["datasets.pubmedrct.demo.words"]),
        "demo-pubmedrct-negative-dev": (_set(("datasets", "pubmedrct", "demo", "n_dev"), -1), ["datasets.pubmedrct.demo.n_dev"]),
        "demo-not-a-mapping": (_set(DEMO, [800, 200]), ["datasets.organamnist.demo", "not of type 'object'"]),
        "prepare-clip-negative": (_set(("datasets", "icbhi", "prepare", "clip_seconds"), -1), ["datasets.icbhi.prepare.clip_seconds"]),
        "prepare-clip-zero": (_set(("datasets", "icbhi", "prepare", "clip_seconds"), 0), ["datasets.icbhi.prepare.clip_seconds"]),
        "prepare-clip-hours": (_set(("datasets", "sprsound", "prepare", "clip_seconds"), 3600), ["datasets.sprsound.prepare.clip_seconds"]),
        "prepare-clip-as-text": (_set(("datasets", "icbhi", "prepare", "clip_seconds"), "8s"), ["datasets.icbhi.prepare.clip_seconds"]),
        "prepare-option-misspelt": (_set(("datasets", "icbhi", "prepare"), {"clip_second": 2.0}), ["datasets.icbhi.prepare.clip_second"]),
        "prepare-option-of-another-dataset": (
            _set(("datasets", "ptbxl", "prepare"), {"clip_seconds": 2.0}),
            ["datasets.ptbxl.prepare.clip_seconds", "accepts none"],
        ),
        "tiny-hidden-not-divisible-by-heads": (_set((*TINY, "hidden_size"), 66), ["backbones.vit_tiny.tiny.hidden_size", "not divisible"]),
        "tiny-patch-larger-than-image": (_set((*TINY, "patch_size"), 32), ["backbones.vit_tiny.tiny.patch_size", "larger than image_size"]),
        "tiny-image-size-zero": (_set((*TINY, "image_size"), 0), ["backbones.vit_tiny.tiny.image_size"]),
        "tiny-one-channel": (_set((*TINY, "num_channels"), 1), ["backbones.vit_tiny.tiny.num_channels"]),
        "tiny-key-misspelt": (_set((*TINY, "hiden_size"), 64), ["backbones.vit_tiny.tiny.hiden_size", "not a key here"]),
        "tiny-layers-as-text": (_set((*TINY, "num_hidden_layers"), "2"), ["backbones.vit_tiny.tiny.num_hidden_layers"]),
        "tiny-wav2vec2-conv-lists-differ": (
            _set(("backbones", "wav2vec2_tiny", "tiny", "conv_stride"), [10]),
            ["backbones.wav2vec2_tiny.tiny.conv_dim", "one per layer"],
        ),
        "tiny-wav2vec2-groups-not-dividing": (
            _set(("backbones", "wav2vec2_tiny", "tiny", "num_conv_pos_embedding_groups"), 3),
            ["backbones.wav2vec2_tiny.tiny.num_conv_pos_embedding_groups"],
        ),
        "tiny-wav2vec2-no-convolutions": (_set(("backbones", "wav2vec2_tiny", "tiny", "conv_dim"), []), ["wav2vec2_tiny.tiny.conv_dim"]),
        "tiny-roberta-heads": (_set(("backbones", "roberta_tiny", "tiny", "num_attention_heads"), 5), ["roberta_tiny.tiny.hidden_size"]),
        "tiny-roberta-vocabulary-too-small": (
            _set(("backbones", "roberta_tiny", "tiny", "vocab_size"), 100),
            ["roberta_tiny.tiny.vocab_size"],
        ),
        "tiny-roberta-no-positions": (
            _set(("backbones", "roberta_tiny", "tiny", "max_position_embeddings"), 2),
            ["roberta_tiny.tiny.max_position_embeddings"],
        ),
        "tiny-moment-patch-not-tiling": (
            _set(("backbones", "moment_tiny", "tiny"), {"patch_len": 30, "patch_stride_len": 30}),
            ["moment_tiny.tiny.patch_len", "seq_len"],
        ),
        "tiny-moment-overlapping-patches": (
            _set(("backbones", "moment_tiny", "tiny", "patch_stride_len"), 16),
            ["moment_tiny.tiny.patch_stride_len"],
        ),
        "tiny-moment-t5-width-zero": (
            _set(("backbones", "moment_tiny", "tiny", "t5_config"), {"d_model": 0}),
            ["moment_tiny.tiny.t5_config.d_model"],
        ),
        "tiny-moment-t5-key-misspelt": (
            _set(("backbones", "moment_tiny", "tiny", "t5_config"), {"num_head": 4}),
            ["moment_tiny.tiny.t5_config.num_head"],
        ),
    }
)


# EPFL's values beyond the paper (issue 28): refused by the schema, naming the key, in the base
# entry and in a variant.
EPFL = ("algorithms", "epfl")
CONFIGS.update(
    {
        "epfl-layers-misspelt": (_set((*EPFL, "layers"), "adaptiv"), ["algorithms.epfl.layers", "'adaptiv' is not one of"]),
        "epfl-weights-misspelt": (_set((*EPFL, "weights"), "shrink"), ["algorithms.epfl.weights", "'shrink' is not one of"]),
        "variant-epfl-layers-misspelt": (
            _set(("variants", "layers_first_half"), {"algorithm": {"layers": "adaptive_half"}}),
            ["variants.layers_first_half.algorithm.layers", "'adaptive_half' is not one of"],
        ),
        "variant-epfl-weights-misspelt": (
            _set(("variants", "weights_uniform"), {"algorithm": {"weights": "shrinked"}}),
            ["variants.weights_uniform.algorithm.weights", "'shrinked' is not one of"],
        ),
    }
)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_values_refused(capsys, ws, name):
    change, culprits = CONFIGS[name]
    config = ws / "config.yaml"
    edit_yaml(config, change)
    expect_failure(capsys, ws, ["data-targets", "--config", str(config)], 2, culprits, [])


RAW_CONFIGS = {
    "duplicate-experiment": (
        lambda text: text.replace("experiments:\n", "experiments:\n  main:\n    datasets: [organamnist]\n", 1),
        ["config.yaml:", "'main' given twice"],
    ),
    "duplicate-nested-key": (
        lambda text: text.replace("training:\n", "training:\n  rounds: 3\n", 1),
        ["config.yaml:", "'rounds' given twice"],
    ),
    "yaml-syntax": (lambda text: text + "\n  bad: [unclosed\n", ["config.yaml", "not valid YAML"]),
    "empty-file": (lambda text: "", ["top level"]),
}


LIST_BOMB = "".join(f"zb{d}: &b{d} [" + ", ".join([f"*b{d - 1}" if d else "1"] * 9) + "]\n" for d in range(9))
MAP_BOMB = "".join(f"zm{d}: &m{d} {{" + ", ".join(f"k{i}: {f'*m{d - 1}' if d else 1}" for i in range(9)) + "}\n" for d in range(9))
# Broken YAML put first, so that the line the message names does not move with the demo config.
RAW_CONFIGS.update(
    {
        "yaml-unclosed-bracket": (
            lambda text: "seeds: [0, 1\n" + text,
            ["config.yaml:", "not valid YAML", "flow sequence at line 1", "fix the syntax"],
        ),
        "yaml-tab-indentation": (lambda text: "zz:\n\tkey: 1\n" + text, ["config.yaml:2:1:", "'\\t'"]),
        "yaml-bad-indentation": (lambda text: "zz:\n    a: 1\n  b: 2\n" + text, ["config.yaml:3:", "not valid YAML"]),
        "yaml-unclosed-quote": (lambda text: 'name: "demo\n' + text, ["config.yaml:", "not valid YAML"]),
        "yaml-undefined-alias": (lambda text: "zz: *nowhere\n" + text, ["config.yaml:1:5:", "undefined alias"]),
        "yaml-alias-bomb-lists": (lambda text: LIST_BOMB + text, ["config.yaml:6:", "alias bomb"]),
        "yaml-alias-bomb-mappings": (lambda text: MAP_BOMB + text, ["config.yaml:5:", "alias bomb"]),
        "yaml-alias-containing-itself": (lambda text: "zz: &self [1, *self]\n" + text, ["config.yaml:1", "contains itself"]),
        "yaml-key-twice-beside-a-merge": (
            lambda text: "zbase: &zb {a: 1}\nzz:\n  <<: *zb\n  b: 2\n  b: 3\n" + text,
            ["config.yaml:5", "'b' given twice"],
        ),
        "yaml-not-utf8": (lambda text: "name: d\udce9mo\n" + text, ["config.yaml", "not valid YAML"]),
    }
)


@pytest.mark.parametrize("name", sorted(RAW_CONFIGS))
def test_config_files_refused(capsys, ws, name):
    change, culprits = RAW_CONFIGS[name]
    config = ws / "config.yaml"
    config.write_bytes(change(config.read_text()).encode("utf-8", "surrogateescape"))  # yaml-not-utf8: a stray byte
    expect_failure(capsys, ws, ["data-targets", "--config", str(config)], 2, culprits, [])
    expect_failure(capsys, ws, ["check-config", str(config)], 2, culprits, [])  # the command make demo runs first


def test_yaml_merge_keys_are_valid_yaml(capsys, ws):
    """A config sharing settings through an anchor and merge keys (only keys written twice are refused)."""
    config = ws / "config.yaml"
    text = config.read_text().replace("  organcmnist:\n    source: demo\n", "  organcmnist:\n    <<: *organ\n    source: demo\n", 1)
    config.write_text(text.replace("  organamnist:\n    source: demo\n", "  organamnist: &organ\n    source: demo\n", 1))
    assert "<<: *organ" in config.read_text() and "&organ" in config.read_text()
    assert main(["data-targets", "--config", str(config)]) == 0, capsys.readouterr().err
    assert main(["check-config", str(config)]) == 0 and "valid" in capsys.readouterr().out


@pytest.mark.parametrize("target,culprit", [("missing.yaml", "does not exist"), ("prepared", "is a directory")])
def test_config_path_refused(capsys, ws, target, culprit):
    expect_failure(capsys, ws, ["data-targets", "--config", str(ws / target)], 2, [target, culprit], [])


def test_fetch_model_unknown_backbone(capsys, ws):
    out = ws / "out" / "model"
    expect_failure(
        capsys,
        ws,
        ["fetch-model", "--backbone", "vit_huge", "--config", str(ws / "config.yaml"), "--out", str(out)],
        2,
        ["backbones.vit_huge"],
        [out],
    )


# --------------------------------------------------------------------------- fhbench run: prepared data, splits, models


def _np(name, make):
    def change(ws):
        make(ws / "prepared" / name)

    return change


def _json(path, change):
    def apply(ws):
        p = ws / path
        data = json.loads(p.read_text())
        change(data)
        p.write_text(json.dumps(data))

    return apply


def _labels(transform):
    return _np("labels.npy", lambda p: np.save(p, transform(np.load(p))))


PREPARED = {
    "label-minus-one": (_labels(lambda y: np.r_[y[:-1], -1]), ["labels.npy", "label -1"]),
    "label-beyond-classes": (_labels(lambda y: np.r_[y[:-1], 11]), ["labels.npy", "label 11", "11 classes"]),
    "labels-float": (_labels(lambda y: y.astype(float)), ["labels.npy", "floats"]),
    "labels-2d": (_labels(lambda y: y.reshape(-1, 1)), ["labels.npy", "shape"]),
    "labels-missing": (lambda ws: (ws / "prepared" / "labels.npy").unlink(), ["prepared", "lacks labels.npy"]),
    "inputs-shorter": (_np("inputs.npy", lambda p: np.save(p, np.load(p)[:-1])), ["inputs.npy", "expected 360 rows"]),
    "inputs-truncated": (_np("inputs.npy", lambda p: p.write_bytes(p.read_bytes()[:5000])), ["inputs.npy", "cannot be read"]),
    "inputs-zero-byte": (_np("inputs.npy", lambda p: p.write_bytes(b"")), ["inputs.npy", "cannot be read"]),
    "inputs-other-shape": (_np("inputs.npy", lambda p: np.save(p, np.load(p)[:, :14])), ["inputs.npy", "info.json says"]),
    "info-malformed": (lambda ws: (ws / "prepared" / "info.json").write_text("{not json"), ["info.json", "not readable JSON"]),
    "info-no-n-classes": (_json("prepared/info.json", lambda d: d.pop("n_classes")), ["info.json", "n_classes"]),
    "info-class-names-disagree": (_json("prepared/info.json", lambda d: d.update(class_names=["a", "b"])), ["info.json", "class_names"]),
    "metadata-empty": (lambda ws: (ws / "prepared" / "metadata.csv").write_text(""), ["metadata.csv", "not a readable CSV"]),
    "metadata-short": (
        lambda ws: (ws / "prepared" / "metadata.csv").write_text("label\n0\n1\n"),
        ["metadata.csv", "2 rows for 360 labels"],
    ),
    "prepared-missing": (lambda ws: shutil.rmtree(ws / "prepared"), ["prepared", "does not exist"]),
}

SPLITS = {
    "split-of-other-labels": (
        _json("split.json", lambda d: d.update(labels={"count": 1300, "sha256": "ab" * 32})),
        ["split.json", "made from other labels"],
    ),
    "split-index-out-of-range": (
        _json("split.json", lambda d: d["clients"][0]["train"].append(5000)),
        ["split.json", "indexes sample 5000"],
    ),
    "split-malformed": (lambda ws: (ws / "split.json").write_text("{"), ["split.json", "not a client split"]),
    "split-no-clients": (lambda ws: (ws / "split.json").write_text('{"scheme": "iid"}'), ["split.json", "not a client split"]),
    "split-no-training-sample": (
        _json("split.json", lambda d: [c.update(train=[]) for c in d["clients"]]),
        ["split.json", "none of its 4 clients"],
    ),
    "split-client-not-scored": (
        _json("split.json", lambda d: d["clients"][1].update(val=[], test=[])),
        ["split.json", "client 1", "no validation or test"],
    ),
    "split-float-indices": (_json("split.json", lambda d: d["clients"][0].update(train=[0.5])), ["split.json", "clients[0].train"]),
    "split-is-a-directory": (lambda ws: ((ws / "split.json").unlink(), (ws / "split.json").mkdir()), ["split.json", "is a directory"]),
}


def _real_weights(ws):
    """As for real weights: no tiny sizes in the run config, so the folder itself must be consistent."""
    edit_yaml(ws / "run.yaml", lambda d: d.update(model_config=None))


def _wav2vec2_config(ws):
    from fhbench.models import get_backbone

    _real_weights(ws)
    get_backbone("wav2vec2").create_tiny(
        ws / "w2v",
        {
            "hidden_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            "conv_dim": [8, 8],
            "conv_stride": [5, 4],
            "conv_kernel": [10, 8],
            "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 2,
        },
    )
    shutil.copy(ws / "w2v" / "config.json", ws / "model" / "config.json")
    shutil.rmtree(ws / "w2v")


def _bigger_config(ws):
    _real_weights(ws)
    data = json.loads((ws / "model" / "config.json").read_text())
    data.update(hidden_size=64, intermediate_size=128)
    (ws / "model" / "config.json").write_text(json.dumps(data))


def _safetensors(change):
    def apply(ws):
        (weights,) = (ws / "model").glob("*.safetensors")
        weights.write_bytes(change(weights.read_bytes()))

    return apply


MODELS = {
    "model-of-another-architecture": (_wav2vec2_config, ["config.json", "'wav2vec2' model, expected 'vit'"]),
    "model-config-bigger-than-weights": (_bigger_config, ["model", "backbone weights have other shapes"]),
    "model-sizes-differ-from-config": (
        lambda ws: edit_yaml(ws / "run.yaml", lambda d: d["model_config"].update(hidden_size=64)),
        ["config.json", "hidden_size is 32", "says 64"],
    ),
    "model-weights-truncated": (_safetensors(lambda b: b[: len(b) // 2]), ["model", "weights cannot be loaded"]),
    "model-weights-zero-byte": (_safetensors(lambda b: b""), ["model", "weights cannot be loaded"]),
    "model-folder-empty": (lambda ws: (shutil.rmtree(ws / "model"), (ws / "model").mkdir()), ["no model in", "fetch-model"]),
    "model-config-malformed": (lambda ws: (ws / "model" / "config.json").write_text("{"), ["config.json"]),
}

RUN_CONFIGS = {
    "run-lr-nan": (lambda ws: edit_yaml(ws / "run.yaml", lambda d: d.update(lr=float("nan"))), ["lr", "nan"]),
    "run-unknown-key": (lambda ws: edit_yaml(ws / "run.yaml", lambda d: d.update(roundz=2)), ["roundz"]),
    "run-duplicate-key": (
        lambda ws: (ws / "run.yaml").write_text((ws / "run.yaml").read_text() + "lr: 0.1\n"),
        ["run.yaml", "'lr' given twice"],
    ),
}


def _client(i: int, change):
    return _json("split.json", lambda d: change(d["clients"][i], d))


def _share(d: dict, scheme: str) -> None:
    d["scheme"] = scheme
    d["clients"][1]["train"].append(d["clients"][0]["train"][0])


def _planted_sharing(d: dict) -> None:
    _share(d, "planted")
    for i, c in enumerate(d["clients"]):
        c.update(planted_group=i % 2, label_map=list(range(11)))


def _labels_of_reordered_data(d: dict, ws_labels) -> None:
    from fhbench.validate import labels_identity

    d["labels"] = labels_identity(np.roll(ws_labels, 1))


def _reordered(ws):
    labels = np.load(ws / "prepared" / "labels.npy")
    _json("split.json", lambda d: _labels_of_reordered_data(d, labels))(ws)


# Splits that do not belong to the prepared data, or leak samples (issue 23).
SPLITS.update(
    {
        "split-without-labels-record": (_json("split.json", lambda d: d.pop("labels")), ["split.json", "holds no labels record"]),
        "split-of-reordered-data": (_reordered, ["split.json", "made from other labels"]),
        "split-labels-record-malformed": (_json("split.json", lambda d: d.update(labels="yes")), ["split.json", "made from other labels"]),
        "split-negative-index": (_client(0, lambda c, d: c["train"].append(-1)), ["split.json", "indexes sample -1"]),
        "split-train-sample-also-in-test": (
            _client(0, lambda c, d: c["test"].append(c["train"][0])),
            ["split.json", "client 0 has sample", "in both train and test"],
        ),
        "split-val-sample-also-in-train": (
            _client(2, lambda c, d: c["train"].append(c["val"][0])),
            ["split.json", "client 2 has sample", "in both train and val"],
        ),
        "split-sample-twice-in-train": (
            _client(1, lambda c, d: c["train"].append(c["train"][0])),
            ["split.json", "client 1", "twice in train"],
        ),
        "split-sample-twice-in-test": (
            _client(3, lambda c, d: c["test"].append(c["test"][0])),
            ["split.json", "client 3", "twice in test"],
        ),
        "split-clients-share-a-training-sample": (
            _json("split.json", lambda d: _share(d, "fhbench")),
            ["split.json", "belongs to client 0 and client 1", "fhbench scheme"],
        ),
        "split-test-sample-of-one-client-in-another": (
            _json("split.json", lambda d: d["clients"][3]["val"].append(d["clients"][1]["test"][0])),
            ["split.json", "belongs to client 1 and client 3"],
        ),
        "split-planted-clients-share": (
            _json("split.json", _planted_sharing),
            ["split.json", "planted scheme gives every sample to one client"],
        ),
        "split-unknown-scheme-clients-share": (_json("split.json", lambda d: _share(d, "handmade")), ["split.json", "handmade scheme"]),
    }
)


def _used_sample(ws) -> int:
    return json.loads((ws / "split.json").read_text())["clients"][0]["train"][0]


def _inputs_with(value):
    def apply(ws):
        path = ws / "prepared" / "inputs.npy"
        inputs = np.load(path).astype(np.float32)
        inputs[_used_sample(ws), 3, 4] = value
        np.save(path, inputs)

    return apply


def _weights_with(value):
    def apply(ws):
        from safetensors.torch import load_file, save_file

        (path,) = (ws / "model").glob("*.safetensors")
        state = load_file(str(path))
        state["vit.encoder.layer.0.attention.attention.query.weight"][0, 0] = value
        save_file(state, str(path), metadata={"format": "pt"})

    return apply


# Non-finite inputs or weights: refused at load, naming the file, not reported rounds later as divergence.
PREPARED.update(
    {
        "inputs-nan": (_inputs_with(np.nan), ["inputs.npy", "holds NaN or infinite values", "prepare step again"]),
        "inputs-inf": (_inputs_with(np.inf), ["inputs.npy", "holds NaN or infinite values"]),
    }
)
MODELS.update(
    {
        "model-weight-nan": (
            _weights_with(np.nan),
            ["model", "weight vit.layers.0.attention", "NaN", "fetch the model again"],
        ),
        "model-weight-inf": (_weights_with(-np.inf), ["model", "weight vit.layers.0.attention", "infinite"]),
    }
)
RUN_CONFIGS.update(
    {
        "run-yaml-syntax": (
            lambda ws: (ws / "run.yaml").write_text("lr: [0.1\n" + (ws / "run.yaml").read_text()),
            ["run.yaml:", "not valid YAML"],
        ),
        "run-yaml-alias-bomb": (
            lambda ws: (ws / "run.yaml").write_text(LIST_BOMB + (ws / "run.yaml").read_text()),
            ["run.yaml:6:", "alias bomb"],
        ),
    }
)


RUN_CASES = {**PREPARED, **SPLITS, **MODELS, **RUN_CONFIGS}


@pytest.mark.parametrize("name", sorted(RUN_CASES))
def test_run_refuses_bad_inputs(capsys, ws, name):
    change, culprits = RUN_CASES[name]
    change(ws)
    out = ws / "out" / "metrics.csv"
    argv = [
        "run",
        "--config",
        str(ws / "run.yaml"),
        "--prepared",
        str(ws / "prepared"),
        "--split",
        str(ws / "split.json"),
        "--model",
        str(ws / "model"),
        "--out",
        str(out),
    ]
    expect_failure(capsys, ws, argv, 2, culprits, [out, out.with_name("run.json")])


def test_run_out_directory_refused(capsys, ws):
    out = ws / "out" / "metrics.csv"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = [
        "run",
        "--config",
        str(ws / "run.yaml"),
        "--prepared",
        str(ws / "prepared"),
        "--split",
        str(ws / "split.json"),
        "--model",
        str(ws / "model"),
        "--out",
        str(out),
    ]
    expect_failure(capsys, ws, argv, 2, ["metrics.csv", "existing directory"], [])
    assert (out / "keep.txt").read_text() == "mine"


def test_run_with_valid_inputs_completes(capsys, ws):
    """The control: the same workspace unbroken runs to the end."""
    out = ws / "out" / "metrics.csv"
    argv = [
        "run",
        "--config",
        str(ws / "run.yaml"),
        "--prepared",
        str(ws / "prepared"),
        "--split",
        str(ws / "split.json"),
        "--model",
        str(ws / "model"),
        "--out",
        str(out),
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert out.exists() and json.loads(out.with_name("run.json").read_text())["status"] == "completed"


# --------------------------------------------------------------------------- raw data: prepare and acquire


RAW = {
    "npz-truncated": (
        lambda ws: (ws / "raw" / "organamnist_224.npz").write_bytes((ws / "raw" / "organamnist_224.npz").read_bytes()[:2000]),
        ["raw", "cannot be prepared as organamnist", "acquire it again"],
    ),
    "npz-zero-byte": (lambda ws: (ws / "raw" / "organamnist_224.npz").write_bytes(b""), ["raw", "cannot be prepared as organamnist"]),
    "npz-missing": (lambda ws: (ws / "raw" / "organamnist_224.npz").unlink(), ["raw", "cannot be prepared as organamnist"]),
    "hand-made-raw-folder": (
        lambda ws: (ws / "raw" / "MANIFEST.json").unlink(),
        ["raw", "not written by the acquire step", "resources/downloads"],
    ),
    "raw-missing": (lambda ws: shutil.rmtree(ws / "raw"), ["raw", "does not exist"]),
}


@pytest.mark.parametrize("name", sorted(RAW))
def test_prepare_refuses_bad_raw_data(capsys, ws, name):
    change, culprits = RAW[name]
    change(ws)
    out = ws / "out" / "prepared"
    expect_failure(capsys, ws, ["prepare", "--dataset", "organamnist", "--raw", str(ws / "raw"), "--out", str(out)], 2, culprits, [out])


def test_prepare_does_not_replace_a_users_folder(capsys, ws):
    out = ws / "out" / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    expect_failure(
        capsys, ws, ["prepare", "--dataset", "organamnist", "--raw", str(ws / "raw"), "--out", str(out)], 2, [str(out), "notes.txt"], []
    )
    assert (out / "notes.txt").read_text() == "keep me"


def test_prepare_unknown_dataset(capsys, ws):
    out = ws / "out" / "prepared"
    expect_failure(
        capsys, ws, ["prepare", "--dataset", "organbmnist", "--raw", str(ws / "raw"), "--out", str(out)], 2, ["organbmnist"], [out]
    )


def test_acquire_offline_says_url_and_where_a_copy_goes(capsys, ws):
    """Issue 11 item 8: offline, one line with the URL and the manual-copy place; nothing claimed kept."""
    out = ws / "out" / "raw"
    line = expect_failure(
        capsys,
        ws,
        ["acquire", "--dataset", "organamnist", "--base-url", "http://127.0.0.1:9", "--out", str(out)],
        1,
        ["http://127.0.0.1:9/organamnist_224.npz", "no data was kept", f"{out}.downloads/organamnist_224.npz"],
        [out, Path(f"{out}.downloads")],
    )
    assert "partial data kept" not in line


def test_acquire_refuses_credentials_in_the_url(capsys, ws):
    out = ws / "out" / "raw"
    expect_failure(
        capsys,
        ws,
        ["acquire", "--dataset", "organamnist", "--base-url", f"http://bob:{PASSWORD}@127.0.0.1:9", "--out", str(out)],
        2,
        ["--base-url", "credentials", "netrc"],
        [out],
    )


@pytest.mark.parametrize(
    "option,value", [("--demo-options", "{n_train: 5}"), ("--demo-options", "[1, 2]")], ids=["not-json", "not-an-object"]
)
def test_acquire_refuses_bad_json_options(capsys, ws, option, value):
    out = ws / "out" / "raw"
    expect_failure(
        capsys, ws, ["acquire", "--dataset", "organamnist", "--source", "demo", option, value, "--out", str(out)], 2, [option], [out]
    )


def test_fetch_model_refuses_bad_tiny_json(capsys, ws):
    out = ws / "out" / "model"
    expect_failure(
        capsys, ws, ["fetch-model", "--architecture", "vit", "--tiny", "{hidden_size: 8", "--out", str(out)], 2, ["--tiny", "JSON"], [out]
    )


def test_acquire_unknown_dataset(capsys, ws):
    out = ws / "out" / "raw"
    expect_failure(capsys, ws, ["acquire", "--dataset", "organbmnist", "--source", "demo", "--out", str(out)], 2, ["organbmnist"], [out])


# --------------------------------------------------------------------------- the same through fresh processes


@pytest.mark.parametrize(
    "argv,culprit",
    [
        (["partition", "--labels", "{ws}/labels.npy", "--n-clients", "x", "--out", "{ws}/out/s.json"], "--n-clients"),
        (
            [
                "run",
                "--config",
                "{ws}/run.yaml",
                "--prepared",
                "{ws}/nowhere",
                "--split",
                "{ws}/split.json",
                "--model",
                "{ws}/model",
                "--out",
                "{ws}/out/m.csv",
            ],
            "nowhere",
        ),
    ],
    ids=["argparse", "run-prepared-missing"],
)
def test_subprocess_one_line_and_debug_traceback(ws, argv, culprit):
    argv = [a.format(ws=ws) for a in argv]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "fhbench.cli", *argv], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("fhbench: error: ") and culprit in done.stderr
    if argv[0] == "run":  # --debug shows the traceback, then the same line
        debug = subprocess.run(
            [sys.executable, "-m", "fhbench.cli", "--debug", *argv], capture_output=True, text=True, timeout=300, env=env
        )
        assert debug.returncode == 2 and "Traceback" in debug.stderr and debug.stderr.rstrip().endswith(done.stderr.rstrip())
    assert not list((ws / "out").iterdir())


# --------------------------------------------------------------------------- output paths that are not ours to replace


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()  # the socket file stays
    return path


def _device(path: Path) -> Path:
    import stat

    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a twin of /dev/null, harmless if written
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD")
    return path


def _file(path: Path) -> Path:
    path.write_text("my notes\n")
    return path


def _run_argv(ws: Path, out: Path) -> list[str]:
    return ["run", "--config", str(ws / "run.yaml"), "--prepared", str(ws / "prepared"), "--split", str(ws / "split.json")] + [
        "--model",
        str(ws / "model"),
        "--out",
        str(out),
    ]


# name -> (make the thing at WS/thing, argv with {out} for the output path, what the line says)
OUTPUTS = {
    "partition-out-named-pipe": (_fifo, ["partition", "--labels", "{ws}/labels.npy", "--out", "{out}"], "is a named pipe"),
    "partition-out-socket": (_socket, ["partition", "--labels", "{ws}/labels.npy", "--out", "{out}"], "is a socket"),
    "partition-out-device": (_device, ["partition", "--labels", "{ws}/labels.npy", "--out", "{out}"], "is a character device"),
    "partition-out-under-a-pipe": (_fifo, ["partition", "--labels", "{ws}/labels.npy", "--out", "{out}/split.json"], "not a directory"),
    "run-out-named-pipe": (_fifo, "run", "is a named pipe"),
    "run-out-under-a-file": (_file, "run-under", "is a file, not a directory"),
    "fetch-model-out-existing-file": (
        _file,
        ["fetch-model", "--architecture", "vit", "--tiny", json.dumps(TINY_VIT), "--out", "{out}"],
        "is an existing file; it would be replaced by a folder",
    ),
    "fetch-model-out-named-pipe": (
        _fifo,
        ["fetch-model", "--architecture", "vit", "--tiny", json.dumps(TINY_VIT), "--out", "{out}"],
        "pipe",
    ),
    "prepare-out-existing-file": (
        _file,
        ["prepare", "--dataset", "organamnist", "--raw", "{ws}/raw", "--out", "{out}"],
        "is an existing file; it would be replaced by a folder",
    ),
    "prepare-out-device": (_device, ["prepare", "--dataset", "organamnist", "--raw", "{ws}/raw", "--out", "{out}"], "character device"),
    "acquire-out-existing-file": (
        _file,
        ["acquire", "--dataset", "organamnist", "--source", "demo", "--out", "{out}"],
        "is an existing file; it would be replaced by a folder",
    ),
    "acquire-out-named-pipe": (_fifo, ["acquire", "--dataset", "organamnist", "--source", "demo", "--out", "{out}"], "is a named pipe"),
    "acquire-out-under-a-file": (_file, ["acquire", "--dataset", "organamnist", "--source", "demo", "--out", "{out}/raw"], "is a file"),
}


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_output_path_that_is_not_ours_is_refused_and_kept(capsys, ws, name):
    """Issue 23: `--out /dev/full` left a JSON file where the device was; a file given to fetch-model gave exit 0 and no model."""
    make, argv, culprit = OUTPUTS[name]
    thing = make(ws / "thing")
    kind = os.lstat(thing).st_mode
    if argv == "run":
        argv = _run_argv(ws, thing)
    elif argv == "run-under":
        argv = _run_argv(ws, thing / "metrics.csv")
    else:
        argv = [a.replace("{ws}", str(ws)).replace("{out}", str(thing)) for a in argv]
    expect_failure(capsys, ws, argv, 2, [str(thing), culprit], [])
    assert os.lstat(thing).st_mode == kind  # still what it was
    if make is _file:
        assert thing.read_text() == "my notes\n"


@pytest.mark.parametrize("make,culprit", [(None, "does not exist"), (_file, "is a file, not a folder")], ids=["missing", "a-file"])
def test_status_root_that_is_no_folder_is_refused(capsys, ws, make, culprit):
    """Issue 23: `fhbench status --root` on a missing folder showed an empty grid."""
    root = ws / "thing"
    if make:
        make(root)
    expect_failure(capsys, ws, ["status", "--config", str(ws / "config.yaml"), "--root", str(root)], 2, ["--root", str(root), culprit], [])


# --------------------------------------------------------------------------- archives that escape their folder


def _tar(path: Path, members: list[tuple]) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w") as t:
        for kind, name, extra in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(extra)
                t.addfile(info, io.BytesIO(extra))
                continue
            info.type = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "dev": tarfile.CHRTYPE}[kind]
            info.linkname = extra or ""
            t.addfile(info)


# Entries aiming at WS (the archive lies in WS/inside/, unpacked to WS/inside/unpacked).
TARS = {
    "dot-dot": ([("file", "../../escaped.txt", b"x")], "'../../escaped.txt'"),
    "absolute-path": ([("file", "{ws}/escaped.txt", b"x")], "escaped.txt"),
    "symlink-out-then-file-through-it": ([("sym", "d", "../.."), ("file", "d/escaped.txt", b"x")], "'d'"),
    "symlink-absolute": ([("sym", "d", "{ws}"), ("file", "d/escaped.txt", b"x")], "'d'"),
    "symlink-chain-out": ([("sym", "a", "."), ("sym", "b", "a/../.."), ("file", "b/escaped.txt", b"x")], "'b'"),
    "hard-link-out": ([("hard", "h", "../../mine.txt")], "'h'"),
    "hard-link-absolute": ([("hard", "h", "{ws}/mine.txt")], "'h'"),
    "named-pipe": ([("fifo", "p", None)], "'p'"),
    "device": ([("dev", "null", None)], "'null'"),
}


@pytest.mark.parametrize("checks", ["data-filter", "explicit-checks"])
@pytest.mark.parametrize("name", sorted(TARS))
def test_tar_archive_that_escapes_is_refused(tmp_path, name, checks):
    """Latent until a source or a plugin dataset ships a tar: the extractor refuses what Python's data filter
    refuses, through the filter and through the same checks made by hand (interpreters without it)."""
    from fhbench.data.download import extract_archive
    from fhbench.errors import InputError, error_line, expected_error

    ws = tmp_path / "ws"
    (ws / "inside").mkdir(parents=True)
    (ws / "mine.txt").write_text("mine\n")
    members, culprit = TARS[name]
    archive = ws / "inside" / "source.tar"
    _tar(archive, [(k, n.format(ws=ws), e.format(ws=ws) if isinstance(e, str) else e) for k, n, e in members])
    before = snapshot(ws)
    with pytest.raises(InputError) as error:
        extract_archive(archive, ws / "inside" / "unpacked", explicit_tar_checks=checks == "explicit-checks")
    line = error_line(error.value)
    assert expected_error(error.value) == 2 and str(archive) in line and "is not safe to unpack" in line and culprit in line, line
    assert snapshot(ws) == before and not (ws / "inside" / "unpacked").exists()
    log_case(ws, expected_error(error.value), line)
    assert [p.name for p in ws.rglob("*") if p.is_symlink() or p.name == "escaped.txt"] == []


def _icbhi_zip(extra: list[tuple[str, bytes, int | None]]):
    """The ICBHI twin's archive plus entries (name, data, unix mode or None)."""

    def apply(served: Path) -> None:
        import zipfile

        with zipfile.ZipFile(served / "ICBHI_final_database.zip", "a") as z:
            for name, data, mode in extra:
                info = zipfile.ZipInfo(name)
                if mode is not None:
                    info.external_attr = mode << 16
                z.writestr(info, data)

    return apply


ZIPS = {
    "zip-dot-dot": (_icbhi_zip([("../../../escaped.txt", b"x", None)]), ["ICBHI_final_database.zip", "'..'"]),
    "zip-absolute-path": (_icbhi_zip([("/tmp/escaped-by-fhbench-test.txt", b"x", None)]), ["ICBHI_final_database.zip", "absolute path"]),
    "zip-symlink": (_icbhi_zip([("ICBHI_final_database/link", b"/etc", 0o120777)]), ["ICBHI_final_database.zip", "symbolic link"]),
}


@pytest.fixture(scope="session")
def twins(tmp_path_factory) -> Path:
    """Demo twins of the signal and text sources, in their real on-disk formats (acquired as raw folders)."""
    from fhbench.data import acquire

    root = tmp_path_factory.mktemp("twins")
    for key, options in TWIN_OPTIONS.items():
        acquire(key, root / key, source="demo", demo_options=options)
    return root


TWIN_OPTIONS = {
    "icbhi": {"n_patients": 6, "recordings_per_patient": 1, "cycles_per_recording": 2},
    "sprsound": {"n_patients": 2, "recordings_per_patient": 1, "events_per_recording": 2},
    "ptbxl": {"n_patients": 3},
    "adftd": {"n_per_group": 1, "seconds": 3},
    "medabs": {"n_train": 10, "n_test": 5},
    "pubmedrct": {"n_train": 3, "n_dev": 1, "n_test": 2},
}
PREPARE_OPTIONS = {"icbhi": {"clip_seconds": 0.25}, "sprsound": {"clip_seconds": 0.25}}


def served_twin(ws: Path, twins: Path, key: str) -> Path:
    """WS/served: the files a mirror of ``key`` serves (the twin's raw files, MANIFEST and unpacked copies left out)."""
    served = ws / "served"
    shutil.copytree(twins / key, served, ignore=shutil.ignore_patterns("MANIFEST.json", "unpacked"))
    return served


@pytest.mark.parametrize("name", sorted(ZIPS))
def test_acquire_refuses_an_archive_that_escapes(capsys, tmp_path, twins, http_mirror, name):
    change, culprits = ZIPS[name]
    ws = tmp_path / "ws"
    (ws / "out").mkdir(parents=True)
    change(served_twin(ws, twins, "icbhi"))
    out = ws / "out" / "raw"
    with http_mirror(ws / "served") as (base_url, _):
        line = expect_failure(
            capsys,
            ws,
            ["acquire", "--dataset", "icbhi", "--base-url", base_url, "--out", str(out)],
            2,
            culprits,
            [out, Path(f"{out}.downloads")],
        )
    assert str(out / "ICBHI_final_database.zip") in line  # the output's name, never the temporary folder's
    assert not Path("/tmp/escaped-by-fhbench-test.txt").exists()


def test_acquire_names_the_output_not_a_temporary_path(capsys, tmp_path, twins, http_mirror):
    """Issue 23: errors named temporary paths that no longer exist (here: a truncated archive, unpacked on acquisition)."""
    ws = tmp_path / "ws"
    (ws / "out").mkdir(parents=True)
    archive = served_twin(ws, twins, "icbhi") / "ICBHI_final_database.zip"
    archive.write_bytes(archive.read_bytes()[:-4000])
    out = ws / "out" / "raw"
    with http_mirror(ws / "served") as (base_url, _):
        line = expect_failure(
            capsys,
            ws,
            ["acquire", "--dataset", "icbhi", "--base-url", base_url, "--out", str(out)],
            1,
            [f"cannot unpack {out / 'ICBHI_final_database.zip'}"],
            [out],
        )
    assert "/.raw." not in line


# --------------------------------------------------------------------------- downloads: answers that are no data, parts of other files


DOWNLOAD_FAILURES = {
    "html-login-page": ((200, "text/html; charset=utf-8", b"<html><body>Sign in to continue</body></html>"), 1, "HTML page"),
    "html-page-as-octet-stream": ((200, "application/octet-stream", b"<!DOCTYPE html>\n<html>moved</html>"), 1, "HTML page"),
    "empty-body": ((200, "text/csv", b""), 1, "empty file"),
    "http-404": ((404, "text/plain", b"not found"), 1, "HTTP 404"),
    "http-500": ((500, "text/plain", b"oops"), 1, "HTTP 500"),
}


@pytest.mark.parametrize("name", sorted(DOWNLOAD_FAILURES))
def test_acquire_refuses_an_answer_that_is_no_data(capsys, tmp_path, twins, http_mirror, name):
    """Issue 23: a 200 answer with an HTML page or an empty body was saved as the data file and recorded in MANIFEST."""
    page, code, culprit = DOWNLOAD_FAILURES[name]
    ws = tmp_path / "ws"
    (ws / "out").mkdir(parents=True)
    served_twin(ws, twins, "medabs")
    out = ws / "out" / "raw"
    with http_mirror(ws / "served", pages={"/medical_tc_test.csv": page}) as (base_url, _):
        expect_failure(
            capsys,
            ws,
            ["acquire", "--dataset", "medabs", "--base-url", base_url, "--out", str(out)],
            code,
            [f"{base_url}/medical_tc_test.csv", culprit, f"{out}.downloads/medical_tc_test.csv"],
            [out, Path(f"{out}.downloads")],
        )


def expect_recovery(capsys, ws: Path, argv: list[str], notes: list[str], owned: Path) -> str:
    """A command meeting state it must not trust but can recover from: exit 0, stderr saying what it did,
    nothing under ``owned`` (the user's files) touched. Returns stderr."""
    capsys.readouterr()
    before = snapshot(owned)
    got = main(argv)
    err = capsys.readouterr().err
    assert got == 0, err
    for note in notes:
        assert note in err, f"{note!r} not said in: {err}"
    log_case(ws, got, next((x for x in err.splitlines() if notes[0] in x), ""))
    assert snapshot(owned) == before
    return err


# name -> (the part and its record: (part bytes, record or None; {url} and {size} filled in), server options, what is said)
STALE_PARTS = {
    "part-without-record": ((b"condition_label,medical_abstract\n9,other file", None), {}, "records which file it began"),
    "part-from-another-url": ((b"condition_label", {"url": "http://elsewhere.example/t.csv", "etag": '"1"'}), {}, "another URL"),
    "part-of-an-older-version": ((b"condition_label", {"url": "{url}", "etag": '"old"', "size": 99999}), {}, "sent the whole file"),
    "part-server-gave-no-validators": ((b"condition_label", {"url": "{url}", "etag": None, "last_modified": None}), {}, "no ETag"),
    "part-longer-than-the-file": ((b"x" * 100_000, {"url": "{url}", "etag": '"e"', "size": "{size}"}), {}, "bytes of a"),
    "part-resumed-from-another-version": (
        (b"condition_label", {"url": "{url}", "etag": '"old"', "size": 99999}),
        {"honor_if_range": False},
        "part of another version",
    ),
}


@pytest.mark.parametrize("name", sorted(STALE_PARTS))
def test_acquire_never_splices_a_part_of_another_file(capsys, tmp_path, twins, http_mirror, name):
    """Issue 23: a partial download was resumed without checking it belongs to the same file; without a published
    checksum (Medical Abstracts has none) the stale bytes were spliced in, acquired and prepared. Now the part is
    downloaded anew unless it proves it continues the same file, and the user is told."""
    (data, record), server, note = STALE_PARTS[name]
    ws = tmp_path / "ws"
    (ws / "out").mkdir(parents=True)
    served = served_twin(ws, twins, "medabs")
    out = ws / "out" / "raw"
    parts = Path(f"{out}.downloads")
    parts.mkdir()
    (parts / "medical_tc_train.csv.part").write_bytes(data)
    with http_mirror(served, **server) as (base_url, handler):
        url = f"{base_url}/medical_tc_train.csv"
        if record is not None:
            size = (served / "medical_tc_train.csv").stat().st_size
            filled = {k: (v.format(url=url, size=size) if isinstance(v, str) else v) for k, v in record.items()}
            filled = {k: int(v) if k == "size" and isinstance(v, str) else v for k, v in filled.items()}
            (parts / "medical_tc_train.csv.part.json").write_text(json.dumps(filled))
        expect_recovery(
            capsys,
            ws,
            ["acquire", "--dataset", "medabs", "--base-url", base_url, "--out", str(out)],
            ["medical_tc_train.csv.part", note],
            served,
        )
    for name in ("medical_tc_train.csv", "medical_tc_test.csv"):
        assert (out / name).read_bytes() == (served / name).read_bytes()
    assert not list(parts.iterdir())  # neither the stale part nor its record is left behind


# --------------------------------------------------------------------------- raw data of every source


def _npz(change):
    def apply(raw: Path) -> None:
        path = raw / "organamnist_224.npz"
        with np.load(path) as archive:
            arrays = dict(archive)
        change(arrays)
        np.savez_compressed(path, **arrays)

    return apply


def _set_array(name: str, dtype, where, value):
    def change(arrays):
        arrays[name] = arrays[name].astype(dtype)
        arrays[name][where] = value

    return change


def _first(raw: Path, pattern: str) -> Path:
    return sorted(raw.rglob(pattern))[0]


def _icbhi_annotation(line: str):
    def apply(raw):
        txt = _first(raw / "unpacked", "*.txt")
        txt.write_text(line + "\n" + "\n".join(txt.read_text().splitlines()[1:]) + "\n")

    return apply


def _rewrite_wav(pattern: str, rate: int | None = None, value: float | None = None):
    def apply(raw):
        import soundfile as sf

        wav = _first(raw, pattern)
        data, sr = sf.read(str(wav), dtype="float32")
        if value is not None:
            data[len(data) // 3] = value
        sf.write(str(wav), data, rate or sr, subtype="FLOAT" if value is not None else "PCM_16")

    return apply


def _duplicate_icbhi_recording(raw):
    wav = _first(raw / "unpacked", "*.wav")
    copy = raw / "unpacked" / "copy"
    copy.mkdir()
    shutil.copy(wav, copy / wav.name)
    shutil.copy(wav.with_suffix(".txt"), copy / f"{wav.stem}.txt")


def _split_list(keep):
    def apply(raw):
        path = raw / "ICBHI_challenge_train_test.txt"
        path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if keep(line)))

    return apply


def _sprsound_event(change):
    def apply(raw):
        path = _first(raw / "BioCAS2022", "*.json")
        record = json.loads(path.read_text())
        change(record["event_annotation"][0])
        path.write_text(json.dumps(record))

    return apply


def _table(name: str, change, sep=","):
    def apply(raw):
        import pandas as pd

        path = raw / name
        table = pd.read_csv(path, sep=sep)
        change(table).to_csv(path, sep=sep, index=False)

    return apply


def _header_only(name: str):
    def apply(raw):
        path = raw / name
        path.write_text(path.read_text().splitlines()[0] + "\n")

    return apply


def _ptbxl_record_nan(raw):
    import wfdb

    hea = _first(raw / "records500", "*.hea")
    record = wfdb.rdrecord(str(hea.with_suffix("")))
    signal = record.p_signal.copy()
    signal[100, 3] = np.nan
    wfdb.wrsamp(
        hea.stem,
        fs=record.fs,
        units=record.units,
        sig_name=record.sig_name,
        p_signal=signal,
        fmt=record.fmt,
        adc_gain=record.adc_gain,
        baseline=record.baseline,
        write_dir=str(hea.parent),
    )


def _ptbxl_fs(raw):
    hea = _first(raw / "records500", "*.hea")
    lines = hea.read_text().splitlines()
    name, signals, _fs, *rest = lines[0].split()
    hea.write_text("\n".join([" ".join([name, signals, "250", *rest]), *lines[1:]]) + "\n")


def _adftd_recording(sfreq: float = 500.0, value: float | None = None):
    def apply(raw):
        import mne

        path = _first(raw / "derivatives", "*.set")
        recording = mne.io.read_raw_eeglab(str(path), preload=True, verbose="error")
        data = recording.get_data()
        if value is not None:
            data[2, 100] = value
        info = mne.create_info(recording.ch_names, sfreq, ch_types="eeg")
        mne.export.export_raw(str(path), mne.io.RawArray(data, info, verbose="error"), fmt="eeglab", overwrite=True, verbose="error")

    return apply


def _pubmed_7z(names: list[str]):
    def apply(raw):
        import py7zr

        text = raw / "train.txt"
        text.write_text("###1\nMETHODS\tsomething .\n")
        with py7zr.SevenZipFile(raw / "train.7z", "w") as archive:
            for name in names:
                archive.write(text, arcname=name)
        text.unlink()

    return apply


def _pubmed_empty_train(raw):
    import py7zr

    (raw / "train.txt").write_text("")
    with py7zr.SevenZipFile(raw / "train.7z", "w") as archive:
        archive.write(raw / "train.txt", arcname="train.txt")
    (raw / "train.txt").unlink()


def _options(value: dict):
    return ("options", value)


NPZ = "organamnist_224.npz"
# name -> (dataset, change of WS/raw or ("options", the --options given), what the line names ({raw}: WS/raw))
RAW_DATA = {
    "organamnist-nan-pixel": (
        "organamnist",
        _npz(_set_array("train_images", np.float32, (3, 1, 1), np.nan)),
        [f"{NPZ} (train_images)", "NaN"],
    ),
    "organamnist-fractional-pixel": (
        "organamnist",
        _npz(_set_array("val_images", np.float32, (0, 1, 1), 0.5)),
        ["(val_images)", "exactly"],
    ),
    "organamnist-pixel-300": (
        "organamnist",
        _npz(_set_array("test_images", np.int16, (0, 0, 0), 300)),
        ["(test_images)", "to 300", "uint8"],
    ),
    "organamnist-negative-pixel": ("organamnist", _npz(_set_array("train_images", np.int16, (1, 0, 0), -5)), ["from -5", "uint8"]),
    "organamnist-label-beyond-classes": ("organamnist", _npz(_set_array("train_labels", np.int16, (2, 0), 11)), [NPZ, "label 11", "0..10"]),
    "organamnist-label-negative": ("organamnist", _npz(_set_array("test_labels", np.int16, (0, 0), -1)), [NPZ, "label -1"]),
    "organamnist-label-nan": ("organamnist", _npz(_set_array("val_labels", np.float64, (0, 0), np.nan)), [NPZ, "not a class index"]),
    "organamnist-empty-val-part": (
        "organamnist",
        _npz(lambda a: a.update(val_images=a["val_images"][:0], val_labels=a["val_labels"][:0])),
        [f"{NPZ} (val_images)", "holds no samples", "'val'"],
    ),
    "organamnist-empty-test-part": (
        "organamnist",
        _npz(lambda a: a.update(test_images=a["test_images"][:0], test_labels=a["test_labels"][:0])),
        ["(test_images)", "holds no samples"],
    ),
    "organamnist-fewer-labels-than-images": (
        "organamnist",
        _npz(lambda a: a.update(train_labels=a["train_labels"][:-1])),
        ["cannot be prepared as organamnist", "train_images has shape"],
    ),
    "organamnist-member-missing": ("organamnist", _npz(lambda a: a.pop("test_labels")), ["cannot be prepared as organamnist"]),
    "icbhi-crackles-2": ("icbhi", _icbhi_annotation("0.2\t0.6\t2\t0"), [".txt:1", "crackles and wheezes 0 or 1"]),
    "icbhi-cycle-ends-before-start": ("icbhi", _icbhi_annotation("0.6\t0.2\t0\t0"), [".txt:1", "start < end"]),
    "icbhi-cycle-nan": ("icbhi", _icbhi_annotation("nan\t0.6\t0\t1"), [".txt:1", "start < end"]),
    "icbhi-cycle-negative-start": ("icbhi", _icbhi_annotation("-1\t0.6\t0\t1"), [".txt:1"]),
    "icbhi-recording-at-22050-hz": (
        "icbhi",
        _rewrite_wav("unpacked/**/*.wav", rate=22_050),
        [".wav", "sampled at 22050 Hz", "4000, 10000, 44100"],
    ),
    "icbhi-recording-at-1-hz": ("icbhi", _rewrite_wav("unpacked/**/*.wav", rate=1), [".wav", "sampled at 1 Hz"]),
    "icbhi-recording-nan": ("icbhi", _rewrite_wav("unpacked/**/*.wav", value=np.nan), [".wav", "NaN or infinite"]),
    "icbhi-recording-inf": ("icbhi", _rewrite_wav("unpacked/**/*.wav", value=np.inf), [".wav", "NaN or infinite"]),
    "icbhi-recording-twice": ("icbhi", _duplicate_icbhi_recording, ["unpacked", "listed twice"]),
    "icbhi-split-list-without-test": (
        "icbhi",
        _split_list(lambda line: not line.endswith("test")),
        ["ICBHI_challenge_train_test.txt", "holds no samples", "'test'"],
    ),
    "icbhi-split-list-empty": ("icbhi", _split_list(lambda line: False), ["ICBHI_challenge_train_test.txt", "holds no samples"]),
    "icbhi-clip-negative": ("icbhi", _options({"clip_seconds": -1}), ["--options.clip_seconds"]),
    "icbhi-clip-zero": ("icbhi", _options({"clip_seconds": 0}), ["--options.clip_seconds"]),
    "icbhi-clip-an-hour": ("icbhi", _options({"clip_seconds": 3600}), ["--options.clip_seconds", "maximum"]),
    "icbhi-clip-as-text": ("icbhi", _options({"clip_seconds": "8s"}), ["--options.clip_seconds"]),
    "icbhi-option-misspelt": ("icbhi", _options({"clip_second": 8}), ["--options.clip_second", "not a key here"]),
    "sprsound-recording-at-16-khz": ("sprsound", _rewrite_wav("*.wav", rate=16_000), [".wav", "sampled at 16000 Hz", "8000"]),
    "sprsound-recording-nan": ("sprsound", _rewrite_wav("*.wav", value=np.nan), [".wav", "NaN or infinite"]),
    "sprsound-event-ends-before-start": ("sprsound", _sprsound_event(lambda e: e.update(start=e["end"] + 5)), [".json", "not start < end"]),
    "sprsound-event-unknown-type": ("sprsound", _sprsound_event(lambda e: e.update(type="Squeak")), [".json", "unknown event type"]),
    "sprsound-option-of-another-dataset": ("sprsound", _options({"clip_seconds": 0.25, "image_size": 28}), ["--options.image_size"]),
    "ptbxl-database-row-twice": (
        "ptbxl",
        _table("ptbxl_database.csv", lambda t: __import__("pandas").concat([t, t.iloc[[0]]])),
        ["ptbxl_database.csv:", "ecg_id 1 is listed twice"],
    ),
    "ptbxl-database-header-only": ("ptbxl", _header_only("ptbxl_database.csv"), ["ptbxl_database.csv", "holds no rows"]),
    "ptbxl-statements-header-only": ("ptbxl", _header_only("scp_statements.csv"), ["scp_statements.csv", "holds no rows"]),
    "ptbxl-record-nan": ("ptbxl", _ptbxl_record_nan, ["cannot be prepared as ptbxl", "non-finite samples"]),
    "ptbxl-record-at-250-hz": ("ptbxl", _ptbxl_fs, ["cannot be prepared as ptbxl", "fs=250"]),
    "ptbxl-option-of-another-dataset": ("ptbxl", _options({"clip_seconds": 1}), ["--options.clip_seconds", "accepts none"]),
    "adftd-subject-twice": (
        "adftd",
        _table("participants.tsv", lambda t: __import__("pandas").concat([t, t.iloc[[1]]]), sep="\t"),
        ["participants.tsv:5", "is listed twice"],
    ),
    "adftd-participants-header-only": ("adftd", _header_only("participants.tsv"), ["participants.tsv", "holds no rows"]),
    "adftd-recording-at-250-hz": ("adftd", _adftd_recording(sfreq=250.0), [".set", "sampled at 250 Hz", "500"]),
    "adftd-recording-nan": ("adftd", _adftd_recording(value=np.nan), [".set", "NaN or infinite"]),
    "adftd-unknown-group": ("adftd", _table("participants.tsv", lambda t: t.assign(Group="X"), sep="\t"), ["unknown Group values ['X']"]),
    "medabs-test-header-only": ("medabs", _header_only("medical_tc_test.csv"), ["medical_tc_test.csv", "holds no samples", "'test'"]),
    "medabs-train-header-only": ("medabs", _header_only("medical_tc_train.csv"), ["medical_tc_train.csv", "holds no samples"]),
    "medabs-label-zero": ("medabs", _table("medical_tc_test.csv", lambda t: t.assign(condition_label=0)), ["condition_label values [0]"]),
    "medabs-label-six": ("medabs", _table("medical_tc_train.csv", lambda t: t.assign(condition_label=6)), ["condition_label values [6]"]),
    "medabs-column-missing": ("medabs", _table("medical_tc_train.csv", lambda t: t.drop(columns="medical_abstract")), ["lacks the column"]),
    "pubmedrct-test-empty": ("pubmedrct", lambda raw: (raw / "test.txt").write_text(""), ["test.txt", "holds no samples"]),
    "pubmedrct-train-empty": ("pubmedrct", _pubmed_empty_train, ["train.7z", "holds no samples"]),
    "pubmedrct-7z-dot-dot": ("pubmedrct", _pubmed_7z(["train.txt", "../../escaped.txt"]), ["train.7z", "is not safe to unpack", "'..'"]),
    "pubmedrct-unknown-role": ("pubmedrct", lambda raw: (raw / "test.txt").write_text("###9\nFINDINGS\tx .\n"), ["test.txt:2"]),
}


@pytest.fixture
def raw_ws(tmp_path, twins, valid_inputs):
    def make(key: str) -> Path:
        work = tmp_path / "ws"
        (work / "out").mkdir(parents=True)
        shutil.copytree(valid_inputs / "raw" if key == "organamnist" else twins / key, work / "raw")
        return work

    return make


@pytest.mark.parametrize("name", sorted(RAW_DATA))
def test_prepare_refuses_bad_raw_data_of_every_source(capsys, raw_ws, name):
    """Issue 23: NaN pixels cast to 0, rows and subjects counted twice, empty parts dropped, implausible sample
    rates, out-of-range labels — each refused naming the file (and line or record); an option's fault is called an
    option's fault, never a reason to acquire good raw data again."""
    key, change, culprits = RAW_DATA[name]
    ws = raw_ws(key)
    options = PREPARE_OPTIONS.get(key)
    if isinstance(change, tuple):
        options = change[1]
    else:
        change(ws / "raw")
    out = ws / "out" / "prepared"
    argv = ["prepare", "--dataset", key, "--raw", str(ws / "raw"), "--out", str(out)]
    argv += ["--options", json.dumps(options)] if options is not None else []
    line = expect_failure(capsys, ws, argv, 2, culprits, [out])
    assert "/.prepared." not in line  # no temporary path
    if isinstance(change, tuple):
        assert "acquire" not in line  # an option typo does not advise re-acquiring good raw data


@pytest.mark.parametrize("key", sorted(TWIN_OPTIONS))
def test_every_twin_prepares_unbroken(capsys, raw_ws, key):
    """The control: each source's unbroken twin passes every check."""
    ws = raw_ws(key)
    argv = ["prepare", "--dataset", key, "--raw", str(ws / "raw"), "--out", str(ws / "out" / "prepared")]
    argv += ["--options", json.dumps(PREPARE_OPTIONS[key])] if key in PREPARE_OPTIONS else []
    assert main(argv) == 0, capsys.readouterr().err


# --------------------------------------------------------------------------- options given on the command line


CLI_OPTIONS = {
    "acquire-demo-seed-negative": (
        ["acquire", "--dataset", "organamnist", "--source", "demo", "--demo-options", '{"seed": -1}'],
        "--demo-options.seed",
    ),
    "acquire-demo-option-misspelt": (
        ["acquire", "--dataset", "ptbxl", "--source", "demo", "--demo-options", '{"n_patient": 3}'],
        "--demo-options.n_patient",
    ),
    "acquire-demo-image-size-zero": (
        ["acquire", "--dataset", "organcmnist", "--source", "demo", "--demo-options", '{"image_size": 0}'],
        "image_size",
    ),
    "acquire-demo-count-as-text": (
        ["acquire", "--dataset", "medabs", "--source", "demo", "--demo-options", '{"n_train": "10"}'],
        "--demo-options.n_train",
    ),
    "fetch-model-tiny-heads": (
        ["fetch-model", "--architecture", "vit", "--tiny", '{"hidden_size": 30, "num_attention_heads": 4}'],
        "--tiny.hidden_size",
    ),
    "fetch-model-tiny-patch-larger-than-image": (
        ["fetch-model", "--architecture", "vit", "--tiny", '{"image_size": 28, "patch_size": 32}'],
        "--tiny.patch_size",
    ),
    "fetch-model-tiny-key-misspelt": (["fetch-model", "--architecture", "roberta", "--tiny", '{"hiden_size": 32}'], "--tiny.hiden_size"),
    "fetch-model-tiny-wav2vec2-convolutions": (
        ["fetch-model", "--architecture", "wav2vec2", "--tiny", '{"conv_dim": [8, 8], "conv_stride": [5], "conv_kernel": [10, 8]}'],
        "--tiny.conv_dim",
    ),
}


@pytest.mark.parametrize("name", sorted(CLI_OPTIONS))
def test_command_line_options_are_checked_as_the_config_is(capsys, ws, name):
    argv, culprit = CLI_OPTIONS[name]
    out = ws / "out" / "thing"
    expect_failure(capsys, ws, [*argv, "--out", str(out)], 2, [culprit], [out])


def test_fetch_model_checks_the_configs_tiny_entry(capsys, ws):
    edit_yaml(ws / "config.yaml", lambda d: d["backbones"]["vit_tiny"]["tiny"].update(hidden_size=66))
    out = ws / "out" / "model"
    argv = ["fetch-model", "--backbone", "vit_tiny", "--config", str(ws / "config.yaml"), "--out", str(out)]
    expect_failure(capsys, ws, argv, 2, ["config.yaml: backbones.vit_tiny.tiny.hidden_size", "not divisible"], [out])
