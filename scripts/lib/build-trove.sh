# Sourced by scripts: `build_trove` builds the release binary and sets $trove to its path, wherever
# cargo puts it (CARGO_TARGET_DIR, a build.target-dir in a cargo config, or ./target).
build_trove() {
  local manifest=$root/Cargo.toml target
  cargo build --release --quiet --manifest-path "$manifest" --bin trove
  target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  trove=$target/release/trove
  [ -x "$trove" ] || { echo "built trove, but found no binary at $trove" >&2; exit 1; }
}
