"""Predictive processing in sensory cortex (Aizenbud et al. 2025, arXiv:2504.09614): mismatch paradigms,
prediction-error circuits, and one analysis for model output and NWB recordings."""
