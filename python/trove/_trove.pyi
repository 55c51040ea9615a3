"""Type stubs for trove's compiled extension (see trove/__init__.py for the documented API)."""

from typing import Any, Callable, Dict, List, Optional

class TroveError(Exception):
    hint: Optional[str]
    kind: str

class NotFound(TroveError): ...
class OfflineError(TroveError): ...
class VerificationError(TroveError): ...
class RegistryError(TroveError): ...

class Entry:
    id: str
    cid: Optional[str]
    description: str
    registry: str
    domain: Optional[str]
    model_type: Optional[str]
    tags: List[str]
    license: Optional[str]
    versions: List[str]
    version: Optional[str]
    aliases: Dict[str, str]
    size: Optional[int]
    json: str
    def to_dict(self) -> Dict[str, Any]: ...

class Client:
    def __init__(
        self,
        *,
        cache_dir: Optional[str] = ...,
        registries: Optional[List[str]] = ...,
        offline: Optional[bool] = ...,
        sources: Optional[List[str]] = ...,
        gateways: Optional[List[str]] = ...,
        peers: Optional[List[str]] = ...,
        timeout: Optional[float] = ...,
        config: Optional[str] = ...,
    ) -> None: ...
    @property
    def cache_dir(self) -> str: ...
    @property
    def registries(self) -> List[str]: ...
    def get(
        self,
        target: str,
        *,
        output: Optional[str] = ...,
        force: bool = ...,
        progress: Optional[Callable[[int, int], Any]] = ...,
    ) -> str: ...
    def resolve(self, target: str) -> Dict[str, Any]: ...
    def list(
        self,
        *,
        domain: Optional[str] = ...,
        model_type: Optional[str] = ...,
        tags: Optional[List[str]] = ...,
    ) -> List[Entry]: ...
    def search(self, text: str) -> List[Entry]: ...
    def info(self, id: str) -> Entry: ...
    def verify(self, target: str) -> Dict[str, Any]: ...
    def add(self, path: str, *, profile: str = ...) -> str: ...
    def pin(self, target: str) -> str: ...
    def publish(
        self,
        path: str,
        id: str,
        *,
        version: Optional[str] = ...,
        aliases: Optional[List[str]] = ...,
        metadata: Optional[str] = ...,
        profile: str = ...,
        car: Optional[str] = ...,
        mirrors: Optional[List[str]] = ...,
        daemon: Optional[bool] = ...,
        pins: Optional[List[str]] = ...,
        registry_file: Optional[str] = ...,
        force: bool = ...,
        dry_run: bool = ...,
    ) -> Dict[str, Any]: ...

def run_cli(argv: List[str]) -> int: ...
def version() -> str: ...
