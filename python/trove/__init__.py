"""trove: fetch research artifacts by name and prove they are the right bytes.

A registry maps IDs such as ``coalescent_n5_theta1`` to IPFS CIDs. ``trove.get`` resolves
the ID, fetches what the local cache lacks (a local IPFS daemon, peers over bitswap, trustless
gateways, mirrors), verifies every block against its CID, and returns the path of a
read-only, verified copy in the cache::

    import trove

    path = trove.get("coalescent_n5_theta1", registry="registry/registry.json")
    sfs = (path / "sfs.csv").read_text()

A second call finds the copy in the cache and touches neither the disk's contents nor the
network. ``output=`` copies the content where you want it instead. Settings follow one
precedence: keyword arguments > environment variables (``TROVE_CACHE_DIR``,
``TROVE_REGISTRY``, ``TROVE_OFFLINE``, ...) > the config file > defaults, exactly as for the
``trove`` command, which this package installs too.

Errors are ``TroveError`` or one of its subclasses ``NotFound``, ``OfflineError``,
``VerificationError`` and ``RegistryError``; each has ``.hint`` (what to do) and ``.kind``.
"""

from __future__ import annotations

import builtins
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _trove
from ._trove import (
    Entry,
    NotFound,
    OfflineError,
    RegistryError,
    TroveError,
    VerificationError,
)

__all__ = [
    "Client",
    "Entry",
    "NotFound",
    "OfflineError",
    "PhasicBackend",
    "RegistryError",
    "TroveError",
    "VerificationError",
    "get",
    "info",
    "list",
    "publish",
    "resolve",
    "search",
    "verify",
]

__version__ = _trove.version()

_list = builtins.list

PathLike = Union[str, "os.PathLike[str]"]
Progress = Union[None, bool, Callable[[int, int], Any]]


def _paths(values: Optional[Union[PathLike, Iterable[PathLike]]]) -> Optional[List[str]]:
    if values is None:
        return None
    if isinstance(values, (str, os.PathLike)):
        values = [values]
    return [os.fspath(v) for v in values]


