"""edgecodec: a learned image codec for edge cameras: the codec (``codec``), its training, export and on-site
calibration, the camera daemon (``edge``) and the ingest server (``server``)."""
