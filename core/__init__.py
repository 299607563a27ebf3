"""The shared ground of the features: config, Redis keys, ARI client, call events and the call
commands shared by the IVR and the volunteer line, privacy, logging, auth and API errors, and
the ports (``core.ports``) through which one feature reaches another. Imports no feature and
nothing of the wiring (``hotline``)."""
