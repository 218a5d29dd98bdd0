"""The measure registry: ``make(identifier)`` returns a measure object by a similarity-repository style
identifier, ``measure/<backend>/<name>`` (Cloos et al. 2024), where ``<backend>`` names the library
whose convention the measure follows; :func:`identifiers` lists them.

    >>> from brainlearn.similarity import make
    >>> make("measure/netrep/procrustes-distance=angular")
    Procrustes(alpha=1.0, center=True, score_method='angular', group='orthogonal', whitening='netrep')
    >>> make("measure/netrep/procrustes-distance=angular").info.direction
    'distance'

Three families take a number in the identifier: ``measure/netrep/shape_metric-alpha=<a>-distance=<angular|
euclidean>`` (netrep's ``LinearMetric(alpha)``), ``measure/svcca/svcca-var=<v>-score`` (SVCCA keeping
the fraction v of the variance) and ``measure/kornblith19/cka-kernel=rbf-sigma=<s>-hsic=gretton-score``.
The short names "cka", "procrustes" and "dsa" give the three original metrics at their defaults.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from brainlearn.errors import ConfigError
from brainlearn.similarity._base import Metric


def _cka(**kw) -> Callable[[], Metric]:
    def build():
        from brainlearn.similarity.cka import CKA

        return CKA(**kw)
    return build


def _procrustes(**kw) -> Callable[[], Metric]:
    def build():
        from brainlearn.similarity.procrustes import Procrustes

        return Procrustes(**kw)
    return build


def _dsa(**kw) -> Callable[[], Metric]:
    def build():
        from brainlearn.similarity.dsa import DSA

        return DSA(**kw)
    return build


def _soft_matching(**kw) -> Callable[[], Metric]:
    def build():
        from brainlearn.similarity.matching import SoftMatching

        return SoftMatching(**kw)
    return build


def _measure(cls: str, **kw) -> Callable[[], Metric]:
    def build():
        from brainlearn.similarity.measures import CCA, RSA, LinearPredictivity

        return {"CCA": CCA, "RSA": RSA, "LinearPredictivity": LinearPredictivity}[cls](**kw)
    return build


_RDMS = ("squared_euclidean", "euclidean", "correlation", "crossnobis")   # measures.RDMS, without the import
MEASURES: dict[str, Callable[[], Metric]] = {
    # CKA (Kornblith et al. 2019): the similarity, and netrep's angular distance arccos(CKA)
    "measure/kornblith19/cka-kernel=linear-hsic=gretton-score": _cka(score_method="cka"),
    "measure/kornblith19/cka-kernel=linear-hsic=song-score": _cka(score_method="cka", debiased=True),
    "measure/kornblith19/cka-kernel=rbf-sigma=1.0-hsic=gretton-score": _cka(kernel="rbf", score_method="cka"),
    "measure/netrep/cka-kernel=linear-hsic=gretton-distance=angular": _cka(),
    "measure/netrep/cka-kernel=rbf-sigma=1.0-hsic=gretton-distance=angular": _cka(kernel="rbf"),
    # CCA family
    "measure/svcca/cca-score": _measure("CCA"),
    "measure/kornblith19/cca-mean_sq_corr-score": _measure("CCA", summary="mean_squared"),
    "measure/svcca/svcca-var=0.99-score": _measure("CCA", keep_variance=0.99),
    "measure/svcca/pwcca-score": _measure("CCA", summary="pwcca"),
    "measure/netrep/cca-distance=angular": _procrustes(alpha=0.0),
    # shape metrics (Williams et al. 2021), Bures (Harvey et al. 2023), permutation
    "measure/netrep/procrustes-distance=angular": _procrustes(),
    "measure/netrep/procrustes-distance=euclidean": _procrustes(score_method="euclidean"),
    "measure/netrep/shape_metric-alpha=0.5-distance=angular": _procrustes(alpha=0.5),
    "measure/netrep/nbs-score": _procrustes(score_method="nbs"),
    "measure/netrep/bures-distance": _procrustes(score_method="euclidean"),   # = netrep euclidean at alpha 1
    "measure/netrep/permutation-distance=angular": _procrustes(group="permutation"),
    "measure/netrep/permutation-distance=euclidean": _procrustes(group="permutation", score_method="euclidean"),
    # soft matching (Khosla & Williams 2023): optimal transport between units, any two widths
    "measure/khosla23/soft_matching-distance=euclidean": _soft_matching(),
    # RSA (rsatoolbox conventions)
    **{f"measure/rsatoolbox/rsa-rdm={rdm}-compare={cmp}": _measure("RSA", rdm=rdm, compare=cmp)
       for rdm in _RDMS for cmp in ("cosine", "corr", "spearman", "tau_a")},
    # linear predictivity
    "measure/sklearn/ridge-r2#5folds_cv": _measure("LinearPredictivity"),
    # DSA (Ostrow et al. 2023), at the library defaults (n_delays=1: plain DMD; set delays and rank)
    "measure/dsa/dsa-distance=angular": _dsa(),
    "measure/dsa/dsa-distance=euclidean": _dsa(score_method="euclidean"),
    "measure/dsa/dsa-distance=wasserstein": _dsa(score_method="wasserstein"),
}

SHORT_NAMES = {"cka": _cka(), "procrustes": _procrustes(), "dsa": _dsa()}

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_FAMILIES: list[tuple[re.Pattern, Callable[..., Metric]]] = [
    (re.compile(rf"measure/netrep/shape_metric-alpha={_NUMBER}-distance=(angular|euclidean)"),
     lambda a, d: _procrustes(alpha=float(a), score_method=d)()),
    (re.compile(rf"measure/svcca/svcca-var={_NUMBER}-score"),
     lambda v: _measure("CCA", keep_variance=float(v))()),
    (re.compile(rf"measure/kornblith19/cka-kernel=rbf-sigma={_NUMBER}-hsic=gretton-score"),
     lambda s: _cka(kernel="rbf", sigma=float(s), score_method="cka")()),
]


def identifiers() -> list[str]:
    """Every fixed identifier :func:`make` accepts (the numbered families add more), sorted."""
    return sorted(MEASURES)


def make(name: str) -> Metric:
    """A new measure object for `name`: a registry identifier (:func:`identifiers`), a member of a numbered
    family (module docstring) or a short name ("cka", "procrustes", "dsa"). ConfigError otherwise."""
    if not isinstance(name, str):
        raise ConfigError(f"make: expected a measure identifier (str), got {type(name).__name__}")
    if name in MEASURES:
        return MEASURES[name]()
    if name in SHORT_NAMES:
        return SHORT_NAMES[name]()
    for pattern, build in _FAMILIES:
        match = pattern.fullmatch(name)
        if match:
            return build(*match.groups())
    near = [k for k in MEASURES if name.split("/")[-1].split("-")[0] in k][:5]
    hint = f"; similar: {', '.join(near)}" if near else ""
    raise ConfigError(f"unknown metric {name!r}: expected one of identifiers() (measure/<backend>/<name>), "
                      f"a numbered family or cka/procrustes/dsa{hint}")
