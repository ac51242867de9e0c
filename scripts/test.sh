#!/usr/bin/env bash
# The one command that runs Switchboard's whole test suite on a fresh Debian
# machine (root, apt reachable, cargo present): installs the missing test
# peers, then runs every test of the workspace. Exits non-zero on failure.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh call_bridged    # extra arguments go to the test runner as a filter
#
# Environment: SWITCHBOARD_NO_INSTALL=1 skips the package step (tests then
# fail with a clear message if a peer is missing); SWITCHBOARD_TEST_RUNNER=cargo
# forces `cargo test` even when cargo-nextest is installed.
set -euo pipefail

cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# --- test peers -------------------------------------------------------------
# command on PATH -> Debian package that provides it
declare -A PEERS=(
    [sipp]=sip-tester
    [baresip]=baresip
    [chromium]=chromium
    # reads recordings in tests/recording.rs (a second WAV reader beside hound)
    [sox]=sox
)

install_peers() {
    local missing=()
    for cmd in "${!PEERS[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("${PEERS[$cmd]}")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "test peers present: ${!PEERS[*]}"
        return
    fi
    log "installing test peers: ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
    for cmd in "${!PEERS[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || { echo "$cmd still missing after installing ${PEERS[$cmd]}" >&2; exit 1; }
    done
}

# schemathesis (PyPI), pinned, in a virtual environment of its own; the API
# test (tests/api_schemathesis.rs) finds it there.
SCHEMATHESIS_VERSION=4.32.5
TOOLS_VENV="${HOME}/.cache/switchboard-test-tools/venv"
install_schemathesis() {
    if "$TOOLS_VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
        log "schemathesis $SCHEMATHESIS_VERSION present"
        return
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" -ne 0 ] && sudo="sudo"
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get update -qq
        $sudo apt-get install -y -qq --no-install-recommends python3 python3-venv
    fi
    log "installing schemathesis $SCHEMATHESIS_VERSION"
    python3 -m venv "$TOOLS_VENV"
    "$TOOLS_VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
}

if [ "${SWITCHBOARD_NO_INSTALL:-0}" != 1 ]; then
    install_peers
    install_schemathesis
fi

log "sipp: $(sipp -v 2>/dev/null | grep -o 'SIPp v[^ ]*' || echo missing)"
log "baresip: $(baresip -h 2>&1 | head -n1 || echo missing)"
log "chromium: $(chromium --version 2>/dev/null | head -n1 || echo missing)"

# --- tests ------------------------------------------------------------------
runner="${SWITCHBOARD_TEST_RUNNER:-}"
if [ -z "$runner" ]; then
    if cargo nextest --version >/dev/null 2>&1; then runner=nextest; else runner=cargo; fi
fi

status=0
if [ "$runner" = nextest ]; then
    log "cargo nextest run --workspace"
    # nextest runs every test in its own process, in parallel; the end-to-end
    # tests pick their own free ports, so they do not collide. nextest does
    # not run doc tests: those run separately below.
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
    if [ "$#" -eq 0 ]; then
        log "cargo test --workspace --doc"
        cargo test --workspace --doc || status=$?
    fi
else
    log "cargo test --workspace"
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi

if [ "$status" -ne 0 ]; then
    log "TESTS FAILED (exit status $status)"
    exit "$status"
fi
log "all tests passed"
