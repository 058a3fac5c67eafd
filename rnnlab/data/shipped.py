"""The real datasets that ship inside the package, verified by checksum before first use.

Everything the course trains on is either here or generated from a seed, so it runs offline.
Origin, licence and attribution of each file sit beside it in ``files/<dataset>/SOURCE.md``.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache
from pathlib import Path

FILES_DIR = Path(__file__).parent / "files"

# sha256 of each shipped file, as copied from shared/data (fra.txt re-compressed with gzip -9 -n).
MANIFEST: dict[str, str] = {
    "digits/digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    "fra_eng/fra.txt.gz": "ec59d6aaba2103a1320330f39bec51dbebbb20cb6bbe9976bd16b0622c965a50",
    "sentiment/amazon_cells_labelled.txt": (
        "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3"
    ),
    "sentiment/imdb_labelled.txt": (
        "aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d"
    ),
    "sentiment/yelp_labelled.txt": (
        "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea"
    ),
    "timeseries/co2_mauna_loa_weekly.csv": (
        "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f"
    ),
    "timeseries/seattle-weather.csv": (
        "62f0609f787158128aa2bd102967173a4953122dd4f872bf1d502cae1037df0b"
    ),
    "timeseries/sunspots_monthly.dat": (
        "cc303d26340b6d599bc2878899f8c50c12323dc04b52a26ad047965ea2b9d2a3"
    ),
    "timeseries/sunspots_yearly.csv": (
        "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b"
    ),
}


class DataCorruptedError(ValueError):
    """A shipped data file is missing or does not match its recorded checksum."""


def shipped_path(name: str) -> Path:
    """Path of a shipped file such as ``"sentiment/yelp_labelled.txt"``, checked against its
    sha256."""
    if name not in MANIFEST:
        raise KeyError(f"name {name!r} is not a shipped data file; known: {sorted(MANIFEST)}")
    return _verified(name)


@cache
def _verified(name: str) -> Path:
    path = FILES_DIR / name
    if not path.is_file():
        raise DataCorruptedError(
            f"shipped data file {name!r} is missing at {path}; reinstall rnnlab (pip install -e .)"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MANIFEST[name]:
        raise DataCorruptedError(
            f"shipped data file {name!r} is corrupted (sha256 {digest[:12]}…, expected "
            f"{MANIFEST[name][:12]}…); "
            "restore it with git checkout or reinstall rnnlab"
        )
    return path


def read_text(name: str) -> str:
    """The text of a shipped file (gzip-compressed files are decompressed), decoded as UTF-8."""
    path = shipped_path(name)
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return data.decode("utf-8")


def attribution(dataset: str) -> str:
    """The SOURCE.md (origin, licence, how to cite) of a shipped dataset folder, e.g.
    ``"fra_eng"``."""
    path = FILES_DIR / dataset / "SOURCE.md"
    if not path.is_file():
        known = sorted(p.name for p in FILES_DIR.iterdir() if p.is_dir())
        raise KeyError(f"dataset {dataset!r} has no SOURCE.md; known datasets: {known}")
    return path.read_text(encoding="utf-8")
