"""The ingest server: authenticated idempotent uploads, durable storage, decode workers, viewer."""
