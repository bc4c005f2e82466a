"""Metrics shared by every method: generative quality, classification, gradients, privacy, removal checkpoints."""
