"""`driftune demo`: the main job end to end on the shipped seattle-weather data."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from sklearn.pipeline import make_pipeline

from data import DatasetSpec, features_and_labels, load, make_preprocessor, resolve_features
from data.samples import sample_path
from models import BNSoftmaxClassifier

SEATTLE = DatasetSpec(path=sample_path("seattle-weather.csv"), label="weather", time="date")


def baseline_demo(console: Console, *, seed: int = 0) -> float:
    """Train on 2012-2013, report accuracy on the 2014 holdout; returns that accuracy."""
    frame = load(SEATTLE)
    features = resolve_features(SEATTLE, frame)
    years = frame[SEATTLE.time].dt.year  # type: ignore[index]
    X_train, y_train = features_and_labels(frame[years.isin([2012, 2013])], SEATTLE, features)
    X_test, y_test = features_and_labels(frame[years == 2014], SEATTLE, features)
    model = make_pipeline(make_preprocessor(features), BNSoftmaxClassifier(random_state=seed))
    model.fit(X_train, y_train)
    accuracy = float(model.score(X_test, y_test))
    table = Table(title="seattle-weather: train 2012-2013, holdout 2014")
    for column in ("train rows", "holdout rows", "epochs", "holdout accuracy"):
        table.add_column(column, justify="right")
    table.add_row(str(len(X_train)), str(len(X_test)), str(model[-1].n_epochs_), f"{accuracy:.3f}")
    console.print(table)
    return accuracy
