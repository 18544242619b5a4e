# shellcheck shell=bash
# Shared by scripts/localnet, scripts/test-rpc and scripts/demo: build, start and stop the local
# JSON-RPC node (localnet/, a Surfpool Surfnet). Source it from the repository root.
#
# The node is its own Cargo workspace on Rust 1.99.0 (surfpool-sdk 1.7.0 needs rustc >= 1.97.1;
# the program's workspace stays on 1.95). rustup does not auto-install toolchains here or in CI
# (RUSTUP_AUTO_INSTALL=0), so localnet_build installs it first (about 10 s), then builds the node
# in release into target/localnet/ (cold: about 10 minutes on 2 cores; then seconds).

LOCALNET_TOOLCHAIN="1.99.0"
LOCALNET_ROOT="${LOCALNET_ROOT:-$PWD}"
LOCALNET_TARGET="${CARGO_TARGET_DIR:-$LOCALNET_ROOT/target}/localnet"
LOCALNET_BIN="$LOCALNET_TARGET/release/localnet"

_localnet_log() { printf '[localnet] %s\n' "$*" >&2; }

# Installs the pinned toolchain with clippy and rustfmt when missing.
localnet_toolchain() {
  command -v rustup >/dev/null 2>&1 || { _localnet_log "rustup not found: the node needs Rust $LOCALNET_TOOLCHAIN through rustup"; return 1; }
  if ! rustup toolchain list | grep -q "^${LOCALNET_TOOLCHAIN}-"; then
    _localnet_log "installing Rust $LOCALNET_TOOLCHAIN (rustup, profile minimal, with clippy and rustfmt)"
    rustup toolchain install "$LOCALNET_TOOLCHAIN" --profile minimal --component clippy,rustfmt --no-self-update
  elif ! rustup component list --toolchain "$LOCALNET_TOOLCHAIN" --installed | grep -q '^clippy'; then
    rustup component add clippy rustfmt --toolchain "$LOCALNET_TOOLCHAIN"
  fi
}

# Builds target/localnet/release/localnet. With LOCALNET_LINT=1 the same build also runs clippy on
# the node's own crate with -D warnings (clippy-driver as the workspace wrapper: the ~970
# dependencies are compiled once, not checked a second time) and builds its unit tests.
localnet_build() {
  localnet_toolchain
  local args=(build --release --locked)
  if [[ "${LOCALNET_LINT:-}" == "1" ]]; then
    args+=(--all-targets)
    export RUSTC_WORKSPACE_WRAPPER="$(rustup which --toolchain "$LOCALNET_TOOLCHAIN" clippy-driver)"
    export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
  fi
  _localnet_log "building the node: (cd localnet && cargo +$LOCALNET_TOOLCHAIN ${args[*]}) into ${LOCALNET_TARGET#"$LOCALNET_ROOT"/}"
  (cd "$LOCALNET_ROOT/localnet" && CARGO_TARGET_DIR="$LOCALNET_TARGET" cargo "+$LOCALNET_TOOLCHAIN" "${args[@]}")
  unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
}

# localnet_start <port> [node args...]: starts the node in the background and waits until it
# answers; sets LOCALNET_PID, LOCALNET_URL, LOCALNET_WS and LOCALNET_PORT. Port 0 picks a free one.
localnet_start() {
  local port="$1"
  shift
  [[ -x "$LOCALNET_BIN" ]] || { _localnet_log "$LOCALNET_BIN is missing: localnet_build first"; return 1; }
  LOCALNET_OUT="$(mktemp)"
  "$LOCALNET_BIN" --port "$port" "$@" >"$LOCALNET_OUT" &
  LOCALNET_PID=$!
  local waited=0
  until grep -q '^ready$' "$LOCALNET_OUT"; do
    if ! kill -0 "$LOCALNET_PID" 2>/dev/null; then
      wait "$LOCALNET_PID" || true
      _localnet_log "the node exited before it was ready"
      return 1
    fi
    ((waited++ < 300)) || { _localnet_log "the node did not start within 30 s"; localnet_stop; return 1; }
    sleep 0.1
  done
  LOCALNET_URL="$(sed -n 's/^rpc: //p' "$LOCALNET_OUT")"
  LOCALNET_WS="$(sed -n 's/^ws: //p' "$LOCALNET_OUT")"
  LOCALNET_PORT="${LOCALNET_URL##*:}"
  export LOCALNET_URL LOCALNET_PORT LOCALNET_PID
}

# Whether something accepts connections on 127.0.0.1:<port>.
localnet_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Stops the node started by localnet_start (SIGTERM: it shuts its RPC servers down) and checks
# that it exited cleanly and that its port is closed.
localnet_stop() {
  [[ -n "${LOCALNET_PID:-}" ]] || return 0
  local pid="$LOCALNET_PID" status=0
  LOCALNET_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  rm -f "${LOCALNET_OUT:-}"
  if [[ -n "${LOCALNET_PORT:-}" ]] && localnet_port_open "$LOCALNET_PORT"; then
    _localnet_log "port $LOCALNET_PORT is still open after the node stopped"
    return 1
  fi
  ((status == 0)) || { _localnet_log "the node exited with status $status"; return 1; }
  _localnet_log "node stopped; port ${LOCALNET_PORT:-?} closed"
}
