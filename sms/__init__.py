"""SMS gateway."""
