"""Customer data in: source definitions (``sources/*.yaml``), readers and the incremental sync."""
