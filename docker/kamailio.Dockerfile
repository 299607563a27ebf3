# Kamailio 5.6 from Debian: the SIP proxy in front of several Asterisks (compose.scale.yaml).
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends kamailio \
 && rm -rf /var/lib/apt/lists/*
# The "render-proxy" service writes kamailio.cfg and dispatcher.list into /etc/kamailio.
CMD ["kamailio", "-f", "/etc/kamailio/kamailio.cfg", "-DD", "-E"]
