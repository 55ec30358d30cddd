"""Bad input through the real workflow: the config's files are read strictly, a failed rule's
log ends with the one error line, a bad-input run is not redone on retry, and a manual copy
placed where a download error says is picked up by a plain rerun."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import copy_repo

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
PASSWORD = "s3cr3t-pw"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("badinput") / "repo")


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=f"{workdir / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", HF_HUB_OFFLINE="1")
    return subprocess.run(SNAKEMAKE + list(args), cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def resolved(workdir: Path, config: str) -> dict:
    """The config as the workflow resolves it: every path comes from fhbench.grid with it."""
    from fhbench.config import load_config

    return load_config(workdir / config)


def write_config(workdir: Path, name: str, change) -> str:
    config = yaml.safe_load((workdir / "config" / "demo.yaml").read_text())
    change(config)
    (workdir / "config" / name).write_text(yaml.safe_dump(config, sort_keys=False))
    return f"config/{name}"


def test_duplicate_key_and_credentials_stop_the_workflow_before_any_job(workdir):
    text = (workdir / "config" / "demo.yaml").read_text()
    (workdir / "config" / "dup.yaml").write_text(text.replace("experiments:\n", "experiments:\n  main:\n    datasets: [organamnist]\n", 1))
    done = snakemake(workdir, "-n", "all", "--configfile", "config/dup.yaml")
    assert done.returncode != 0 and "'main' given twice" in done.stdout + done.stderr

    creds = write_config(workdir, "creds.yaml", lambda c: c["datasets"]["medabs"].update(base_url=f"http://u:{PASSWORD}@mirror.example/x"))
    done = snakemake(workdir, "-n", "all", "--configfile", creds)
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "datasets.medabs.base_url" in out and "u:***@" in out and PASSWORD not in out
    metadata = workdir / ".snakemake" / "metadata"
    assert not metadata.exists() or not any(PASSWORD in p.read_text(errors="replace") for p in metadata.rglob("*") if p.is_file())


@pytest.mark.slow
def test_failed_download_then_manual_copy_and_a_plain_rerun(workdir, tmp_path):
    """Offline acquisition fails naming the place for a manual copy; a copy put there is used by the same command again."""
    from fhbench.data import get_dataset

    def offline(c):
        # A real source: its backbone is not pretrained here (only demo twins' tiny backbones are).
        c["datasets"]["medabs"].update(source="remote", base_url="http://127.0.0.1:9")
        c["datasets"]["medabs"].pop("pretrain", None)

    config = write_config(workdir, "offline.yaml", offline)
    from fhbench import grid

    cfg = resolved(workdir, config)
    prepared, raw, downloads = (f(cfg, "medabs") for f in (grid.prepared_dir, grid.raw_dir, grid.download_dir))
    done = snakemake(workdir, "--cores", "1", prepared, "--configfile", config)
    assert done.returncode != 0
    origin = grid.origin_id(cfg, "medabs")
    log = (workdir / grid.logs_dir(cfg) / "acquire_data" / "medabs" / f"{origin}.log").read_text().rstrip().splitlines()
    last = log[-1]
    assert last.startswith("fhbench: error: could not download http://127.0.0.1:9/medical_tc_")
    assert "no data was kept" in last and f"{downloads}/medical_tc_" in last
    assert not (workdir / raw).exists()
    # The user downloads the files by hand (here: the demo twin, in the source's format) and puts them there.
    served = tmp_path / "served"
    get_dataset("medabs").generate_demo(served)
    downloads = workdir / downloads
    downloads.mkdir(parents=True, exist_ok=True)
    for f in served.iterdir():
        shutil.copy(f, downloads / f.name)
    done = snakemake(workdir, "--cores", "1", prepared, "--configfile", config)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (workdir / prepared / "labels.npy").exists()
    assert sorted(p.name for p in downloads.iterdir()) == sorted(p.name for p in served.iterdir())  # never deleted


@pytest.mark.slow
@pytest.mark.parametrize("warm_worker", [False, True], ids=["own-process", "warm-worker"])
def test_bad_model_folder_fails_once_with_the_line_at_the_end_of_the_log(workdir, warm_worker):
    """A hand-made model folder of other sizes: the run stops with exit 2; retries do not redo the work."""
    from fhbench import grid
    from fhbench.models import get_backbone

    config = write_config(workdir, "run.yaml", lambda c: c["execution"].update(warm_worker=warm_worker))
    cfg = resolved(workdir, config)
    tiny = cfg["backbones"]["vit_tiny"]["tiny"]
    model_dir = grid.model_dir(cfg, "vit_tiny")
    model = workdir / model_dir
    shutil.rmtree(model, ignore_errors=True)
    get_backbone("vit").create_tiny(model, {**tiny, "hidden_size": 16, "num_attention_heads": 2})
    key = grid.RunKey("organamnist", "fhbench", "fedavg", "default", 0, name=grid.config_name(cfg))
    target = key.metrics
    done = snakemake(workdir, "--cores", "1", target, "--configfile", config)
    assert done.returncode != 0
    # The run reads the demo backbone pretrained from that folder, which keeps its sizes.
    model_dir = grid.run_model_dir(cfg, "organamnist")
    log = (workdir / key.log).read_text()
    lines = log.rstrip().splitlines()
    assert lines[-1].startswith(f"fhbench: error: {model_dir}/config.json: hidden_size is 16")
    assert "Traceback" not in done.stderr and log.count("Traceback") == 1  # in the log, not on the console
    # Attempts 2 and 3 stopped at once (Snakemake deletes the log before a retry; the retry writes it back).
    assert "retry: inputs unchanged since the bad-input failure, not run again" in log
    smk_log = max((workdir / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    assert smk_log.count("Trying to restart job") == 2
    assert smk_log.count("Traceback") == 0
    assert f"fhbench: error: {model_dir}/config.json" in done.stderr
    assert not (workdir / target).exists()
