"""Building blocks of the codec's networks."""
