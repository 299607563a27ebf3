"""RQ workers for slow or retryable side effects."""
