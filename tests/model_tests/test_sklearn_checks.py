"""scikit-learn's own estimator checks on BNSoftmaxClassifier: the contract sklearn tools rely on.

clone, get_params/set_params, fitted attributes, n_features_in_, NaN and inf refused, tiny data
(one feature, a few rows, a class with one row) fitted or refused with sklearn's message.
"""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from models.estimator import BNSoftmaxClassifier

# Few epochs: the checks test the contract, not the fit; a few dozen of them each train.
ESTIMATOR = BNSoftmaxClassifier(max_epochs=3, random_state=0)


@parametrize_with_checks([ESTIMATOR])
def test_bn_softmax_classifier_passes_sklearns_checks(estimator, check) -> None:  # type: ignore[no-untyped-def]
    check(estimator)
