"""Sampling operators of the dynamic kernel (float reference and integer variant)."""
