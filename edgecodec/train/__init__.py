"""Training: data sampling, the rate-distortion loop, checkpoints."""
