#!/usr/bin/env bash
# Installs what the hotline service and its tests need on Debian 12 (or a distribution that
# ships Asterisk itself), idempotently: Asterisk with the English and Canadian French sounds,
# SIPp (Debian's sip-tester), redis-server, PostgreSQL (the tests run a private cluster),
# baresip and fail2ban (for the tests), Kamailio (the SIP proxy in front of several Asterisks;
# the tests run private instances), Chromium (the console's browser tests drive it through
# Playwright), and a virtualenv at .venv with the project installed.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive

apt_get() { "${sudo_cmd[@]}" apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }

has_candidate() { # prints nothing unless PACKAGE has an installable version
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)" {print $2}'
}

# Adds Debian bullseye from the same mirror, pinned below bookworm so that only packages
# bookworm lacks (Asterisk and its old libraries, such as libssl1.1) come from it.
add_bullseye_suite() {
  local mirror
  mirror=$(grep -rhoE 'https?://[^ ]+/debian/?$' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | grep -v security | head -n1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/hotline-bullseye.sources >/dev/null <<SRC
Types: deb
URIs: ${mirror}
Suites: bullseye
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  "${sudo_cmd[@]}" tee /etc/apt/preferences.d/hotline-bullseye >/dev/null <<'PIN'
# Only what the running release lacks comes from bullseye (Asterisk 16 and its libraries).
Package: *
Pin: release n=bullseye
Pin-Priority: 100
PIN
}

# baresip-core: a softphone speaking TLS and SRTP for the tests (Debian's SIPp has no TLS);
# fail2ban: its filter for Asterisk's security log ships in contrib/ and is tested with
# fail2ban-regex.
needed=(asterisk asterisk-core-sounds-en-gsm asterisk-core-sounds-fr-gsm asterisk-moh-opsound-gsm
  sip-tester redis-server python3-venv postgresql baresip-core fail2ban chromium kamailio)
missing=()
for p in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  apt_get update
  if [ -z "$(has_candidate asterisk)" ]; then
    . /etc/os-release
    if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
      add_bullseye_suite
      apt_get update
    else
      echo "setup: no asterisk package for ${PRETTY_NAME:-this system}; install Asterisk 16-22 by hand" >&2
      exit 1
    fi
  fi
  apt_get install --no-install-recommends "${missing[@]}"
fi

# Debian installs the Canadian French prompts as fr_CA_f_June; Asterisk looks for language "fr".
sounds=/usr/share/asterisk/sounds
if [ -d "$sounds/fr_CA_f_June" ] && [ ! -e "$sounds/fr" ]; then
  "${sudo_cmd[@]}" ln -s fr_CA_f_June "$sounds/fr"
fi

# Stop the system-wide services the packages start: the tests and the demo run private instances.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  "${sudo_cmd[@]}" systemctl disable --now asterisk redis-server postgresql fail2ban kamailio >/dev/null 2>&1 || true
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Reinstall the project only when its declared dependencies changed.
stamp=.venv/.hotline-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
fi
echo "setup: done ($(asterisk -V 2>/dev/null || echo 'asterisk ?'), $(redis-server --version | cut -d' ' -f3), sipp $(sipp -v 2>/dev/null | grep -oE 'v[0-9.]+' | head -1))"
