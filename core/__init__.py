"""The shared ground of the features: config, Redis keys, ARI client, call events, privacy,
logging and auth. Imports no feature and nothing of the wiring (``hotline``)."""
