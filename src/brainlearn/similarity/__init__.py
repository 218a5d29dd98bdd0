"""Representational and dynamical similarity measures: CKA, CCA, Procrustes and shape metrics, soft
matching, RSA, linear predictivity, DSA; a registry of them by identifier (:func:`make`), distance
matrices, and statistics.

Every metric is a scikit-learn estimator with ``fit(X, Y)``, ``score(X, Y)``, ``transform(X, Y)`` and
``fit_score(X, Y)`` (netrep style; ``score`` is a distance, in radians for the angular forms, and needs
``fit`` first), and :func:`pairwise` builds distance matrices for any of them, cross-validated with
``testdata``; :mod:`~brainlearn.similarity.stats` summarises such matrices (separation
ratio, 1-NN accuracy, MDS). Inputs are never modified; computation is in float64.

    >>> from brainlearn.similarity import CKA, DSA, Procrustes, pairwise
    >>> from brainlearn.similarity import dsa, testcases   # modules, for the functional API
"""

from brainlearn.similarity.cka import CKA, cka
from brainlearn.similarity.dsa import DSA, DMDFit, align_operators, delay_embed, eigenvalue_wasserstein, fit_havok
from brainlearn.similarity.matching import SoftMatching
from brainlearn.similarity.measures import CCA, RSA, LinearPredictivity
from brainlearn.similarity.pairwise import pairwise
from brainlearn.similarity.procrustes import Procrustes, procrustes_angle
from brainlearn.similarity.registry import identifiers, make
from brainlearn.similarity.stats import classical_mds, condition_average, nn_accuracy, separation_ratio

__all__ = [
    "CCA", "CKA", "DMDFit", "DSA", "RSA", "LinearPredictivity", "Procrustes", "SoftMatching", "align_operators",
    "cka", "classical_mds", "condition_average", "delay_embed", "eigenvalue_wasserstein", "fit_havok",
    "identifiers", "make", "nn_accuracy", "pairwise", "procrustes_angle", "separation_ratio",
]
