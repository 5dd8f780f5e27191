"""The camera daemon: capture, encode, spool durably, upload to the ingest server."""
