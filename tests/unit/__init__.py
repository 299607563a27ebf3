"""Unit tests: pure code, no Asterisk, Redis or network."""
