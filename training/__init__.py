"""Simulated patients, self-play, harvesting, fine-tuning and evaluation (to come)."""
