"""The ``edgecodec`` command line."""
