"""driftune's ML core: the batch-norm softmax classifier, its training, search and selection.

Pure torch, numpy and scikit-learn: nothing here imports Prefect or MLflow or reads files.
"""

from models.classifier import BNSoftmaxNet
from models.estimator import BNSoftmaxClassifier
from models.init import glorot_normal_
from models.selection import PromotionDecision, decide_promotion
from models.training import History, Snapshot, TrainConfig, Trainer

__all__ = [
    "BNSoftmaxClassifier",
    "BNSoftmaxNet",
    "History",
    "PromotionDecision",
    "Snapshot",
    "TrainConfig",
    "Trainer",
    "decide_promotion",
    "glorot_normal_",
]
