"""Cortico-cerebellar RNN experiments (Pemberton, Boven, Apps & Costa, NeurIPS 2021, arXiv:2110.11501)."""
