"""Model configurations, transforms, entropy model and the DKIC codec model."""