def _progress_callback(progress: Progress, what: str):
    """The callback for ``progress``: the callable given, a tqdm bar (``True``, or by default
    when tqdm is installed), or nothing (``False``). Returns (callback, close)."""
    if callable(progress):
        return progress, lambda: None
    if progress is False:
        return None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress is True:
            raise ImportError("progress=True needs tqdm: pip install tqdm") from None
        return None, lambda: None
    bar = None
    seen = [0]

    def update(done: int, blocks: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(desc=what, unit="B", unit_scale=True, unit_divisor=1024, leave=False)
        bar.update(done - seen[0])
        seen[0] = done

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close


class Client:
    """A trove client: one cache, its settings and registries.

    Every argument is optional; what is not given comes from the environment variables, then
    the config file (``~/.config/trove/config.toml``), then the defaults.

    :param cache_dir: the cache directory (``TROVE_CACHE_DIR``).
    :param registries: registries to read: paths, URLs or ``owner/repo[@ref]`` on GitHub.
    :param offline: no network at all; only the cache.
    :param sources: tiers to ask, in order: ``kubo``, ``p2p``, ``gateway``, ``mirror``.
    :param gateways: trustless gateway URLs (replace the configured list).
    :param peers: bitswap peers (multiaddrs) to fetch from.
    :param timeout: give up a fetch after this many seconds.
    :param config: the config file to read.
    """

    def __init__(
        self,
        *,
        cache_dir: Optional[PathLike] = None,
        registries: Optional[Union[PathLike, Iterable[PathLike]]] = None,
        offline: Optional[bool] = None,
        sources: Optional[Sequence[str]] = None,
        gateways: Optional[Sequence[str]] = None,
        peers: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
        config: Optional[PathLike] = None,
    ) -> None:
        self._inner = _trove.Client(
            cache_dir=os.fspath(cache_dir) if cache_dir is not None else None,
            registries=_paths(registries),
            offline=offline,
            sources=_list(sources) if sources is not None else None,
            gateways=_list(gateways) if gateways is not None else None,
            peers=_list(peers) if peers is not None else None,
            timeout=timeout,
            config=os.fspath(config) if config is not None else None,
        )

    @property
    def cache_dir(self) -> Path:
        """The cache directory."""
        return Path(self._inner.cache_dir)

    @property
    def registries(self) -> List[str]:
        """The registries this client reads."""
        return self._inner.registries

    def get(
        self,
        target: str,
        *,
        output: Optional[PathLike] = None,
        force: bool = False,
        progress: Progress = None,
    ) -> Path:
        """The content ``target`` names, as a path.

        ``target`` is a registry ID (``ID``, ``ID@version``, ``ID@alias``, ``ID/file``), a CID,
        ``CID/path``, ``/ipfs/CID/path`` or ``ipfs://CID/path``. Without ``output`` the path is
        a read-only, verified copy in the cache (do not change it; ``trove cache verify``
        checks it). With ``output`` the content is copied there (atomically; an existing
        folder is replaced only with ``force=True``) and that path is returned.

        ``progress``: a tqdm bar by default when tqdm is installed (``False``: none), or a
        callable ``(bytes, blocks)``.
        """
        callback, close = _progress_callback(progress, target)
        try:
            path = self._inner.get(
                target,
                output=os.fspath(output) if output is not None else None,
                force=force,
                progress=callback,
            )
        finally:
            close()
        return Path(path)

    def resolve(self, target: str) -> Dict[str, Any]:
        """What ``target`` names (CID, path, and the registry's ID, version, profile, size),
        without fetching anything."""
        return self._inner.resolve(target)

    def list(
        self,
        *,
        domain: Optional[str] = None,
        model_type: Optional[str] = None,
        tags: Optional[Sequence[str]] = None,
    ) -> List[Entry]:
        """The registries' entries, optionally filtered (every tag given must match)."""
        return self._inner.list(
            domain=domain, model_type=model_type, tags=_list(tags) if tags else None
        )

    def search(self, text: str) -> List[Entry]:
        """Entries whose ID, description, tags or metadata match ``text``, best first."""
        return self._inner.search(text)

    def info(self, id: str) -> Entry:
        """The entry ``id``."""
        return self._inner.info(id)

    def verify(self, target: str) -> Dict[str, Any]:
        """Checks the cached content ``target`` names, offline: every block re-hashed against
        its CID, every snapshot compared byte for byte. Returns ``cid``, ``intact``,
        ``blocks``, ``missing`` and ``problems``."""
        return self._inner.verify(target)

    def add(self, path: PathLike, *, profile: str = "unixfs-v1-2025") -> str:
        """Imports a file or folder into the cache (kept through gc) and returns its CID
        (Kubo-identical for the profile: ``unixfs-v0-2015`` is ``ipfs add``'s default)."""
        return self._inner.add(os.fspath(path), profile=profile)

    def pin(self, target: str) -> str:
        """Makes the content complete in the cache and keeps it through ``trove cache gc``;
        returns its CID."""
        return self._inner.pin(target)

    def publish(
        self,
        path: PathLike,
        id: str,
        *,
        version: Optional[str] = None,
        aliases: Sequence[str] = (),
        description: Optional[str] = None,
        domain: Optional[str] = None,
        model_type: Optional[str] = None,
        tags: Sequence[str] = (),
        license: Optional[str] = None,
        author: Optional[str] = None,
        metadata: Optional[Dict[str, Any]] = None,
        profile: str = "unixfs-v1-2025",
        car: Optional[PathLike] = None,
        mirrors: Sequence[str] = (),
        daemon: Optional[bool] = None,
        pins: Sequence[str] = (),
        registry_file: Optional[PathLike] = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> Dict[str, Any]:
        """Publishes a file or folder as registry entry ``id`` (``version=`` adds a version to
        an existing one): imports it, adds it to the local daemon (``daemon=True`` requires
        one, ``False`` skips it), pins it on ``pins`` services, writes ``car``, and merges the
        entry into ``registry_file``. ``dry_run=True`` changes nothing and returns the entry
        and the registry diff. Returns what ``trove publish --json`` prints."""
        import json

        meta: Dict[str, Any] = dict(metadata or {})
        for key, value in (
            ("description", description),
            ("license", license),
        ):
            if value is not None:
                meta[key] = value
        inner = dict(meta.pop("metadata", {}) or {})
        for key, value in (("domain", domain), ("model_type", model_type), ("author", author)):
            if value is not None:
                inner[key] = value
        if tags:
            inner["tags"] = _list(tags)
        if inner:
            meta["metadata"] = inner
        return self._inner.publish(
            os.fspath(path),
            id,
            version=version,
            aliases=_list(aliases),
            metadata=json.dumps(meta) if meta else None,
            profile=profile,
            car=os.fspath(car) if car is not None else None,
            mirrors=_list(mirrors),
            daemon=daemon,
            pins=_list(pins),
            registry_file=os.fspath(registry_file) if registry_file is not None else None,
            force=force,
            dry_run=dry_run,
        )


class PhasicBackend:
    """An adapter with the shape of phasic's trace-repository transport backends
    (``get(cid_or_url, output_path)``, ``add(path) -> cid``, ``pin(cid)``), so code written
    for them can use trove's verified fetching. Accepts a CID, ``ipfs://CID/...``,
    ``/ipfs/CID/...`` or a gateway URL ``https://HOST/ipfs/CID/...``."""

    def __init__(self, client: Optional[Client] = None, **options: Any) -> None:
        self.client = client if client is not None else Client(**options)

    @staticmethod
    def _target(cid_or_url: str) -> str:
        text = cid_or_url.strip()
        if text.startswith(("http://", "https://")):
            from urllib.parse import urlsplit

            path = urlsplit(text).path
            if "/ipfs/" not in path:
                raise ValueError(
                    f"{cid_or_url!r} is not a gateway URL (…/ipfs/CID/…): trove fetches content by CID"
                )
            return path[path.index("/ipfs/"):]
        return text

    def get(self, cid_or_url: str, output_path: PathLike) -> Path:
        """Fetches the content (verified) to ``output_path``; returns it."""
        return self.client.get(self._target(cid_or_url), output=output_path, force=True)

    def add(self, path: PathLike) -> str:
        """Imports ``path`` into the cache; returns its CID (Kubo's ``ipfs add`` default)."""
        return self.client.add(path, profile="unixfs-v0-2015")

    def pin(self, cid: str) -> str:
        """Keeps the content in the cache (fetching it when missing)."""
        return self.client.pin(self._target(cid))


_clients: Dict[Tuple[Any, ...], Client] = {}
_clients_lock = threading.Lock()


def _client(registry: Optional[Union[PathLike, Iterable[PathLike]]], offline: Optional[bool]) -> Client:
    """The module-level functions' client for these settings (made once, then reused)."""
    key = (tuple(_paths(registry) or ()), offline, os.environ.get("TROVE_CACHE_DIR"))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = Client(registries=registry, offline=offline)
            _clients[key] = client
        return client


def get(
    target: str,
    *,
    output: Optional[PathLike] = None,
    registry: Optional[Union[PathLike, Iterable[PathLike]]] = None,
    offline: Optional[bool] = None,
    force: bool = False,
    progress: Progress = None,
) -> Path:
    """The content ``target`` names, as a path: see :meth:`Client.get`."""
    return _client(registry, offline).get(target, output=output, force=force, progress=progress)


def resolve(
    target: str,
    *,
    registry: Optional[Union[PathLike, Iterable[PathLike]]] = None,
    offline: Optional[bool] = None,
) -> Dict[str, Any]:
    """What ``target`` names, without fetching: see :meth:`Client.resolve`."""
    return _client(registry, offline).resolve(target)


def list(  # noqa: A001 - the natural name, as in `trove list`
    *,
    domain: Optional[str] = None,
    model_type: Optional[str] = None,
    tags: Optional[Sequence[str]] = None,
    registry: Optional[Union[PathLike, Iterable[PathLike]]] = None,
    offline: Optional[bool] = None,
) -> List[Entry]:
    """The registries' entries: see :meth:`Client.list`."""
    return _client(registry, offline).list(domain=domain, model_type=model_type, tags=tags)


def search(
    text: str,
    *,
    registry: Optional[Union[PathLike, Iterable[PathLike]]] = None,
    offline: Optional[bool] = None,
) -> List[Entry]:
    """Entries matching ``text``: see :meth:`Client.search`."""
    return _client(registry, offline).search(text)


def info(
    id: str,
    *,
    registry: Optional[Union[PathLike, Iterable[PathLike]]] = None,
    offline: Optional[bool] = None,
) -> Entry:
    """The entry ``id``: see :meth:`Client.info`."""
    return _client(registry, offline).info(id)


def verify(
    target: str,
    *,
    registry: Optional[Union[PathLike, Iterable[PathLike]]] = None,
) -> Dict[str, Any]:
    """Checks cached content: see :meth:`Client.verify`."""
    return _client(registry, True).verify(target)


def publish(path: PathLike, id: str, **options: Any) -> Dict[str, Any]:
    """Publishes a file or folder: see :meth:`Client.publish` (``cache_dir=`` and the other
    client settings come from the environment)."""
    return _client(None, None).publish(path, id, **options)
