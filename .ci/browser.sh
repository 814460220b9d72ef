# shellcheck shell=bash
# Make sure Debian's chromium and chromedriver are there for the jobs page's browser test.
#
#   source .ci/browser.sh   # returns non-zero, saying why, when they cannot be installed
#
# (Re)installs the 'chromium' and 'chromium-driver' packages with apt-get (quietly, after
# 'apt-get update -qq') when /usr/bin/chromium or /usr/bin/chromedriver is missing.
# The test drives them with Selenium through these exact paths, so Selenium Manager never
# downloads a browser or a driver. Meant to be sourced by bash; it never calls `exit` and
# leaves `set -e/-u` alone.

_octane_browser_ready() {
  [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]
}

_octane_browser_install() {
  local log
  if _octane_browser_ready; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "browser.sh: /usr/bin/chromium or /usr/bin/chromedriver is missing and cannot be" \
      "installed here (needs root and apt-get): apt-get install chromium chromium-driver" >&2
    return 1
  fi
  echo "browser.sh: installing chromium and chromium-driver with apt-get" >&2
  log=$(mktemp "${TMPDIR:-/tmp}/octane-browser-apt.XXXXXX") || log=/dev/null
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$log" 2>&1 \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall \
      chromium chromium-driver >>"$log" 2>&1; }; then
    echo "browser.sh: apt-get install chromium chromium-driver failed:" >&2
    tail -n 5 "$log" >&2
    [ "$log" = /dev/null ] || rm -f "$log"
    return 1
  fi
  [ "$log" = /dev/null ] || rm -f "$log"
  if ! _octane_browser_ready; then
    echo "browser.sh: chromium and chromium-driver were installed but /usr/bin/chromium or" \
      "/usr/bin/chromedriver is still missing" >&2
    return 1
  fi
  return 0
}

_octane_browser_install
