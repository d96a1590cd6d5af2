"""driftune's ML core: the batch-norm softmax classifier, its training, search and selection.

Pure torch, numpy and scikit-learn: nothing here imports Prefect or MLflow or reads files.

Importing the package loads none of its modules: each name below loads its module on first
use, so reading a search space (numpy) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.babysitter import Babysitter
    from models.classifier import BNSoftmaxNet
    from models.discrete import Choice, IntUniform, PowerOfTwo
    from models.distributions import Distribution, LogOneMinus, LogUniform, Uniform
    from models.driver import SearchOutcome, make_train_fn, run_search, safe_train, sequential
    from models.errors import SearchError
    from models.estimator import BNSoftmaxClassifier
    from models.init import glorot_normal_
    from models.search import SearchSpace
    from models.selection import PromotionDecision, decide_promotion
    from models.strategies import (
        BabysitterRules,
        CoarseToFine,
        Decision,
        Panda,
        Proposal,
        Strategy,
        decide,
        warm_start,
    )
    from models.training import History, Snapshot, TrainConfig, Trainer

_MODULES = {
    "models.babysitter": ("Babysitter",),
    "models.classifier": ("BNSoftmaxNet",),
    "models.discrete": ("Choice", "IntUniform", "PowerOfTwo"),
    "models.distributions": ("Distribution", "LogOneMinus", "LogUniform", "Uniform"),
    "models.driver": ("SearchOutcome", "make_train_fn", "run_search", "safe_train", "sequential"),
    "models.errors": ("SearchError",),
    "models.estimator": ("BNSoftmaxClassifier",),
    "models.init": ("glorot_normal_",),
    "models.search": ("SearchSpace",),
    "models.selection": ("PromotionDecision", "decide_promotion"),
    "models.strategies": (
        "BabysitterRules",
        "CoarseToFine",
        "Decision",
        "Panda",
        "Proposal",
        "Strategy",
        "decide",
        "warm_start",
    ),
    "models.training": ("History", "Snapshot", "TrainConfig", "Trainer"),
}
_SOURCE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load ``name``'s module on first use (PEP 562) and keep the name here."""
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "BNSoftmaxClassifier",
    "BNSoftmaxNet",
    "Babysitter",
    "BabysitterRules",
    "Choice",
    "CoarseToFine",
    "Decision",
    "Distribution",
    "History",
    "IntUniform",
    "LogOneMinus",
    "LogUniform",
    "Panda",
    "PowerOfTwo",
    "PromotionDecision",
    "Proposal",
    "SearchError",
    "SearchOutcome",
    "SearchSpace",
    "Snapshot",
    "Strategy",
    "TrainConfig",
    "Trainer",
    "Uniform",
    "decide",
    "decide_promotion",
    "glorot_normal_",
    "make_train_fn",
    "run_search",
    "safe_train",
    "sequential",
    "warm_start",
]
