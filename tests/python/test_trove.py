"""The Python package against the repository's own registry and real peers: what a
researcher in a notebook does, and what goes wrong for them."""

import filecmp
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import trove
from conftest import REGISTRY, REPO, splitmix64

ARTIFACT = "coalescent_n5_theta1"
EXPECTED = REPO / "registry" / "artifacts" / ARTIFACT


def export_car(tmp_path: Path, source: Path, *args: str) -> "tuple[str, Path]":
    """`trove car export SOURCE` with the installed CLI (in a cache of its own); returns the
    root CID and the CAR."""
    car = source.with_suffix(".car")
    cid = subprocess.run(
        [Path(sys.executable).parent / "trove", "--cache-dir", tmp_path / "publisher",
         "car", "export", source, "-o", car, *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return cid, car


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.funny_files:
        return False
    if any(not filecmp.cmp(a / f, b / f, shallow=False) for f in cmp.common_files):
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_get_by_id_from_the_repository_registry_then_offline(cache):
    path = trove.get(ARTIFACT, registry=REGISTRY)
    assert isinstance(path, Path)
    assert same_tree(EXPECTED, path)
    assert path.is_relative_to(cache / "snapshots-v1")
    # Read-only: a snapshot is not to be changed in place.
    assert not os.stat(path / "sfs.csv").st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    # Offline, warm: the same snapshot.
    again = trove.get(ARTIFACT, registry=REGISTRY, offline=True)
    assert again == path
    assert same_tree(EXPECTED, again)


def test_a_file_inside_a_version_and_an_output_copy(cache, tmp_path):
    sfs = trove.get(f"{ARTIFACT}@1/sfs.csv", registry=REGISTRY)
    assert sfs.name == "sfs.csv"
    assert sfs.read_bytes() == (EXPECTED / "sfs.csv").read_bytes()
    out = tmp_path / "mine"
    got = trove.get(ARTIFACT, registry=REGISTRY, output=out)
    assert got == out and same_tree(EXPECTED, out)
    # The copy is the user's: writable.
    (out / "sfs.csv").write_text("changed")
    # An existing folder is kept unless force=True.
    with pytest.raises(trove.TroveError) as err:
        trove.get(ARTIFACT, registry=REGISTRY, output=out)
    assert "already exists" in str(err.value) and "force" in err.value.hint
    assert (out / "sfs.csv").read_text() == "changed"
    trove.get(ARTIFACT, registry=REGISTRY, output=out, force=True)
    assert same_tree(EXPECTED, out)


def test_errors_are_classes_with_hints(cache):
    with pytest.raises(trove.NotFound) as err:
        trove.get("no_such_id", registry=REGISTRY)
    assert "no_such_id" in str(err.value)
    assert err.value.hint and err.value.kind == "not-found"
    # A CID nothing has, offline: an offline miss, not "not found".
    with pytest.raises(trove.OfflineError) as err:
        trove.get("bafkreiexxe3oglrr3hr4cxkydkempei57i5qufii7pcvwxubp3x4y3im7e", offline=True)
    assert "offline" in str(err.value)
    assert "offline=False" in err.value.hint
    with pytest.raises(trove.OfflineError):
        trove.Client(registries=["munch-group/never-fetched"], offline=True).list()
    # A broken registry file is a RegistryError naming it.
    bad = cache.parent / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(trove.RegistryError) as err:
        trove.list(registry=bad)
    assert "bad.json" in str(err.value)
    # A mistyped CID is a usage error, a TroveError of no special class.
    with pytest.raises(trove.TroveError) as err:
        trove.get("QmNotACid")
    assert type(err.value) is trove.TroveError and err.value.kind == "usage"
    # Every class is a TroveError.
    for cls in (trove.NotFound, trove.OfflineError, trove.VerificationError, trove.RegistryError):
        assert issubclass(cls, trove.TroveError)


def test_list_search_info_resolve(cache):
    entries = trove.list(registry=REGISTRY)
    ids = {e.id for e in entries}
    assert {ARTIFACT, "coalescent_n10_theta1"} <= ids
    entry = next(e for e in entries if e.id == ARTIFACT)
    assert entry.cid.startswith("baf") and "Kingman" in entry.description
    assert entry.domain == "population-genetics" and "kingman" in entry.tags
    assert trove.list(domain="no-such-domain", registry=REGISTRY) == []
    assert ARTIFACT in [e.id for e in trove.search("kingman", registry=REGISTRY)]
    info = trove.info(ARTIFACT, registry=REGISTRY)
    assert info.id == ARTIFACT and info.to_dict()["metadata"]["domain"] == "population-genetics"
    resolved = trove.resolve(f"{ARTIFACT}@1/sfs.csv", registry=REGISTRY)
    assert resolved["cid"] == entry.cid and resolved["path"] == "sfs.csv"
    assert resolved["id"] == ARTIFACT and resolved["version"] == "1"


def test_verify_finds_a_changed_snapshot(cache):
    client = trove.Client(registries=[REGISTRY])
    path = client.get(ARTIFACT)
    report = client.verify(ARTIFACT)
    assert report["intact"] and report["blocks"] > 0 and report["problems"] == []
    target = path / "sfs.csv"
    os.chmod(target, 0o644)
    target.write_text("tampered\n")
    report = client.verify(ARTIFACT)
    assert not report["intact"]
    assert any("sfs.csv" in p and "changed" in p for p in report["problems"])
    # The CLI's `cache verify` sees it too, and --remove lets the next get write it anew.
    cli = Path(sys.executable).parent / "trove"
    done = subprocess.run([cli, "cache", "verify"], capture_output=True, text=True)
    assert done.returncode == 4 and "sfs.csv" in done.stdout
    subprocess.run([cli, "cache", "verify", "--remove"], check=True, capture_output=True)
    assert same_tree(EXPECTED, client.get(ARTIFACT))


def test_progress_callback_and_gateway_source(cache, tmp_path, gateway_factory):
    data = splitmix64(42, 3 * 1024 * 1024 + 17)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    cid = trove.Client(cache_dir=tmp_path / "adder").add(source, profile="unixfs-v0-2015")
    exported, car = export_car(tmp_path, source)
    assert exported == cid
    url = gateway_factory("--car", car)
    calls = []
    fetcher = trove.Client(sources=["gateway"], gateways=[url])
    path = fetcher.get(cid, progress=lambda done, blocks: calls.append((done, blocks)))
    assert path.read_bytes() == data
    assert calls and calls[-1][0] >= len(data) and calls[-1][1] >= 4


def test_a_corrupting_gateway_is_an_error_and_nothing_is_written(cache, tmp_path, gateway_factory):
    source = tmp_path / "f.bin"
    source.write_bytes(splitmix64(7, 600_000))
    cid, car = export_car(tmp_path, source)
    url = gateway_factory("--car", car, "--fault", "corrupt")
    client = trove.Client(sources=["gateway"], gateways=[url], timeout=30)
    out = tmp_path / "out.bin"
    with pytest.raises(trove.TroveError) as err:
        client.get(cid, output=out)
    assert not isinstance(err.value, trove.NotFound)
    assert not out.exists()
    assert not (cache / "snapshots-v1" / cid).exists() or not any(
        p.name == cid for p in (cache / "snapshots-v1" / cid).iterdir()
    )


@pytest.mark.parametrize("kind", ["kubo", "helia"])
def test_get_from_a_real_bitswap_peer(cache, tmp_path, serving_peer, kind):
    data = splitmix64(11, 3 * 1024 * 1024 + 5)
    source = tmp_path / "data.bin"
    source.write_bytes(data)
    addr, added = serving_peer(kind, [source])
    cid = added[os.path.realpath(source)]
    client = trove.Client(sources=["p2p"], peers=[addr], timeout=60)
    path = client.get(cid)
    assert path.read_bytes() == data
    assert client.verify(cid)["intact"]


def test_phasic_shaped_backend(cache, tmp_path):
    backend = trove.PhasicBackend()
    source = tmp_path / "trace.json"
    source.write_text('{"trace": [1, 2, 3]}\n')
    cid = backend.add(source)
    assert cid.startswith("Qm")  # Kubo's `ipfs add` default
    out = tmp_path / "copy.json"
    assert backend.get(f"ipfs://{cid}", out) == out
    assert out.read_bytes() == source.read_bytes()
    assert backend.get(f"https://gateway.example/ipfs/{cid}", out) == out
    assert backend.pin(cid) == cid
    with pytest.raises(ValueError):
        backend.get("https://example.org/file.json", out)


def test_publish_dry_run_then_into_a_registry_file(cache, tmp_path, artifacts):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "rates.csv").write_text("a,b\n1,2\n")
    registry = artifacts / "registry.json"
    before = registry.read_bytes()
    report = trove.publish(folder, "toy_model", description="A toy", domain="testing",
                           tags=["toy"], license="CC0-1.0", registry_file=registry,
                           dry_run=True, daemon=False)
    assert report["dry_run"] and report["diff"] and registry.read_bytes() == before
    report = trove.publish(folder, "toy_model", description="A toy", domain="testing",
                           tags=["toy"], license="CC0-1.0", registry_file=registry, daemon=False)
    assert report["registry_file"] == str(registry)
    entry = trove.info("toy_model", registry=registry)
    assert entry.cid == report["cid"] and entry.domain == "testing"
    assert (trove.get("toy_model", registry=registry) / "rates.csv").read_text() == "a,b\n1,2\n"


def test_the_console_script_is_the_cli(cache, tmp_path):
    cli = Path(sys.executable).parent / "trove"
    done = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("trove ")
    out = tmp_path / "n5"
    done = subprocess.run([cli, "get", ARTIFACT, "--registry", REGISTRY, "-o", out],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert same_tree(EXPECTED, out)
    done = subprocess.run([cli, "get", "no_such_id", "--registry", REGISTRY],
                          capture_output=True, text=True)
    assert done.returncode != 0 and "hint:" in done.stderr


def test_the_gil_is_released_while_fetching(cache, tmp_path, gateway_factory):
    source = tmp_path / "f.bin"
    source.write_bytes(splitmix64(3, 2_000_000))
    cid, car = export_car(tmp_path, source, "--chunker", "size-65536", "--raw-leaves")
    # A gateway that drips: the get takes a while, during which Python keeps running.
    url = gateway_factory("--car", car, "--fault", "slow-start")
    import threading

    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    thread = threading.Thread(target=tick)
    thread.start()
    started = time.monotonic()
    trove.Client(sources=["gateway"], gateways=[url]).get(cid)
    took = time.monotonic() - started
    stop.set()
    thread.join()
    assert took > 1.0
    # The other thread ran all along (about one tick per 10 ms while the get waited).
    assert len(ticks) > took * 30, (len(ticks), took)


def test_ctrl_c_cancels_a_get_cleanly(cache, tmp_path, gateway_factory):
    source = tmp_path / "f.bin"
    source.write_bytes(splitmix64(5, 1_000_000))
    cid, car = export_car(tmp_path, source)
    url = gateway_factory("--car", car, "--fault", "stall", "--stall-seconds", "60")
    out = tmp_path / "out.bin"
    script = textwrap.dedent(f"""
        import sys, time, trove
        client = trove.Client(sources=["gateway"], gateways=[{url!r}], timeout=120)
        print("START", flush=True)
        started = time.monotonic()
        try:
            client.get({cid!r}, output={str(out)!r})
        except KeyboardInterrupt:
            print("INTERRUPTED", round(time.monotonic() - started, 2), flush=True)
            sys.exit(3)
        print("FINISHED", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ})
    assert proc.stdout.readline().strip() == "START"
    time.sleep(2)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 3, rest
    assert "INTERRUPTED" in rest
    assert time.monotonic() - sent < 10
    assert not out.exists()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".trove-")]
    assert leftovers == []
