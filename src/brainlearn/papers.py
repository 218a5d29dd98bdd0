"""The papers brainlearn implements or tests: the one table of arXiv ids and citations.

Experiments, claims and docs name a paper by its constant here (``papers.GREEDY``); :data:`PAPERS` maps
each arXiv id to its citation, for reports and ``brainlearn list``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paper:
    """A paper: its arXiv id, a short citation (authors, year) and its title."""

    arxiv: str
    citation: str
    title: str


LILLICRAP = "1411.0247"
SACRAMENTO = "1810.11393"
GREEDY = "2206.11769"
PEMBERTON = "2110.11501"
BPLAMBDA = "2401.07044"
HENHA_EYONO = "2105.05382"
MOP = "2506.02813"
GUILHOT = "2410.24070"
OSTROW = "2306.10168"
MONTERO = "2204.02283"
ROSCOW = "2109.10034"
SCHAUL = "1511.05952"
SHIN = "1705.08690"
AIZENBUD = "2504.09614"
LIAO = "1510.05067"
NOKLAND = "1609.01596"
AKROUT = "1904.05391"
SANFIZ = "2108.13446"

PAPERS: dict[str, Paper] = {p.arxiv: p for p in (
    Paper(LILLICRAP, "Lillicrap et al. 2016", "Random synaptic feedback weights support error backpropagation "
          "for deep learning"),
    Paper(SACRAMENTO, "Sacramento, Costa, Bengio & Senn 2018", "Dendritic cortical microcircuits approximate "
          "the backpropagation algorithm"),
    Paper(GREEDY, "Greedy et al. 2022", "BurstCCN: bursting cortico-cortical networks"),
    Paper(PEMBERTON, "Pemberton, Boven et al. 2021", "Cortico-cerebellar networks as decoupling neural "
          "interfaces"),
    Paper(BPLAMBDA, "Pemberton & Costa 2024", "BP(λ): online learning via synthetic gradients"),
    Paper(HENHA_EYONO, "Henha Eyono et al. 2022", "Current state and future directions for learning in "
          "biological recurrent neural networks: a perspective piece"),
    Paper(MOP, "Cook, Akarca, Costa & Achterberg 2025", "Brain-like processing pathways form in models with "
          "heterogeneous experts"),
    Paper(GUILHOT, "Guilhot et al. 2024", "DSA can identify compositional dynamics developing in RNNs"),
    Paper(OSTROW, "Ostrow et al. 2023", "Beyond geometry: comparing the temporal structure of computation in "
          "neural circuits with dynamical similarity analysis"),
    Paper(MONTERO, "Montero, Bowers, Costa, Ludwig & Malhotra 2022", "Lost in latent space: disentangled "
          "models and the challenge of combinatorial generalisation"),
    Paper(ROSCOW, "Roscow, Chua, Costa, Jones & Lepora 2021", "Learning offline: memory replay in biological "
          "and artificial reinforcement learning"),
    Paper(SCHAUL, "Schaul, Quan, Antonoglou & Silver 2016", "Prioritized experience replay"),
    Paper(SHIN, "Shin, Lee, Kim & Kim 2017", "Continual learning with deep generative replay"),
    Paper(AIZENBUD, "Aizenbud et al. 2025", "Predictive processing in sensory cortex: computational primitives and "
          "the OpenScope experiments"),
    Paper(LIAO, "Liao, Leibo & Poggio 2016", "How important is weight symmetry in backpropagation?"),
    Paper(NOKLAND, "Nøkland 2016", "Direct feedback alignment provides learning in deep neural networks"),
    Paper(AKROUT, "Akrout et al. 2019", "Deep learning without weight transport"),
    Paper(SANFIZ, "Sanfiz & Akrout 2021", "Benchmarking the accuracy and robustness of feedback alignment "
          "algorithms"),
)}


def citation(arxiv: str) -> str:
    """'Authors year (arXiv:id)' for a paper of :data:`PAPERS`, or 'arXiv:id' for another."""
    paper = PAPERS.get(arxiv)
    return f"{paper.citation} (arXiv:{arxiv})" if paper else f"arXiv:{arxiv}"
