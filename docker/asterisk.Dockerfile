# Asterisk 16 from Debian bullseye, with the English and Canadian French prompts.
FROM debian:bullseye-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends asterisk asterisk-core-sounds-en-gsm \
      asterisk-core-sounds-fr-gsm asterisk-moh-opsound-gsm \
 && ln -s fr_CA_f_June /usr/share/asterisk/sounds/fr \
 && rm -rf /var/lib/apt/lists/*
# The "render" service fills /etc/asterisk-rendered from dialplans/; Asterisk runs as its own user.
CMD ["sh", "-c", "cp /etc/asterisk-rendered/*.conf /etc/asterisk/ && chown -R asterisk:asterisk /etc/asterisk && chmod 640 /etc/asterisk/ari.conf && exec asterisk -f -n -U asterisk -G asterisk"]
