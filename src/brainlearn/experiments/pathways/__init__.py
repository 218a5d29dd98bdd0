"""Mixture-of-Pathways (Cook et al. 2025): MoP against a heterogeneous-MoE baseline on Mod-Cog tasks."""
