"""driftune's ML core: the batch-norm softmax classifier, its training, search and selection.

Pure torch, numpy and scikit-learn: nothing here imports Prefect or MLflow or reads files.

Importing the package loads none of its modules: each name below loads its module on first
use, so reading a search space (numpy) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.errors import SearchError
    from models.estimator import BNSoftmaxClassifier
    from models.net import BNSoftmaxNet, glorot_normal_
    from models.panda import Babysitter, BabysitterRules, Decision, Panda, decide
    from models.promotion import PromotionDecision, decide_promotion
    from models.search.caviar import CoarseToFine, warm_start
    from models.search.discrete import Choice, IntUniform, PowerOfTwo
    from models.search.distributions import Distribution, LogOneMinus, LogUniform, Uniform
    from models.search.driver import SearchOutcome, Strategy, run_search, safe_train, sequential
    from models.search.space import SearchSpace
    from models.search.trials import Proposal
    from models.training import History, Snapshot, TrainConfig, Trainer
    from models.trial import make_train_fn

_MODULES = {
    "models.errors": ("SearchError",),
    "models.estimator": ("BNSoftmaxClassifier",),
    "models.net": (
        "BNSoftmaxNet",
        "glorot_normal_",
    ),
    "models.panda": (
        "Babysitter",
        "BabysitterRules",
        "Decision",
        "Panda",
        "decide",
    ),
    "models.promotion": (
        "PromotionDecision",
        "decide_promotion",
    ),
    "models.search.caviar": (
        "CoarseToFine",
        "warm_start",
    ),
    "models.search.discrete": (
        "Choice",
        "IntUniform",
        "PowerOfTwo",
    ),
    "models.search.distributions": (
        "Distribution",
        "LogOneMinus",
        "LogUniform",
        "Uniform",
    ),
    "models.search.driver": (
        "SearchOutcome",
        "Strategy",
        "run_search",
        "safe_train",
        "sequential",
    ),
    "models.search.space": ("SearchSpace",),
    "models.search.trials": ("Proposal",),
    "models.training": (
        "History",
        "Snapshot",
        "TrainConfig",
        "Trainer",
    ),
    "models.trial": ("make_train_fn",),
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
