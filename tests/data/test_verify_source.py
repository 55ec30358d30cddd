"""`fhbench verify-source`: a raw download against the source's published figures, and the same figures in info.json."""

from __future__ import annotations

import json

import pytest

from fhbench.cli import main
from fhbench.data import acquire, get_dataset
from fhbench.data.prepared import load_prepared

TWINS = {
    "icbhi": ({"n_patients": 4, "recordings_per_patient": 2, "cycles_per_recording": 3}, {"clip_seconds": 0.25}),
    "sprsound": ({"n_patients": 4, "recordings_per_patient": 1, "events_per_recording": 3}, {"clip_seconds": 0.25}),
    "ptbxl": ({"n_patients": 4}, {}),
    "adftd": ({"n_per_group": 1, "seconds": 3}, {}),
    "medabs": ({"n_train": 30, "n_test": 20}, {}),
    "pubmedrct": ({"n_train": 5, "n_dev": 2, "n_test": 3}, {}),
    "organamnist": ({"n_train": 20, "n_val": 5, "n_test": 10}, {}),
}


@pytest.mark.parametrize("key", sorted(TWINS))
def test_raw_figures_equal_the_prepared_ones_and_differ_from_the_published(key, tmp_path, capsys):
    """Counted from the raw files (verify-source) and from the prepared arrays (info.json): the same figures."""
    demo, options = TWINS[key]
    dataset = get_dataset(key)
    acquire(key, tmp_path / "raw", "demo", demo_options=demo)
    dataset.prepare(tmp_path / "raw", tmp_path / "prepared", **options)
    stored = load_prepared(tmp_path / "prepared").info["published_figures"]
    raw = dataset.source_figures(tmp_path / "raw")
    assert set(stored) == set(dataset.published) & set(raw) and stored
    for name, row in stored.items():
        assert row["found"] == raw[name], name
        assert row["published"] == dataset.published[name]
        assert row["match"] is False, f"a twin cannot have the real {name}"
    assert main(["verify-source", "--dataset", key, "--raw", str(tmp_path / "raw")]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{key}: source check") and "MISMATCH" in out
    assert "files (MANIFEST.json)" in out and "sha256 as acquired" in out
    assert f"{key}: differs from the published source in:" in out


def test_all_checks_pass_when_the_figures_are_the_published_ones(tmp_path, capsys, monkeypatch):
    dataset = get_dataset("icbhi")
    acquire("icbhi", tmp_path / "raw", "demo", demo_options=TWINS["icbhi"][0])
    # The twin's own counts: 8 recordings of 3 cycles, 4 patients.
    counted = dataset.source_figures(tmp_path / "raw")
    assert counted["recordings"] == 8 and counted["samples"] == 24 and counted["patients"] == 4 and sum(counted["class_counts"]) == 24
    monkeypatch.setattr(type(dataset), "published", counted)
    assert main(["verify-source", "--dataset", "icbhi", "--raw", str(tmp_path / "raw")]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and "icbhi: all 6 checks match" in out
    # a file changed after acquisition is named
    txt = sorted((tmp_path / "raw" / "unpacked").rglob("*.txt"))[0]
    txt.write_text(txt.read_text() + "9.0\t9.5\t0\t0\n")
    assert main(["verify-source", "--dataset", "icbhi", "--raw", str(tmp_path / "raw")]) == 1
    out = capsys.readouterr().out
    assert (
        f"changed: {txt.relative_to(tmp_path / 'raw')}" in out
        and "differs from the published source in: sha256 as acquired, samples, class_counts" in out
    )


def test_published_checksums_of_the_source(tmp_path, capsys):
    """PTB-XL's SHA256SUMS.txt and MedMNIST's md5 are checked as the source publishes them."""
    acquire("ptbxl", tmp_path / "ptbxl", "demo", demo_options={"n_patients": 3})
    (row,) = get_dataset("ptbxl").published_checksums(tmp_path / "ptbxl")
    assert row["match"] and row["published"] == row["found"] > 2
    dat = sorted((tmp_path / "ptbxl" / "records500").rglob("*.dat"))[0]
    dat.write_bytes(dat.read_bytes()[:-2] + b"\0\0")
    (row,) = get_dataset("ptbxl").published_checksums(tmp_path / "ptbxl")
    assert not row["match"] and dat.name in row["note"]
    acquire("organamnist", tmp_path / "organ", "demo", demo_options=TWINS["organamnist"][0])
    (row,) = get_dataset("organamnist").published_checksums(tmp_path / "organ")
    assert row["published"] == get_dataset("organamnist").remote_files()[0].md5 and not row["match"]
    assert main(["verify-source", "--dataset", "organamnist", "--raw", str(tmp_path / "organ"), "--no-checksums"]) == 1
    out = capsys.readouterr().out
    assert "md5" not in out and "sha256" not in out and "train samples" in out


def test_missing_raw_folder_is_one_line(tmp_path, capsys):
    assert main(["verify-source", "--dataset", "icbhi", "--raw", str(tmp_path / "nothing")]) == 2
    assert "acquire icbhi first" in capsys.readouterr().err


def test_prepare_command_takes_the_config_options(tmp_path):
    acquire("icbhi", tmp_path / "raw", "demo", demo_options={"n_patients": 2, "recordings_per_patient": 1, "cycles_per_recording": 2})
    assert (
        main(
            [
                "prepare",
                "--dataset",
                "icbhi",
                "--raw",
                str(tmp_path / "raw"),
                "--out",
                str(tmp_path / "p"),
                "--options",
                json.dumps({"clip_seconds": 0.25}),
            ]
        )
        == 0
    )
    assert load_prepared(tmp_path / "p").inputs.shape == (4, 4000)
    assert (
        main(["prepare", "--dataset", "icbhi", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "q"), "--options", '{"clip": 1}'])
        == 2
    )
    assert not (tmp_path / "q").exists()
