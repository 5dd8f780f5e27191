"""Scene-referenced coding for fixed cameras: delta frames, skip, the rate-distortion decisions."""
