"""`driftune init --from DATA`: a config whose dataset section is guessed from the user's data.

The guess (data/guess.py) reads a sample through data/loading.py; this module writes it as the
dataset section of the same commented template `driftune init` writes, every guess with its
reason in a comment, and checks before writing that the config loads and the sample passes the
checks every command makes (so a column driftune would refuse is told now, in one line).
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import yaml

from data.errors import ConfigError
from data.guess import Column, Guess, guess_dataset
from data.loading import read_sample
from data.schema import validate_frame
from flows.cli.init_template import HEADER, POLICY

COMMENT_AT = 29  # the column the template's comments start at
WIDTH = 100
# A smallest class under this share of the rows: say what accuracy the majority class gets.
IMBALANCED = 0.2
# An integer column with this few values may be codes (a plot number, a month): say so.
FEW_VALUES = 30


def write_from_data(
    path: Path, data: Path, *, label: str | None, time: str | None, force: bool = False
) -> Guess:
    """Guess the dataset section from ``data``, check it, write the config to ``path``."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists already (use --force to overwrite it)")
    sample = read_sample(data)
    guess = guess_dataset(sample, label=label, time=time)
    text = render_from_data(guess, data, path)
    _check(text, path, sample.frame, data)
    path.write_text(text)
    return guess


def render_from_data(guess: Guess, data: Path, config_path: Path) -> str:
    """The whole config: what was read, the name, the guessed dataset, the default policy."""
    head = HEADER.splitlines()[0]
    name = _line("name", _project_name(data), "names the MLflow experiments and the model", 0)
    dataset = _dataset(guess, data, config_path)
    return f"{_preamble(guess, data)}{head}\n{name}\n\n{dataset}{POLICY.format()}"


def _check(text: str, path: Path, frame: object, data: Path) -> None:
    from flows.config import parse_config

    config = parse_config(yaml.safe_load(text), source=str(path)).resolved(path.parent)
    validate_frame(frame, config.spec(), data)  # type: ignore[arg-type]


def _project_name(data: Path) -> str:
    stem = data.resolve().stem if data.is_file() else data.resolve().name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-._")
    return name or "project"


def _preamble(guess: Guess, data: Path) -> str:
    if guess.files > 1:
        seen = f"{guess.rows:,} rows of {guess.files_read} of its {guess.files} files"
    else:
        seen = f"its {guess.rows:,} rows"
    told = (
        f"Written by `driftune init --from {data}`: the dataset section is guessed from {seen}. "
        "Check each guess (its comment says why), then run `driftune backtest`."
    )
    return "".join(f"# {line}\n" for line in _wrap(told, WIDTH - 2))


def _dataset(guess: Guess, data: Path, config_path: Path) -> str:
    lines = ["dataset:"]
    lines.append(_line("path", _relative(data, config_path), "a file, or a folder of batch files"))
    lines.append(_line("label", _scalar(guess.label), guess.label_why))
    lines.append(_commented(_classes(guess)))
    time = "null" if guess.time is None else _scalar(guess.time)
    lines.append(_line("time", time, guess.time_why))
    lines.append(_line("numeric", "[]" if not guess.numeric else "", "numbers: scaled"))
    lines += [_item(column, _numeric_note(column)) for column in guess.numeric]
    lines.append(
        _line("categorical", "[]" if not guess.categorical else "", "text or true/false: one-hot")
    )
    lines += [_item(column, _note(column)) for column in guess.categorical]
    if guess.left_out:
        lines.append("  # left out (list one under numeric or categorical to use it):")
        lines += [f"  #   {name}: {why}" for name, why in guess.left_out]
    every = f'"{guess.every}"' if isinstance(guess.every, str) else str(guess.every)
    lines.append(_line("every", every, guess.every_why))
    lines.append('  # every: "YS" yearly, "MS" monthly, "W" weekly, "file" one batch per file,')
    lines.append("  # or a row count")
    return "\n".join(line for line in lines if line) + "\n\n"


def _line(key: str, value: str, comment: str, indent: int = 2) -> str:
    return _annotated(f"{' ' * indent}{key}: {value}".rstrip(), comment)


def _item(column: Column, comment: str) -> str:
    return _annotated(f"    - {_scalar(column.name)}", comment)


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width``, never breaking a path or a name."""
    return textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)


def _commented(text: str) -> str:
    return _annotated("", text)


def _annotated(head: str, comment: str) -> str:
    """``head`` with ``comment`` beside it at the template's comment column, wrapped."""
    start = max(len(head) + 1, COMMENT_AT)
    wrapped = _wrap(comment, max(WIDTH - start - 2, 30)) or [""]
    lines = [f"{head.ljust(start - 1)} # {wrapped[0]}"]
    lines += [f"{'':{start - 1}} # {more}" for more in wrapped[1:]]
    return "\n".join(lines)


def _note(column: Column) -> str:
    missing = f", {column.missing:.0%} missing" if column.missing else ""
    return f"{column.dtype}, {column.distinct:,} distinct{missing}"


def _numeric_note(column: Column) -> str:
    note = _note(column)
    if column.dtype.startswith(("int", "uint", "Int")) and column.distinct <= FEW_VALUES:
        note += ": if these are codes, move it to categorical"
    return note


def _classes(guess: Guess) -> str:
    shares = ", ".join(f"{name} {share:.0%}" for name, share in list(guess.classes.items())[:5])
    more = ", ..." if len(guess.classes) > 5 else ""
    told = f"{len(guess.classes)} classes: {shares}{more}"
    if guess.smallest_class_share < IMBALANCED:
        majority = max(guess.classes.values())
        told += (
            f". Imbalanced: always predicting the majority class already scores {majority:.0%} "
            "accuracy; compare the backtest's figures with that"
        )
    return told


def _relative(data: Path, config_path: Path) -> str:
    """Relative to the config when the data lies under its folder (the two move together)."""
    target = data.resolve()
    try:
        shown = os.path.relpath(target, config_path.resolve().parent)
    except ValueError:  # another drive on Windows
        shown = str(target)
    return _scalar(str(target) if shown.startswith("..") else shown)


def _scalar(value: str) -> str:
    """A YAML scalar for a name: plain when YAML reads it back as the same string."""
    if re.fullmatch(r"[A-Za-z_./][A-Za-z0-9_./-]*", value) and yaml.safe_load(value) == value:
        return value
    return yaml.safe_dump(value, default_style='"').strip()
