"""ACD queues for phone volunteers."""
