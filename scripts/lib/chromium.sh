# Shared by the screenshot scripts: installs headless Chromium and Pillow when missing, and
# takes a screenshot of a page. Source it after defining `fail MESSAGE` and PYTHON.

install_packages() {
    echo "installing $* (Debian packages)"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null || fail "apt-get install $* failed"
}

# ensure_chromium: chromium on PATH and Pillow in $PYTHON, installing what is missing.
ensure_chromium() {
    local missing=()
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    if ! [ -x "$PYTHON" ] || ! "$PYTHON" -c "import PIL" >/dev/null 2>&1; then missing+=(python3 python3-pil); fi
    if [ "${#missing[@]}" -gt 0 ]; then install_packages "${missing[@]}"; fi
    command -v chromium >/dev/null 2>&1 || fail "chromium is not on PATH after installing it"
}

# chromium_run OUT_DIR SECONDS ARGS...: headless chromium with a throwaway profile in OUT_DIR,
# stopped after SECONDS. `timeout` runs it in its own process group and signals that group
# on expiry, so the browser's helper processes (and nothing else) are stopped with it.
# Its output goes to stdout; its messages to OUT_DIR/chromium.log.
chromium_run() {
    local out_dir="$1" seconds="$2"
    shift 2
    local status=0
    timeout --kill-after=10s "${seconds}s" chromium \
        --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
        --no-first-run --no-default-browser-check --user-data-dir="$out_dir/chromium-profile" \
        "$@" 2>>"$out_dir/chromium.log" || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        fail "chromium did not finish within ${seconds}s (log: $out_dir/chromium.log)"
    fi
    if [ "$status" -ne 0 ]; then
        tail -n 20 "$out_dir/chromium.log" >&2 || true
        fail "chromium exited with status $status"
    fi
}
