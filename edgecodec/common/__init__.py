"""What the camera daemon, the ingest server, ``doctor`` and the demo share: the HTTP protocol, the
crash-safe file writer, and the configuration base.

Imports nothing from ``edge/``, ``server/`` or ``cli/``, nor the codec's heavy parts (torch, cv2):
it is the one package both sides of the wire may import.
"""
