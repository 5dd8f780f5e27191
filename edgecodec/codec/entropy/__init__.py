"""Entropy coding: rANS coder (C extension), CDF tables and the priors that build them."""
