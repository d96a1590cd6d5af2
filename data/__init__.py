"""driftune's data core: dataset specs, loading, preprocessing and drift detection.

This package holds code; the shipped demo datasets lie in data/samples/.
"""
