#!/usr/bin/env bash
# The demo, on one machine, as root:
#   bash scripts/demo.sh [--verbose]
# It installs what it needs (the same Debian packages and Python virtualenv as scripts/test.sh),
# builds the controller and the demo, then runs it: a two-hypervisor cloud (a private Open vSwitch
# and network namespaces), the controller, and the original boto 2 calls step by step, printing
# what each does and what the outside host sees. Everything is removed at the end, also on Ctrl-C.
# --verbose adds the controller's log (stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/demo.sh: run it as root (network namespaces and Open vSwitch need it): sudo bash scripts/demo.sh" >&2
    exit 1
fi

step() { printf '==> %s\n' "$*"; }

# --- System packages (as scripts/test.sh) -----------------------------------------------------
APT_PACKAGES=(openvswitch-switch openvswitch-common ethtool iproute2 iputils-ping python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The system Open vSwitch service is never used: the demo starts private daemons.

# --- boto 2.49 in the workspace's virtualenv (as scripts/test.sh) -----------------------------
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    step "creating the Python virtualenv $VENV"
    python3 -m venv "$VENV"
fi
if ! cmp -s scripts/requirements-test.txt "$VENV/.installed" 2>/dev/null; then
    step "installing the Python EC2 clients (scripts/requirements-test.txt)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-test.txt
    cp scripts/requirements-test.txt "$VENV/.installed"
fi
export OVS_EC2_PYTHON="$VENV/bin/python"

# --- Build and run ----------------------------------------------------------------------------
step "building the controller and the demo"
cargo build -q -p examples --bin demo --bin netns-probe
echo
exec cargo run -q -p examples --bin demo -- "$@"
