"""Callers' numbers: keyed-hash tokens for logs (more to come: vault, pseudonyms, unmasking)."""

from hotline.privacy.tokens import number_token

__all__ = ["number_token"]
