#!/usr/bin/env bash
# The whole test suite, for a fresh Debian machine, run as root:
#   bash scripts/test.sh
# It installs what the tests need (Debian packages, a Python virtualenv with the EC2 clients),
# then runs the format check, clippy with -D warnings, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

step() { printf '\n==> %s\n' "$*"; }

# --- System packages -------------------------------------------------------------------------
# ovs-ofctl (openvswitch-common) is the live oracle of the codec tests; ovsdb-server and
# ovs-vswitchd (openvswitch-switch) run the end-to-end tests; tshark reads our frames back.
APT_PACKAGES=(openvswitch-switch openvswitch-common tshark ethtool iproute2 iputils-ping
              netcat-openbsd python3-venv)
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
# The system Open vSwitch service is never used: tests start private daemons.
for cmd in ovs-ofctl tshark; do
    command -v "$cmd" >/dev/null || { echo "FATAL: $cmd is missing after install" >&2; exit 1; }
done

# --- Python EC2 clients --------------------------------------------------------------------
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then
    step "creating the Python virtualenv $VENV"
    python3 -m venv "$VENV"
fi
if [ -f scripts/requirements-test.txt ]; then
    if ! cmp -s scripts/requirements-test.txt "$VENV/.installed" 2>/dev/null; then
        step "installing Python test requirements"
        "$VENV/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-test.txt
        cp scripts/requirements-test.txt "$VENV/.installed"
    fi
fi
export OVS_EC2_PYTHON="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"

# --- Rust ------------------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (all crates, all features)"
cargo test --workspace --all-features --no-fail-fast

step "doc tests and docs build without warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features >/dev/null

step "library crates package for crates.io (metadata, license files, readme)"
cargo package -q --no-verify --allow-dirty -p openflow-proto -p netrules -p arp-responder -p ec2-model

step "benchmarks compile and run once each (smoke, no timing)"
cargo test --workspace --benches --all-features -q >/dev/null

echo
echo "scripts/test.sh: all checks passed"
