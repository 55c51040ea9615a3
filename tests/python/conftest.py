"""Fixtures for the Python package's tests: the repository, a fresh cache per test, and the
real peers `scripts/setup-peers` installs (a trustless gateway, Kubo, Helia). A missing peer
skips its tests unless TROVE_REQUIRE_PEERS=1 (as `scripts/test` sets), where it fails them."""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / "registry" / "registry.json"
PEERS = REPO / "scripts" / "peers"


def splitmix64(seed: int, n: int) -> bytes:
    """The test vectors' PRNG (tests/fixtures/vectors/README.md)."""
    out = bytearray()
    state = seed
    mask = (1 << 64) - 1
    while len(out) < n:
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return bytes(out[:n])


def peer_tool(var: str) -> str:
    value = os.environ.get(var)
    if value:
        return value
    if os.environ.get("TROVE_REQUIRE_PEERS") == "1":
        pytest.fail(f"{var} is not set: run the tests with scripts/test (it installs the peers)")
    pytest.skip(f"{var} is not set (run scripts/test to install the test peers)")


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh cache directory, also in TROVE_CACHE_DIR (the module-level functions read it);
    the p2p tier kept off the public network."""
    path = tmp_path / "cache"
    monkeypatch.setenv("TROVE_CACHE_DIR", str(path))
    monkeypatch.setenv("TROVE_P2P_BOOTSTRAP", "none")
    monkeypatch.setenv("TROVE_P2P_ROUTERS", "none")
    monkeypatch.setenv("TROVE_P2P_MDNS", "0")
    monkeypatch.setenv("TROVE_CONFIG", str(tmp_path / "no-config.toml"))
    (tmp_path / "no-config.toml").write_text("")
    monkeypatch.delenv("TROVE_REGISTRY", raising=False)
    monkeypatch.delenv("TROVE_OFFLINE", raising=False)
    return path


class Server:
    """A peer process that prints a readiness line; killed at the end of the test."""

    def __init__(self, args, ready, env=None, timeout=120):
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        lines: "queue.Queue[str]" = queue.Queue()

        def pump():
            for line in self.proc.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        self.lines = []
        while True:
            try:
                line = lines.get(timeout=timeout)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"{args[0]} did not get ready: {self.proc.stderr.read()}")
            self.lines.append(line)
            if ready(line):
                break

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def gateway_factory():
    """Starts `trustless_gateway.py` with the given arguments; returns its URL."""
    servers = []

    def start(*args):
        server = Server(
            [sys.executable, str(PEERS / "trustless_gateway.py"), "--port", "0", *map(str, args)],
            lambda line: line.startswith("LISTENING "),
            timeout=30,
        )
        servers.append(server)
        return server.lines[-1].split()[1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def serving_peer(tmp_path):
    """Starts a bitswap peer (`kubo` or `helia`) serving paths; returns (tcp multiaddr, path →
    CID)."""
    servers = []

    def start(kind, paths, profile="v1-raw-1m"):
        if kind == "kubo":
            python = peer_tool("TROVE_TEST_KUBO_PYTHON")
            args = [python, str(PEERS / "kubo_peer.py"), "serve", "--repo",
                    str(tmp_path / f"kubo-{len(servers)}" / "repo")]
        else:
            install = Path(peer_tool("TROVE_TEST_HELIA_DIR"))
            args = ["node", str(install / "helia_peer.mjs"), "serve", "--port", "0",
                    "--profile", profile]
        for path in paths:
            args += ["--add", str(path)]
        server = Server(args, lambda line: line.strip() == "READY")
        servers.append(server)
        info = json.loads(next(l for l in server.lines if l.startswith("{")))
        tcp = next(a for a in info["multiaddrs"] if "/tcp/" in a)
        added = {os.path.realpath(p): cid for p, cid in info["added"].items()}
        return tcp, added

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    """A copy of the repository's registry, its CARs and artifacts (tests may change it)."""
    dest = tmp_path / "registry"
    shutil.copytree(REPO / "registry", dest)
    return dest
