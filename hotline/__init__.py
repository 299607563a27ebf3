"""Core of the hotline service: configuration, ARI client, logging, app wiring."""
