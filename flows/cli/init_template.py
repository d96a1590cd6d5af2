"""`driftune init`: a commented example config for one of the shipped datasets."""

from __future__ import annotations

from pathlib import Path

from data.errors import ConfigError
from data.samples import sample_path

SAMPLES = {
    "seattle-weather": {
        "file": "seattle-weather.csv",
        "label": "weather",
        "time": "date",
        "every": '"YS"          # one batch a calendar year',
    },
    "rainfall": {
        "file": "rainfall.csv",
        "label": "rain",
        "time": None,
        "every": "1500            # no time column: one batch every 1,500 rows",
    },
}

HEADER = """\
# driftune project config. Relative paths are relative to this file's folder.
name: {name}                 # names the MLflow experiments and the registered model

"""
SAMPLE_DATASET = """\
dataset:
  path: {path}               # a CSV or Parquet file, or a folder of batch files
  label: {label}             # the column to predict
  time: {time}               # the time column; null = rows are already in time order
  # features: [a, b]         # default: every column but the label and the time
  # numeric: [a]             # default: inferred from the dtypes
  # categorical: [b]
  every: {every}
  # every: "MS" monthly, "W" weekly, "file" one batch per file, or a row count

"""
# The policy sections: driftune's defaults, the same whatever the dataset.
POLICY = """\
window:
  candidates: [1, 2, 4, all] # each retune trains on the newest N batches, N the length that
                             # best predicted the newest batch from the ones before it
  periods: 1                 # N while there is no batch before the newest (or candidates: [])
  validation: 0.2            # then the next-newest rows validate the trials
  holdout: 0.2               # and the newest rows judge the promotion
  min_rows: 10               # fewest labelled rows a split may have

search:
  strategy: caviar           # caviar: many models in parallel; panda: babysit one model
  rounds: 3                  # coarse-to-fine: round 1 samples the whole space, later rounds zoom
  trials_per_round: 6
  top_k: 3                   # each zoom centres on the best k trials so far
  seed: 0
  max_consecutive_failures: 5
  warm_start_k: 2            # re-train the champion's and the last search's top-k configs first
  fixed: {{max_epochs: 40, patience: 8}}
  # space:                   # default: learning_rate LogUniform(1e-4, 1e-1), momentum
  #                          # LogOneMinus(0.8, 0.999), n_layers IntUniform(1, 4), hidden_units
  #                          # IntUniform(16, 256), batch_size PowerOfTwo(16, 512)
  panda: {{segments: 6, epochs_per_segment: 5}}   # add schedule: [0.01, 0.003, ...] to steer
  fused: false               # true: a round's trials of one structure train as one stacked model
  pruning: {{enabled: false, min_epochs: 4, reduction_factor: 3}}  # needs fused: at epochs 4,
                             # 12, 36, ... only the round's top 1/3 train on; the rest: pruned
  fidelity: {{min_rows: 20000, reduction_factor: 3, epoch_factor: 2}}  # on 20,000 training
                             # rows or more, round r of R trains on 1/3**(R-r) of them (at least
                             # 20,000) for 1/2**(R-r) of max_epochs; the last round on all rows.
                             # Smaller windows keep the full search; null: always full
  standing_candidate: true   # the fixed configuration is the first trial of every search
  ensemble: {{max_members: 5, steps: 20, method: greedy}}  # the champion averages up to 5 of
                             # the trials, chosen greedily on the validation rows (top: the 5
                             # with the lowest validation log-loss); max_members: 1 = the best
  cross_validation: {{folds: 1, below_rows: 2000}}  # folds: 5 judges each trial on 5 time-
                             # blocked folds when train + validation rows are below 2,000

drift:
  alpha: 0.05                # after multiple-testing correction
  correction: holm           # holm, bh, bonferroni or null
  min_effect: 0.1            # ignore shifts smaller than this effect size
  accuracy_drop: true        # a significant drop of the champion's accuracy counts as drift
  min_accuracy_drop: 0.01    # ... when it is at least this much (0.01: one point)

promotion:
  rule: non_inferiority      # promote unless the challenger is credibly worse than the champion
  margin: 0.0                # non_inferiority: the loss on the holdout it tolerates
  # rule: superiority        # promote only when credibly better by at least min_gain
  min_gain: 0.0
  confidence: 0.95           # how sure the paired bootstrap must be, either rule
  refit_on_window: true      # the promoted model is refit on the whole window, holdout included

tracking:
  uri: null                  # null: sqlite:///<this folder>/.driftune/mlflow.db
  # uri: http://mlflow.internal:5000

runner:
  kind: threads              # or dask, with dask_address: tcp://scheduler:8786
  max_workers: null          # parallel trials; null: one per core
  wait_for_lock_s: 0         # a second retune of the same model is refused at once

schedules:
  drift_check: "0 * * * *"   # hourly
  retune: "0 3 * * 0"        # weekly, even without drift
  timezone: UTC
"""
TEMPLATE = HEADER + SAMPLE_DATASET + POLICY


def render_example(sample: str) -> str:
    if sample not in SAMPLES:
        raise ConfigError(f"unknown sample {sample!r}; choose one of {sorted(SAMPLES)}")
    chosen = SAMPLES[sample]
    return TEMPLATE.format(
        name=sample,
        path=sample_path(str(chosen["file"])),
        label=chosen["label"],
        time=chosen["time"] or "null",
        every=chosen["every"],
    )


def write_example(path: Path, sample: str, *, force: bool = False) -> None:
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already (use --force to overwrite it)")
    path.write_text(render_example(sample))
