"""Shared audio treatment of the respiratory sound datasets (ICBHI 2017, SPRSound).

docs/protocol.md §1: each annotated cycle/event is cut from its recording, averaged to mono, resampled
to 16 kHz, faded in and out over 1,000 samples and fixed to the clip length (8 s in the
paper): longer clips are truncated, shorter ones repeated circularly and then faded out.
The demo twins of both datasets synthesise breathing noise, crackles and tones with the
helpers at the end of this module.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

TARGET_SR = 16_000
FADE_SAMPLES = 1_000
DEFAULT_CLIP_SECONDS = 8.0


class AudioFileError(ValueError):
    """A recording that cannot be read completely (truncated, not a WAV, ...)."""


def check_wav_complete(path: str | Path) -> None:
    """Raise :class:`AudioFileError` unless every RIFF chunk of ``path`` is fully present.

    libsndfile silently reads what is there when a file was cut short, so a truncated
    download would otherwise turn into a shorter recording with shifted annotations.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise AudioFileError(f"{path} is not a RIFF/WAVE file")
        offset, seen_data = 12, False
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            end = offset + 8 + chunk_size
            if end > size:
                raise AudioFileError(
                    f"{path} is truncated: chunk {chunk_id!r} needs {chunk_size} bytes, only {size - offset - 8} present; "
                    "delete it and acquire the dataset again"
                )
            seen_data |= chunk_id == b"data"
            offset = end + (chunk_size & 1)  # chunks are padded to even sizes
        if not seen_data:
            raise AudioFileError(f"{path} has no data chunk (truncated?)")


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a WAV recording as float32 mono (channels averaged) and its sample rate."""
    import soundfile as sf

    check_wav_complete(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError
        raise AudioFileError(f"cannot read audio file {path}: {exc}") from exc
    return data.mean(axis=1), int(sr)


def fade(x: np.ndarray, n: int = FADE_SAMPLES, fade_in: bool = True, fade_out: bool = True) -> np.ndarray:
    """Linear fade in/out over ``n`` samples (at most half the clip each)."""
    x = np.array(x, dtype=np.float32, copy=True)
    n = min(n, len(x) // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, endpoint=False, dtype=np.float32)
        if fade_in:
            x[:n] *= ramp
        if fade_out:
            x[-n:] *= ramp[::-1]
    return x


def fit_length(x: np.ndarray, length: int, fade_samples: int = FADE_SAMPLES) -> np.ndarray:
    """Truncate to ``length``, or repeat circularly up to it and fade the end out."""
    if len(x) == 0:
        raise ValueError("cannot fit an empty clip")
    if len(x) >= length:
        return np.asarray(x[:length], dtype=np.float32)
    repeated = np.tile(x, -(-length // len(x)))[:length]
    return fade(repeated, fade_samples, fade_in=False, fade_out=True)


def clip_from_recording(
    signal: np.ndarray, sr: int, start_s: float, end_s: float, clip_samples: int, target_sr: int = TARGET_SR
) -> np.ndarray | None:
    """One fixed-length 16 kHz clip for the span [start_s, end_s) of a mono recording.

    Returns ``None`` for a span with no samples inside the recording (annotations past the end).
    """
    import soxr

    a, b = max(0, int(round(start_s * sr))), min(len(signal), int(round(end_s * sr)))
    if b <= a:
        return None
    piece = signal[a:b]
    if sr != target_sr:
        # soxr "HQ" is what librosa.resample uses by default (res_type="soxr_hq"); calling it
        # directly spares every prepare job librosa's import (over 10 s on a busy machine).
        piece = soxr.resample(piece, sr, target_sr, quality="HQ").astype(np.float32)
    if len(piece) == 0:
        return None
    return fit_length(fade(piece), clip_samples)


def clip_samples_for(clip_seconds: float, target_sr: int = TARGET_SR) -> int:
    from fhbench.errors import InputError

    if not (isinstance(clip_seconds, (int, float)) and 0 < clip_seconds <= 60):  # an option, not the raw data
        raise InputError("prepare option clip_seconds", f"{clip_seconds!r} is not a length in (0, 60] seconds", "fix the option")
    return int(round(clip_seconds * target_sr))


# --- demo synthesis -------------------------------------------------------------------------


def breath_noise(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Low-passed noise with a slow envelope: a plain breathing cycle."""
    noise = rng.normal(0, 1, n)
    width = max(1, sr // 400)
    smooth = np.convolve(noise, np.ones(width) / width, mode="same")
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, np.pi, n))
    return 0.1 * smooth * envelope


def crackles(rng: np.random.Generator, n: int, sr: int, count: int, freq: float, dur_s: float) -> np.ndarray:
    """Short decaying bursts at random places (fine: high and short; coarse: low and longer)."""
    out = np.zeros(n)
    length = max(4, int(dur_s * sr))
    t = np.arange(length) / sr
    burst = np.sin(2 * np.pi * freq * t) * np.exp(-t / (dur_s / 4))
    for start in rng.integers(0, max(1, n - length), size=count):
        out[start : start + length] += 0.6 * burst[: n - start]
    return out


def tone(n: int, sr: int, freq: float, amplitude: float = 0.3) -> np.ndarray:
    """A continuous tone with a smooth envelope (wheeze, rhonchus, stridor)."""
    t = np.arange(n) / sr
    return amplitude * np.sin(2 * np.pi * freq * t) * np.sin(np.linspace(0, np.pi, n)) ** 0.5


def write_wav(path: str | Path, signal: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """Write a mono WAV; ``subtype`` is libsndfile's sample format (``PCM_16``, ``PCM_24``)."""
    import soundfile as sf

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(signal, -1, 1).astype(np.float32), sr, subtype=subtype)
