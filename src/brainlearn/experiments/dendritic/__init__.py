"""Sacramento et al. 2018 (arXiv:1810.11393): dendritic cortical microcircuits approximate backprop."""
