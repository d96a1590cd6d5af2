"""The distribution contract, checked over many seeds, and each scale's own statistics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from models import Choice, Distribution, IntUniform, LogOneMinus, LogUniform, PowerOfTwo, Uniform

EVERY_KIND = [
    LogUniform(1e-4, 1e-1),
    LogOneMinus(0.8, 0.999),
    IntUniform(1, 4),
    IntUniform(16, 256),
    IntUniform(1, 1000, log=True),
    IntUniform(7, 7),
    PowerOfTwo(16, 512),
    Uniform(-2.0, 3.0),
    Choice(("sgd", "momentum", "rmsprop", "adam")),
    Choice((1, 2.5, "x", True)),
]
SEEDS = range(50)


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_samples_lie_inside_and_are_plain_python_values(dist: Distribution) -> None:
    for seed in SEEDS:
        values = dist.sample(np.random.default_rng(seed), 40)
        assert len(values) == 40
        assert all(dist.contains(v) for v in values), (seed, values)
        assert all(type(v) in (float, int, str, bool) for v in values), {type(v) for v in values}


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_unit_interval_round_trip(dist: Distribution) -> None:
    for seed in SEEDS:
        for value in dist.sample(np.random.default_rng(seed), 40):
            u = dist.to_unit(value)
            assert 0.0 <= u <= 1.0
            back = dist.from_unit(u)
            if isinstance(value, float):
                assert back == pytest.approx(value, rel=1e-9)
            else:
                assert back == value and type(back) is type(value)


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_dict_round_trip_through_json(dist: Distribution) -> None:
    for seed in SEEDS:
        # Narrowed children must round-trip too: they are what a search logs round after round.
        child = dist.narrow(dist.sample(np.random.default_rng(seed), 3), 0.1, 0.1)
        for d in (dist, child):
            assert Distribution.from_dict(json.loads(json.dumps(d.to_dict()))) == d


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_the_class_name_and_the_kind_read_as_one_canonical_form(dist: Distribution) -> None:
    # The README writes `type: LogUniform`; logged spaces say `log_uniform`. Both read the
    # same, and writing back always gives the snake-case kind.
    canonical = dist.to_dict()
    by_class = {**canonical, "type": type(dist).__name__}
    assert Distribution.from_dict(by_class) == dist == Distribution.from_dict(canonical)
    assert Distribution.from_dict(by_class).to_dict() == canonical
    assert canonical["type"] == type(dist).kind


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_nearest_keeps_inside_values_and_moves_outside_ones_in(dist: Distribution) -> None:
    for seed in SEEDS:
        for value in dist.sample(np.random.default_rng(seed), 10):
            assert dist.nearest(value) == value
    outside = [-1e9, 1e9, math.inf, -math.inf, 0.0, 1e-12, 3.7, "text", None, math.nan, True]
    for value in outside:
        moved = dist.nearest(value)
        assert moved is None or dist.contains(moved), (value, moved)


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_edges_are_values_of_the_distribution(dist: Distribution) -> None:
    assert dist.edges() and all(dist.contains(v) for v in dist.edges())


@pytest.mark.parametrize(
    ("dist", "value", "expected"),
    [
        (LogUniform(10, 1000), 0.02, 10.0),  # the warm start: 0.02 in a [10, 1000] space
        (LogUniform(10, 1000), 5e4, 1000.0),
        (LogOneMinus(0.8, 0.99), 0.999, 0.99),
        (Uniform(-2.0, 3.0), 7, 3.0),
        (IntUniform(1, 4), 9, 4),
        (IntUniform(1, 4), 2.6, 3),
        (PowerOfTwo(16, 512), 1024, 512),
        (PowerOfTwo(16, 512), 4, 16),
        (PowerOfTwo(16, 512), 90, 64),  # log2(90) = 6.49: nearer 64 than 128 on its own scale
        (PowerOfTwo(16, 512), 91, 128),
        (Choice(("relu", "tanh")), "elu", None),
        (LogUniform(1e-4, 1e-1), "0.01", None),
    ],
)
def test_nearest_clips_on_the_parameters_own_scale(
    dist: Distribution, value: object, expected: object
) -> None:
    assert dist.nearest(value) == expected


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_same_seed_same_samples(dist: Distribution) -> None:
    first = dist.sample(np.random.default_rng(7), 30)
    assert dist.sample(np.random.default_rng(7), 30) == first


@pytest.mark.parametrize("dist", EVERY_KIND, ids=repr)
def test_narrow_stays_inside_and_keeps_the_values(dist: Distribution) -> None:
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        values = dist.sample(rng, int(rng.integers(1, 4)))
        child = dist.narrow(values, 0.1, 0.1)
        assert all(child.contains(v) for v in values)
        assert all(dist.contains(v) for v in child.sample(rng, 200))


def test_log_uniform_is_uniform_in_log10() -> None:
    samples = np.array(LogUniform(1e-4, 1e-1).sample(np.random.default_rng(0), 2000))
    assert stats.kstest(np.log10(samples), "uniform", args=(-4, 3)).pvalue > 0.01
    # The mistake this scale prevents: uniform draws on [1e-4, 1e-1] fail the same test.
    naive = np.random.default_rng(0).uniform(1e-4, 1e-1, 2000)
    assert stats.kstest(np.log10(naive), "uniform", args=(-4, 3)).pvalue < 1e-6


def test_log_one_minus_puts_half_the_mass_above_0_99() -> None:
    for seed in range(5):
        samples = np.array(LogOneMinus(0.9, 0.999).sample(np.random.default_rng(seed), 2000))
        assert 0.45 < np.mean(samples > 0.99) < 0.55


def test_power_of_two_draws_each_power_equally() -> None:
    samples = PowerOfTwo(16, 512).sample(np.random.default_rng(0), 3000)
    powers = [16, 32, 64, 128, 256, 512]
    assert set(samples) == set(powers)
    counts = [samples.count(p) for p in powers]
    assert stats.chisquare(counts).pvalue > 0.01


def test_log_int_uniform_spreads_over_orders_of_magnitude() -> None:
    samples = np.array(IntUniform(1, 1000, log=True).sample(np.random.default_rng(0), 4000))
    expected = math.log(31.5 / 0.5) / math.log(1000.5 / 0.5)  # P(value <= 31)
    assert np.mean(samples <= 31) == pytest.approx(expected, abs=0.03)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LogUniform(0, 0.1), "0 < low < high"),
        (lambda: LogUniform(0.1, 0.01), "0 < low < high"),
        (lambda: LogOneMinus(0.9, 1.0), "0 < low < high < 1"),
        (lambda: LogOneMinus(0.0, 0.9), "0 < low < high < 1"),
        (lambda: Uniform(1.0, 1.0), "low < high"),
        (lambda: Uniform(0.0, math.inf), "finite"),
        (lambda: Uniform("a", 1.0), "must be a number"),
        (lambda: IntUniform(5, 2), "low <= high"),
        (lambda: IntUniform(0, 10, log=True), "low >= 1"),
        (lambda: IntUniform(1.5, 3), "must be an integer"),
        (lambda: PowerOfTwo(16, 500), "power of two"),
        (lambda: PowerOfTwo(64, 16), "low <= high"),
        (lambda: Choice(()), "at least one"),
        (lambda: Choice(("a", "a")), "distinct"),
        (lambda: Choice(([1],)), "text, numbers or booleans"),
    ],
)
def test_bad_bounds_are_refused_at_construction(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_from_dict_reads_numbers_written_as_text_and_names_unknown_types() -> None:
    # PyYAML reads 1e-4 (no dot) as a string; such bounds must still work.
    assert Distribution.from_dict({"type": "log_uniform", "low": "1e-4", "high": "1e-1"}) == (
        LogUniform(1e-4, 1e-1)
    )
    assert Distribution.from_dict({"type": "power_of_two", "low": 16.0, "high": 64}) == (
        PowerOfTwo(16, 64)
    )
    with pytest.raises(ValueError, match=r"unknown distribution type 'gaussian'.*LogUniform \("):
        Distribution.from_dict({"type": "gaussian", "low": 0, "high": 1})
    with pytest.raises(ValueError, match="bad fields"):
        Distribution.from_dict({"type": "uniform", "low": 0, "hi": 1})


def test_narrow_keeps_a_minimum_width_and_neighbours() -> None:
    assert IntUniform(1, 4).narrow([2, 2, 2], 0.1, 0.1) == IntUniform(1, 3)
    assert PowerOfTwo(16, 512).narrow([64, 64], 0.1, 0.1) == PowerOfTwo(32, 128)
    assert PowerOfTwo(16, 512).narrow([16], 0.1, 0.1) == PowerOfTwo(16, 32)
    assert Choice(("a", "b", "c", "d")).narrow(["d"], 0.1, 0.1) == Choice(("c", "d"))
    child = LogUniform(1e-4, 1e-1).narrow([3e-3, 3e-3], 0.0, 0.1)
    # All agree: the child is 10% of the parent's 3 decades wide, centred on the value.
    assert math.log10(child.high / child.low) == pytest.approx(0.3)
    assert math.sqrt(child.low * child.high) == pytest.approx(3e-3)
    edge = LogUniform(1e-4, 1e-1).narrow([1e-1], 0.0, 0.1)
    assert edge.high == 1e-1 and math.log10(edge.high / edge.low) == pytest.approx(0.3)
