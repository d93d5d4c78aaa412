#!/usr/bin/env bash
# Makes sure a headless Chromium is installed for the operations-page tests and the screenshot script, and prints
# its path. Run as root it installs Debian's 'chromium' package; otherwise it says how to.
set -euo pipefail
for candidate in "${ROUTING_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
  if [[ -n $candidate && -x $candidate ]]; then echo "$candidate"; exit 0; fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "chromium.sh: Chromium is missing. Install it with: sudo apt-get install -y chromium (or run this script as root, which installs it)." >&2
  exit 1
fi
echo "chromium.sh: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || { echo "chromium.sh: apt-get update failed; install chromium by hand and retry." >&2; exit 1; }
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 \
  || { echo "chromium.sh: apt-get install chromium failed; install it by hand and retry." >&2; exit 1; }
echo /usr/bin/chromium
