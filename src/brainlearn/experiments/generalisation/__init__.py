"""Montero et al. 2022, "Lost in latent space": combinatorial generalisation of generative models."""
