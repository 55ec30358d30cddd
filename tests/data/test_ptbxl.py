"""PTB-XL: demo twin served over loopback HTTP → download (sha256 checked) → prepare → partition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fhbench.data import get_dataset
from fhbench.data.download import DownloadError
from fhbench.data.prepared import load_prepared
from fhbench.data.ptbxl import DATABASE, STATEMENTS, SUMS, demo_statements, read_code_classes, record_label, select_records
from fhbench.partition import partition_prepared


@pytest.fixture(scope="module")
def acquired(tmp_path_factory):
    from tests.http_mirror import serve_directory

    root = tmp_path_factory.mktemp("ptbxl")
    dataset = get_dataset("ptbxl")
    dataset.generate_demo(root / "mirror", seed=2, n_patients=15)
    with serve_directory(root / "mirror") as (base_url, handler):
        dataset.download(root / "raw", base_url=base_url, part_dir=root / "parts")
        requested = [r["path"] for r in handler.requests]
    dataset.prepare(root / "raw", root / "prepared")
    return root, requested


@pytest.fixture
def code_classes(tmp_path):
    demo_statements().to_csv(tmp_path / STATEMENTS)
    return read_code_classes(tmp_path / STATEMENTS)


def test_label_is_the_superclass_of_the_most_likely_code(code_classes):
    assert record_label({"NORM": 100.0, "SR": 0.0}, code_classes) == 0
    assert record_label({"NORM": 50.0, "IMI": 100.0, "SR": 0.0}, code_classes) == 1  # not the first listed
    assert record_label({"NDT": 100.0}, code_classes) == 2
    assert record_label({"IRBBB": 80.0, "LVH": 20.0}, code_classes) == 3
    assert record_label({"LVH": 100.0, "CLBBB": 100.0}, code_classes) == 4  # tie: first listed
    assert record_label({"AFLT": 100.0, "LVH": 50.0}, code_classes) is None  # rhythm statement on top
    assert record_label({}, code_classes) is None


def test_disagreeing_and_out_of_set_patients_are_dropped(code_classes):
    db = pd.DataFrame(
        {
            "patient_id": [1.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0],
            "scp_codes": [
                {"NORM": 100.0},
                {"NORM": 80.0},
                {"NORM": 100.0},
                {"IMI": 100.0},
                {"AFLT": 100.0},
                {"LVH": 100.0},
                {"SR": 0.0, "LVH": 90.0},
            ],
            "site": [0.0, 0.0, 1.0, 1.0, 2.0, np.nan, np.nan],
            "strat_fold": [1, 2, 3, 4, 5, 6, 7],
        },
        index=pd.Index([1, 2, 3, 4, 5, 6, 7], name="ecg_id"),
    )
    kept = select_records(db, code_classes)
    assert kept.index.tolist() == [1, 2, 6, 7]
    assert kept["label"].tolist() == [0, 0, 4, 4]
    assert kept["site"].tolist() == [0, 0, -1, -1]


def test_download_checks_the_published_sums(acquired):
    root, requested = acquired
    records = pd.read_csv(root / "mirror" / DATABASE)["filename_hr"]
    assert requested[:3] == [f"/{SUMS}", f"/{DATABASE}", f"/{STATEMENTS}"]
    assert sorted(requested[3:]) == sorted(f"/{r}.{ext}" for r in records for ext in ("hea", "dat"))


def test_prepared_windows(acquired):
    root, _ = acquired
    prepared = load_prepared(root / "prepared")
    db = pd.read_csv(root / "raw" / DATABASE)
    kept = db[~db["patient_id"].isin([9001, 9002])]  # the twin's disagreeing and out-of-set patients
    assert prepared.inputs.shape == (len(kept) * 10, 12, 250)
    meta = prepared.metadata
    assert sorted(set(meta["patient"])) == sorted(set(kept["patient_id"].astype(int)))
    assert meta["ecg_id"].tolist() == np.repeat(kept["ecg_id"], 10).tolist()
    assert meta["window"].tolist() == list(range(10)) * len(kept)
    assert meta["strat_fold"].tolist() == np.repeat(kept["strat_fold"], 10).tolist()
    assert set(get_dataset("ptbxl").natural_groups) <= set(meta.columns)
    # labels: NORM, MI, STTC, CD, HYP from the twin's top codes
    codes = kept["scp_codes"].map(eval)
    first_mi = kept.index[codes.map(lambda c: max(c, key=c.get) in ("IMI", "AMI")) & codes.map(lambda c: "NORM" in c)]
    assert len(first_mi) > 0, "the twin holds records whose top code is not listed first"
    for i in first_mi:
        assert set(prepared.labels[kept.index.get_loc(i) * 10 : kept.index.get_loc(i) * 10 + 10]) == {1}
    x = np.asarray(prepared.inputs, dtype=np.float64)
    np.testing.assert_allclose(x.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(axis=-1), 1, atol=1e-4)
    # 250 samples are one second: a class whose twin rhythm is f Hz peaks at FFT bin f
    for label, freq in ((0, 1), (1, 2), (2, 3), (4, 6)):
        spectrum = np.abs(np.fft.rfft(x[prepared.labels == label], axis=-1)).mean(axis=(0, 1))
        assert np.argmax(spectrum) == freq


def test_fhbench_partition_on_prepared(acquired, tmp_path):
    root, _ = acquired
    part = partition_prepared(root / "prepared", tmp_path / "fhbench.json", "fhbench", n_clients=20, alpha=0.1, datapercent=0.5, seed=2025)
    n = len(np.load(root / "prepared" / "labels.npy"))
    assert all(sum(len(c[s]) for s in ("train", "val", "test")) == int(n * 0.5) // 20 for c in part.clients)


def test_checksum_mismatch_stops_naming_the_file(tmp_path):
    from tests.http_mirror import serve_directory

    dataset = get_dataset("ptbxl")
    dataset.generate_demo(tmp_path / "mirror", n_patients=3)
    dat = sorted((tmp_path / "mirror" / "records500").rglob("*.dat"))[0]
    data = bytearray(dat.read_bytes())
    data[100] ^= 0xFF
    dat.write_bytes(bytes(data))
    with serve_directory(tmp_path / "mirror") as (base_url, _):
        with pytest.raises(DownloadError, match=dat.name):
            dataset.download(tmp_path / "raw", base_url=base_url, part_dir=tmp_path / "parts")
    assert not (tmp_path / "raw" / dat.relative_to(tmp_path / "mirror")).exists()


def test_broken_header_stops_naming_the_file(tmp_path):
    dataset = get_dataset("ptbxl")
    dataset.generate_demo(tmp_path / "raw", n_patients=3)
    hea = sorted((tmp_path / "raw" / "records500").rglob("*.hea"))[1]
    hea.write_text("this is not a WFDB header\n")
    with pytest.raises(ValueError, match=hea.name):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


def test_twin_classes_are_learnable(acquired):
    from tests.data.signal_checks import held_out_accuracy

    prepared = load_prepared(acquired[0] / "prepared")
    accuracy = held_out_accuracy(prepared.inputs, prepared.labels)
    assert accuracy > 0.8, f"a linear spectral classifier reaches only {accuracy:.2f} on the demo twin"


def rewrite_record(record, order, names=None) -> None:
    """Write a record again with its leads in ``order`` (indices), optionally renamed."""
    import wfdb

    rec = wfdb.rdrecord(str(record))
    wfdb.wrsamp(
        record.name,
        fs=rec.fs,
        units=[rec.units[i] for i in order],
        sig_name=names or [rec.sig_name[i] for i in order],
        p_signal=rec.p_signal[:, order],
        fmt=["16"] * len(order),
        adc_gain=[1000.0] * len(order),
        baseline=[0] * len(order),
        write_dir=str(record.parent),
    )


def test_leads_are_taken_by_name_in_the_info_order(tmp_path):
    """A record storing its leads in another order gives the same arrays; info.json holds the order."""
    import wfdb

    from fhbench.data.ptbxl import LEADS

    dataset = get_dataset("ptbxl")
    dataset.generate_demo(tmp_path / "raw", n_patients=3)
    assert wfdb.rdheader(str(sorted((tmp_path / "raw" / "records500").rglob("*.hea"))[0].with_suffix(""))).sig_name == list(LEADS)
    dataset.prepare(tmp_path / "raw", tmp_path / "before")
    record = sorted((tmp_path / "raw" / "records500").rglob("*.hea"))[0].with_suffix("")
    order = list(np.random.default_rng(0).permutation(12))
    rewrite_record(record, order)
    assert wfdb.rdheader(str(record)).sig_name == [LEADS[i] for i in order]
    dataset.prepare(tmp_path / "raw", tmp_path / "after")
    before, after = load_prepared(tmp_path / "before"), load_prepared(tmp_path / "after")
    assert after.info["channels"] == list(LEADS)
    np.testing.assert_allclose(after.inputs, before.inputs, atol=1e-5)


def test_record_with_another_lead_set_stops_naming_it(tmp_path):
    from fhbench.data.ptbxl import LEADS

    dataset = get_dataset("ptbxl")
    dataset.generate_demo(tmp_path / "raw", n_patients=3)
    record = sorted((tmp_path / "raw" / "records500").rglob("*.hea"))[1].with_suffix("")
    rewrite_record(record, list(range(12)), names=[*LEADS[:11], "V7"])
    with pytest.raises(ValueError, match=f"{record.name}.hea: leads .*'V7'.* differ"):
        dataset.prepare(tmp_path / "raw", tmp_path / "prepared")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]
