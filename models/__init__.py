"""driftune's ML core: the batch-norm softmax classifier, its training, search and selection.

Pure torch, numpy and scikit-learn: nothing here imports Prefect or MLflow or reads files.
"""

from models.babysitter import Babysitter, babysit, make_babysitter_train_fn
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
    "babysit",
    "decide",
    "decide_promotion",
    "glorot_normal_",
    "make_babysitter_train_fn",
    "make_train_fn",
    "run_search",
    "safe_train",
    "sequential",
    "warm_start",
]
