#!/usr/bin/env python3
"""A trustless IPFS gateway for trove's tests and benchmarks (Python 3.11, standard library only).

It follows the IPFS trustless-gateway specification (ipfs/specs,
src/http-gateways/trustless-gateway.md): verifiable raw blocks and CAR streams
only, never deserialised content. Blocks come from CAR files given on the
command line; a folder of plain files can be served beside them (for trove's
mirror source), and a JSON table answers delegated-routing provider queries.
It listens on 127.0.0.1 only and can misbehave on purpose (--fault) so that a
client's verification, fallback and time-outs meet a server its authors did
not write.

Usage
  trustless_gateway.py --car a.car [--car b.car ...] [--files-dir DIR]
                       [--port 0] [--port-file F] [--log F.jsonl]
                       [--providers FILE.json]
                       [--fault MODE] [--fault-every N] [--fault-after N]
                       [--stall-seconds S]

  --car PATH          a CAR to serve blocks from (repeatable). CARv1, or CARv2
                      (its inner CARv1 payload is read).
  --files-dir DIR     plain files served under /files/ (Range and ETag).
  --files-cache-control V   a Cache-Control header for /files/ answers.
  --port N            port on 127.0.0.1 (0, the default, picks a free one).
  --port-file F       the port is written to F once the server listens.
  --log F.jsonl       one JSON object per request, appended and flushed:
                      n (1-based request number), method, path (with the
                      query), status, accept, time, and where they apply
                      fault, blocks (sections in a CAR) and complete (whether
                      every block the request covers was available).
  --providers F.json  {"<cid>": [{"ID": "<peer id>", "Addrs": ["<multiaddr>"]}]}
  --fault MODE        misbehave (modes below); --fault-every N picks every Nth
                      request (default 1), --fault-after N serves the first N
                      requests cleanly (default 0); --stall-seconds S is how
                      long `stall` holds a response (default 30).

When it listens it prints exactly one line on stdout:
  LISTENING http://127.0.0.1:PORT

Routes
  GET|HEAD /ipfs/{cid}?format=raw             one block
           (or Accept: application/vnd.ipld.raw)
  GET|HEAD /ipfs/{cid}[/{path}]?format=car    a CARv1 stream in depth-first order
           (or Accept: application/vnd.ipld.car; version=1; order=dfs; dups=y|n)
           query: dag-scope=all|entity|block, entity-bytes=from:to (negative
           offsets and `*` allowed; implies dag-scope=entity), car-dups=y|n.
           The blocks on the path (directories, HAMT shards) come first.
  GET|HEAD /files/{name}                      a file from --files-dir (Range, ETag)
  GET      /routing/v1/providers/{cid}        delegated routing (IPIP-337) from --providers
  GET      /_stats                            JSON {"requests": N, "bytes": M}
  Probe: GET /ipfs/bafkqaaa?format=raw answers 200 with an empty body
  (identity CIDs are answered from the CID itself and never written in a CAR).
  Unknown CID: 404. Malformed CID: 400. No format asked for: 406.

Fault modes (to the requests numbered after --fault-after, every Nth of them;
/_stats is never faulted)
  corrupt        the first byte of the raw block / of the CAR's last block /
                 of the file is flipped
  wrong-block    a raw request gets another block of the store; in a CAR the
                 last block's bytes are those of a block outside the answer
  truncate       only the first half of the body is sent, then the connection
                 is closed
  missing-child  the CAR leaves out its middle block
  dup            the CAR's first block is sent again at the end
  extra          a block outside the answer is added after the CAR's first block
  oversize       2 MiB + 1 zero bytes are appended to the raw block / to the
                 CAR's last block
  stall          half of the body is sent, then nothing for --stall-seconds,
                 then the connection is closed
  drip           the body is sent one byte every half second
  slow-start     nothing is sent for 3 seconds, then the answer
  429            429 Too Many Requests, Retry-After: 1
  500            500 with the body "internal error"
  html200        200 with an HTML page (text/html)
  wrong-ctype    the right body with Content-Type application/octet-stream
  redirect-loop  302 to the same URL
  notfound       404 for everything
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = (
    "corrupt", "wrong-block", "truncate", "missing-child", "dup", "extra",
    "oversize", "stall", "drip", "slow-start", "429", "500", "html200",
    "wrong-ctype", "redirect-loop", "notfound",
)
# Faults that replace the whole answer, whatever the route.
REPLACING = {"429", "500", "html200", "redirect-loop", "notfound"}
SLOW_START_SECONDS = 3.0
DRIP_INTERVAL = 0.5
OVERSIZE_PAD = 2 * 1024 * 1024 + 1
MAX_DUP_SECTIONS = 1_000_000  # per dups=y CAR answer

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"
IMMUTABLE = "public, max-age=29030400, immutable"

DAG_PB, RAW, DAG_CBOR = 0x70, 0x55, 0x71
IDENTITY, SHA2_256 = 0x00, 0x12

HANGUPS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)


class BadCid(ValueError):
    pass


# ---------------------------------------------------------------- multiformats

def read_uvarint(buf, pos):
    """An unsigned LEB128 varint at `pos`: (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise BadCid("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise BadCid("varint too long")


def uvarint(n):
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B58_INDEX = {c: i for i, c in enumerate(B58)}


def b58decode(text):
    n = 0
    for ch in text:
        if ch not in B58_INDEX:
            raise BadCid("bad base58 character %r" % ch)
        n = n * 58 + B58_INDEX[ch]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def b58encode(data):
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(B58[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


B32 = "abcdefghijklmnopqrstuvwxyz234567"
B32_INDEX = {c: i for i, c in enumerate(B32)}


def b32decode(text):
    """RFC 4648 base32 without padding (either case); leftover bits are dropped."""
    out = bytearray()
    acc = bits = 0
    for ch in text.lower():
        if ch not in B32_INDEX:
            raise BadCid("bad base32 character %r" % ch)
        acc = (acc << 5) | B32_INDEX[ch]
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out)


def b36decode(text):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n = 0
    for ch in text.lower():
        i = digits.find(ch)
        if i < 0:
            raise BadCid("bad base36 character %r" % ch)
        n = n * 36 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    zeros = len(text) - len(text.lstrip("0"))
    return b"\0" * zeros + body


class Cid:
    """A CID: its binary form, version, codec and multihash."""

    __slots__ = ("raw", "version", "codec", "mh", "mh_code", "digest")

    def __init__(self, raw, version, codec, mh, mh_code, digest):
        self.raw, self.version, self.codec = raw, version, codec
        self.mh, self.mh_code, self.digest = mh, mh_code, digest

    @classmethod
    def read(cls, buf, pos=0):
        """A binary CID at `pos` of `buf`: (Cid, position after it)."""
        start = pos
        if pos + 1 < len(buf) and buf[pos] == 0x12 and buf[pos + 1] == 0x20:
            end = pos + 34
            if end > len(buf):
                raise BadCid("truncated multihash")
            mh = bytes(buf[pos:end])
            return cls(mh, 0, DAG_PB, mh, SHA2_256, mh[2:]), end
        version, pos = read_uvarint(buf, pos)
        if version != 1:
            raise BadCid("unsupported CID version %d" % version)
        codec, pos = read_uvarint(buf, pos)
        mh_start = pos
        code, pos = read_uvarint(buf, pos)
        length, pos = read_uvarint(buf, pos)
        end = pos + length
        if end > len(buf):
            raise BadCid("truncated multihash")
        return cls(bytes(buf[start:end]), 1, codec, bytes(buf[mh_start:end]), code,
                   bytes(buf[pos:end])), end

    @classmethod
    def from_bytes(cls, data):
        cid, end = cls.read(data, 0)
        if end != len(data):
            raise BadCid("trailing bytes after the CID")
        return cid

    @classmethod
    def parse(cls, text):
        """A CID in text: CIDv0 (base58btc `Qm…`) or a multibase CIDv1."""
        if not text:
            raise BadCid("empty CID")
        if len(text) == 46 and text.startswith("Qm"):
            return cls.from_bytes(b58decode(text))
        prefix, body = text[0], text[1:]
        if prefix in "bB":
            data = b32decode(body)
        elif prefix == "z":
            data = b58decode(body)
        elif prefix in "fF":
            try:
                data = bytes.fromhex(body)
            except ValueError:
                raise BadCid("bad base16") from None
        elif prefix in "kK":
            data = b36decode(body)
        else:
            raise BadCid("unsupported CID encoding: %r" % text)
        if data[:1] == b"\x12":
            raise BadCid("a CIDv0 must be written in base58btc")
        return cls.from_bytes(data)

    def __str__(self):
        if self.version == 0:
            return b58encode(self.raw)
        return "b" + base64.b32encode(self.raw).decode().rstrip("=").lower()

    def is_identity(self):
        return self.mh_code == IDENTITY


# ------------------------------------------------------------------ protobuf

def pb_fields(buf):
    """The fields of a protobuf message: (number, wire type, value) in order."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = read_uvarint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_uvarint(buf, pos)
        elif wire == 2:
            length, pos = read_uvarint(buf, pos)
            if pos + length > end:
                raise ValueError("truncated protobuf field")
            value = buf[pos:pos + length]
            pos += length
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("unsupported protobuf wire type %d" % wire)
        yield number, wire, value


class PbLink:
    __slots__ = ("cid", "name", "tsize")

    def __init__(self, cid, name, tsize):
        self.cid, self.name, self.tsize = cid, name, tsize


class PbNode:
    """A dag-pb node: links (PBNode field 2) and data (field 1)."""

    __slots__ = ("links", "data")

    def __init__(self, block):
        self.links, self.data = [], None
        for number, wire, value in pb_fields(block):
            if number == 2 and wire == 2:
                cid, name, tsize = None, None, None
                for n, w, v in pb_fields(value):
                    if n == 1 and w == 2:
                        cid = Cid.from_bytes(bytes(v))
                    elif n == 2 and w == 2:
                        name = bytes(v).decode("utf-8", "surrogateescape")
                    elif n == 3 and w == 0:
                        tsize = v
                if cid is None:
                    raise ValueError("dag-pb link without a hash")
                self.links.append(PbLink(cid, name, tsize))
            elif number == 1 and wire == 2:
                self.data = bytes(value)


class UnixFs:
    """The UnixFS Data message of a dag-pb node."""

    RAW, DIRECTORY, FILE, METADATA, SYMLINK, HAMT = range(6)

    def __init__(self, data):
        self.type, self.data, self.filesize = None, b"", None
        self.blocksizes, self.hash_type, self.fanout = [], None, None
        for number, wire, value in pb_fields(data):
            if number == 1 and wire == 0:
                self.type = value
            elif number == 2 and wire == 2:
                self.data = bytes(value)
            elif number == 3 and wire == 0:
                self.filesize = value
            elif number == 4 and wire == 0:
                self.blocksizes.append(value)
            elif number == 4 and wire == 2:
                pos = 0
                while pos < len(value):
                    size, pos = read_uvarint(value, pos)
                    self.blocksizes.append(size)
            elif number == 5 and wire == 0:
                self.hash_type = value
            elif number == 6 and wire == 0:
                self.fanout = value
        if self.type is None:
            raise ValueError("UnixFS data without a type")

    def size(self):
        if self.filesize is not None:
            return self.filesize
        return len(self.data) + sum(self.blocksizes)


def unixfs_of(block):
    """(PbNode, UnixFs or None) of a dag-pb block; None, None when it does not decode."""
    try:
        node = PbNode(block)
    except (ValueError, BadCid):
        return None, None
    try:
        fs = UnixFs(node.data) if node.data is not None else None
    except (ValueError, BadCid):
        fs = None
    return node, fs


# --------------------------------------------------------------------- CBOR

def cbor_links(buf):
    """The CIDs (tag 42) of a dag-cbor block, in the order they are encoded."""
    found = []

    def head(pos):
        ib = buf[pos]
        major, info = ib >> 5, ib & 31
        pos += 1
        if info < 24:
            return major, info, pos
        if info in (24, 25, 26, 27):
            width = 1 << (info - 24)
            return major, int.from_bytes(buf[pos:pos + width], "big"), pos + width
        if info == 31:
            return major, None, pos
        raise ValueError("bad CBOR head")

    def item(pos, depth=0):
        if depth > 512:
            raise ValueError("CBOR nested too deep")
        major, arg, pos = head(pos)
        if major in (0, 1):
            return pos
        if major in (2, 3):
            if arg is None:
                while buf[pos] != 0xFF:
                    pos = item(pos, depth + 1)
                return pos + 1
            return pos + arg
        if major in (4, 5):
            per = 1 if major == 4 else 2
            if arg is None:
                while buf[pos] != 0xFF:
                    pos = item(pos, depth + 1)
                return pos + 1
            for _ in range(arg * per):
                pos = item(pos, depth + 1)
            return pos
        if major == 6:
            if arg == 42:
                inner_major, length, start = head(pos)
                if inner_major == 2 and length and buf[start] == 0:
                    try:
                        found.append(Cid.from_bytes(bytes(buf[start + 1:start + length])))
                    except BadCid:
                        pass
            return item(pos, depth + 1)
        return pos  # simple values and floats: the head covers them

    try:
        item(0)
    except (IndexError, ValueError):
        pass
    return found


# ----------------------------------------------------------------- murmur3

M64 = (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _fmix(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    return k ^ (k >> 33)


def murmur3_64(data):
    """The first 64 bits of MurmurHash3 x64_128 (seed 0), as 8 big-endian bytes:
    the hash UnixFS HAMT directories use (hashType 0x22)."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = 0
    n = len(data) // 16
    for i in range(n):
        k1 = int.from_bytes(data[16 * i:16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8:16 * i + 16], "little")
        h1 ^= (_rotl((k1 * c1) & M64, 31) * c2) & M64
        h1 = (((_rotl(h1, 27) + h2) & M64) * 5 + 0x52DCE729) & M64
        h2 ^= (_rotl((k2 * c2) & M64, 33) * c1) & M64
        h2 = (((_rotl(h2, 31) + h1) & M64) * 5 + 0x38495AB5) & M64
    tail = data[16 * n:]
    if len(tail) > 8:
        h2 ^= (_rotl((int.from_bytes(tail[8:], "little") * c2) & M64, 33) * c1) & M64
    if tail:
        h1 ^= (_rotl((int.from_bytes(tail[:8], "little") * c1) & M64, 31) * c2) & M64
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & M64
    return h1.to_bytes(8, "big")


# ------------------------------------------------------------------ blocks

class Store:
    """Blocks by multihash, in the order they were loaded."""

    def __init__(self):
        self.blocks = {}  # multihash -> bytes-like
        self.order = []   # (Cid, multihash) in load order

    def load_car(self, path):
        with open(path, "rb") as f:
            buf = memoryview(f.read())
        length, pos = read_uvarint(buf, 0)
        if bytes(buf[pos:pos + length]) == bytes.fromhex("a16776657273696f6e02"):
            # CARv2: an 11-byte pragma, then a 40-byte header whose data offset and
            # size (little-endian u64s after 16 bytes of characteristics) frame a CARv1.
            header = buf[11:51]
            offset = int.from_bytes(header[16:24], "little")
            size = int.from_bytes(header[24:32], "little")
            buf = buf[offset:offset + size]
            length, pos = read_uvarint(buf, 0)
        pos += length  # the CARv1 header: roots do not matter here
        while pos < len(buf):
            length, pos = read_uvarint(buf, pos)
            if length == 0:
                continue
            end = pos + length
            if end > len(buf):
                sys.stderr.write("%s: truncated section at byte %d ignored\n" % (path, pos))
                break
            cid, data_start = Cid.read(buf, pos)
            if cid.mh not in self.blocks:
                self.blocks[cid.mh] = buf[data_start:end]
                self.order.append((cid, cid.mh))
            pos = end

    def get(self, cid):
        if cid.is_identity():
            return cid.digest
        return self.blocks.get(cid.mh)

    def first_other(self, exclude):
        """The first loaded block whose multihash is not in `exclude`: (Cid, data) or None."""
        for cid, mh in self.order:
            if mh not in exclude:
                return cid, self.blocks[mh]
        return None


def links_of(cid, data):
    if cid.codec == DAG_PB:
        node, _ = unixfs_of(data)
        return [link.cid for link in node.links] if node else []
    if cid.codec == DAG_CBOR:
        return cbor_links(data)
    return []


class Missing(Exception):
    pass


class CarPlan:
    """The sections of a CAR answer, worked out before anything is sent."""

    def __init__(self, store, dups):
        self.store = store
        self.dups = dups
        self.sections = []  # (Cid, data)
        self.seen = set()
        self.complete = True

    def fetch(self, cid):
        """A block the answer needs; a missing one ends the walk (the stream is cut
        there, as the spec asks of a gateway that lacks a child block)."""
        data = self.store.get(cid)
        if data is None:
            self.complete = False
            raise Missing()
        return data

    def emit(self, cid, data):
        """Adds a block; False when it was sent already and duplicates are not wanted."""
        if not self.dups and cid.raw in self.seen:
            return False
        self.seen.add(cid.raw)
        if not cid.is_identity():
            if self.dups and len(self.sections) >= MAX_DUP_SECTIONS:
                # dups=y over a DAG that shares much can grow without bound: cut it.
                self.complete = False
                raise Missing()
            self.sections.append((cid, data))
        return True

    def all(self, cid, data):
        """The whole DAG under `cid`, depth first (iterative: DAGs can be deep)."""
        stack = [(cid, data)]
        while stack:
            cid, data = stack.pop()
            if data is None:
                data = self.fetch(cid)
            if not self.emit(cid, data):
                continue
            children = links_of(cid, data)
            stack.extend((child, None) for child in reversed(children))

    def entity(self, cid, data, byte_range):
        """The blocks of the UnixFS entity at `cid` (all of a file, or those of the
        range; a directory's own blocks; any other block alone)."""
        if cid.codec == RAW:
            if byte_range is not None:
                self.resolve(byte_range, len(data))
            self.emit(cid, data)
            return
        if cid.codec != DAG_PB:
            self.emit(cid, data)
            return
        node, fs = unixfs_of(data)
        if fs is None:
            self.emit(cid, data)
            return
        if fs.type in (UnixFs.FILE, UnixFs.RAW):
            if byte_range is None:
                self.all(cid, data)
                return
            first, last = self.resolve(byte_range, fs.size())
            self.file_range(cid, data, first, last)
        elif fs.type == UnixFs.HAMT:
            self.hamt_shards(cid, data)
        else:
            self.emit(cid, data)

    @staticmethod
    def resolve(byte_range, size):
        """Absolute inclusive [first, last] of an entity-bytes range (negative offsets
        count from the end, None is the end). A range starting past the end is refused
        (the spec's 400); an empty one selects no block below the entity's root."""
        start, stop = byte_range
        if start < 0:
            start = max(0, size + start)
        if stop is None:
            stop = size - 1
        elif stop < 0:
            stop = size + stop
        if start >= size > 0:
            raise OutOfRange()
        return start, min(stop, size - 1)

    def file_range(self, cid, data, first, last):
        """The blocks of a file needed for its bytes [first, last] (relative to it)."""
        if not self.emit(cid, data) or cid.codec != DAG_PB:
            return
        node, fs = unixfs_of(data)
        if fs is None:
            return
        offset = len(fs.data)
        for i, link in enumerate(node.links):
            if offset > last:
                break
            child = None
            if i < len(fs.blocksizes):
                size = fs.blocksizes[i]
            else:
                child = self.fetch(link.cid)
                size = self.entity_size(link.cid, child)
            if offset + size - 1 >= first and size > 0:
                if child is None:
                    child = self.fetch(link.cid)
                self.file_range(link.cid, child, max(first, offset) - offset,
                                min(last, offset + size - 1) - offset)
            offset += size

    @staticmethod
    def entity_size(cid, data):
        if cid.codec == DAG_PB:
            _, fs = unixfs_of(data)
            return fs.size() if fs else 0
        return len(data)

    def hamt_shards(self, cid, data):
        """A HAMT directory's own blocks: its shards, not the entries."""
        if not self.emit(cid, data):
            return
        node, fs = unixfs_of(data)
        if fs is None or fs.type != UnixFs.HAMT:
            return
        width = len("%X" % ((fs.fanout or 256) - 1))
        for link in node.links:
            if link.name is not None and len(link.name) == width:
                self.hamt_shards(link.cid, self.fetch(link.cid))


class NotFound(Exception):
    pass


class OutOfRange(Exception):
    pass


def resolve_path(plan, cid, data, segments):
    """Walks `segments` from (cid, data) through UnixFS directories (plain and HAMT),
    adding the blocks it crosses to the plan; returns the (cid, data) at the end."""
    for segment in segments:
        node, fs = unixfs_of(data) if cid.codec == DAG_PB else (None, None)
        if fs is None:
            raise NotFound("no link named %r" % segment)
        plan.emit(cid, data)
        if fs.type == UnixFs.DIRECTORY:
            target = next((l.cid for l in node.links if l.name == segment), None)
        elif fs.type == UnixFs.HAMT:
            target = hamt_find(plan, node, fs, segment)
        else:
            target = None
        if target is None:
            raise NotFound("no link named %r" % segment)
        data = plan.store.get(target)
        if data is None:
            raise NotFound("block not found")
        cid = target
    return cid, data


def hamt_find(plan, node, fs, name):
    """The CID `name` points to in a HAMT directory, adding the shards visited
    (below the first, which the caller adds) to the plan."""
    fanout = fs.fanout or 256
    bits = fanout.bit_length() - 1
    if fanout != 1 << bits:
        return None
    width = len("%X" % (fanout - 1))
    digest = murmur3_64(name.encode("utf-8", "surrogateescape"))
    depth = 0
    while True:
        # The index at this depth: the next `bits` bits of the hash, most significant first.
        start = depth * bits
        if start + bits > 64:
            return None
        index = (int.from_bytes(digest, "big") >> (64 - start - bits)) & (fanout - 1)
        prefix = "%0*X" % (width, index)
        shard = None
        for link in node.links:
            if link.name is None or not link.name.startswith(prefix):
                continue
            if len(link.name) == width:
                shard = link.cid
                break
            if link.name[width:] == name:
                return link.cid
        if shard is None:
            return None
        data = plan.store.get(shard)
        if data is None:
            return None
        plan.emit(shard, data)
        node, fs = unixfs_of(data)
        if fs is None or fs.type != UnixFs.HAMT:
            return None
        depth += 1


def car_header(root):
    """A CARv1 header (varint length + dag-cbor {roots: [root], version: 1})."""
    link = b"\0" + root.raw
    n = len(link)
    if n < 24:
        head = bytes([0x40 + n])
    elif n < 256:
        head = bytes([0x58, n])
    else:
        head = bytes([0x59]) + n.to_bytes(2, "big")
    body = (b"\xa2\x65roots\x81\xd8\x2a" + head + link + b"\x67version\x01")
    return uvarint(len(body)) + body


# ------------------------------------------------------------------- server

class Gateway:
    """What the handler threads share."""

    def __init__(self, args):
        self.store = Store()
        for path in args.car or []:
            self.store.load_car(path)
        self.files_dir = os.path.realpath(args.files_dir) if args.files_dir else None
        self.files_cache_control = args.files_cache_control
        self.providers = {}
        if args.providers:
            with open(args.providers, encoding="utf-8") as f:
                table = json.load(f)
            for key, entries in table.items():
                try:
                    self.providers.setdefault(Cid.parse(key).mh, []).extend(entries)
                except BadCid:
                    continue
        self.fault = args.fault
        self.fault_every = max(1, args.fault_every)
        self.fault_after = max(0, args.fault_after)
        self.stall_seconds = args.stall_seconds
        self.lock = threading.Lock()
        self.count = 0
        self.bytes_sent = 0
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None

    def next_request(self):
        with self.lock:
            self.count += 1
            return self.count

    def is_faulty(self, n):
        if not self.fault or n <= self.fault_after:
            return False
        return (n - self.fault_after - 1) % self.fault_every == 0

    def sent(self, n):
        with self.lock:
            self.bytes_sent += n

    def write_log(self, entry):
        if self.log is None:
            return
        line = json.dumps(entry)
        with self.lock:
            self.log.write(line + "\n")
            self.log.flush()


class Handler(BaseHTTPRequestHandler):
    server_version = "trustless-fixture/1"
    protocol_version = "HTTP/1.1"

    # -- plumbing

    def log_message(self, format, *args):  # no access log on stderr
        pass

    def setup(self):
        super().setup()
        self.entry = None
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle(self):
        try:
            super().handle()
        except HANGUPS:
            self.close_connection = True

    def do_GET(self):
        self.answer()

    def do_HEAD(self):
        self.answer()

    @property
    def gw(self):
        return self.server.gateway

    def answer(self):
        gw = self.gw
        n = gw.next_request()
        self.entry = None
        target = urllib.parse.urlsplit(self.path)
        if target.path == "/_stats":
            with gw.lock:
                stats = {"requests": gw.count, "bytes": gw.bytes_sent}
            self.simple(200, json.dumps(stats).encode(), "application/json")
            return
        self.entry = {
            "n": n, "method": self.command, "path": self.path, "status": None,
            "accept": self.headers.get("Accept", ""), "time": None,
        }
        self.fault = gw.fault if gw.is_faulty(n) else None
        if self.fault == "slow-start":
            time.sleep(SLOW_START_SECONDS)
        try:
            if self.fault in REPLACING:
                self.replaced()
            else:
                self.route(target)
        except HANGUPS:
            self.close_connection = True

    def log_status(self, status, **extra):
        self.entry["status"] = status
        self.entry["time"] = time.time()
        self.entry.update(extra)
        self.gw.write_log(self.entry)

    def simple(self, status, body, ctype="text/plain", headers=(), log=True, **extra):
        if log and self.entry is not None:
            self.log_status(status, **extra)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
            self.gw.sent(len(body))

    def error(self, status, message):
        self.simple(status, (message + "\n").encode())

    def replaced(self):
        fault = self.fault
        if fault == "429":
            self.simple(429, b"slow down\n", headers=[("Retry-After", "1")])
        elif fault == "500":
            self.simple(500, b"internal error\n")
        elif fault == "notfound":
            self.simple(404, b"not found\n")
        elif fault == "redirect-loop":
            self.simple(302, b"", headers=[("Location", self.path)])
        elif fault == "html200":
            self.simple(200, b"<html><body>Gateway error</body></html>", "text/html",
                        fault=fault)

    def send_body(self, status, headers, pieces, total, fault):
        """Sends headers, then `pieces` (bytes-likes adding up to `total` bytes) with
        the byte-level faults: corrupt (first byte flipped), truncate (first half only:
        the caller declared that length), stall (first half, a pause, hang up), drip."""
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        limit = total
        if fault in ("truncate", "stall"):
            limit = total // 2
        write = self.wfile.write
        if fault == "drip":
            self.wfile.flush()
            first = True
            for piece in pieces:
                for i in range(len(piece)):
                    if not first:
                        time.sleep(DRIP_INTERVAL)
                    first = False
                    write(bytes(piece[i:i + 1]))
                    self.gw.sent(1)
            return
        sent = 0
        pending, pending_len = [], 0
        for piece in pieces:
            if sent + len(piece) > limit:
                piece = piece[:limit - sent]
            if fault == "corrupt" and sent == 0 and len(piece):
                piece = bytes([piece[0] ^ 0xFF]) + bytes(piece[1:])
            if len(piece) >= 65536:
                if pending:
                    write(b"".join(pending))
                    pending, pending_len = [], 0
                write(piece)
            elif len(piece):
                pending.append(piece)
                pending_len += len(piece)
                if pending_len >= 65536:
                    write(b"".join(pending))
                    pending, pending_len = [], 0
            sent += len(piece)
            self.gw.sent(len(piece))
            if sent >= limit:
                break
        if pending:
            write(b"".join(pending))
        if fault == "stall":
            time.sleep(self.gw.stall_seconds)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- routes

    def route(self, target):
        path = target.path
        if path.startswith("/ipfs/"):
            self.ipfs(path[len("/ipfs/"):], target.query)
        elif path.startswith("/files/"):
            self.files(path[len("/files/"):])
        elif path.startswith("/routing/v1/providers/"):
            self.routing(path[len("/routing/v1/providers/"):])
        else:
            self.error(404, "unknown route")

    def ipfs(self, rest, query):
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        parts = rest.split("/")
        cid_text = urllib.parse.unquote(parts[0])
        segments = [urllib.parse.unquote(p) for p in parts[1:] if p != ""]
        if not cid_text:
            self.error(400, "missing cid")
            return
        try:
            cid = Cid.parse(cid_text)
        except BadCid as e:
            self.error(400, "invalid cid: %s" % e)
            return
        kind, accept_params = self.negotiate(params)
        if kind is None:
            self.error(406, "this gateway is trustless: ask for format=raw or format=car")
            return
        if kind == "raw":
            if segments:
                self.error(400, "paths are not allowed with format=raw")
                return
            self.raw_block(cid)
        else:
            dups = params.get("car-dups", accept_params.get("dups", "n"))
            self.car(cid, segments, params, dups == "y")

    def negotiate(self, params):
        """("raw" | "car" | None, the CAR media type's parameters from Accept)."""
        accept = {}
        kinds = set()
        for item in self.headers.get("Accept", "").split(","):
            fields = [f.strip() for f in item.split(";")]
            media = fields[0].lower()
            if media == CAR_TYPE:
                kinds.add("car")
                for field in fields[1:]:
                    key, _, value = field.partition("=")
                    accept[key.strip().lower()] = value.strip().strip('"').lower()
            elif media == RAW_TYPE:
                kinds.add("raw")
        fmt = params.get("format")
        if fmt in ("raw", "car"):
            return fmt, accept
        if fmt is not None:
            return None, accept
        if "car" in kinds:
            return "car", accept
        if "raw" in kinds:
            return "raw", accept
        return None, accept

    def raw_block(self, cid):
        gw = self.gw
        data = gw.store.get(cid)
        if data is None:
            self.error(404, "block not found")
            return
        fault = self.fault
        if fault == "wrong-block":
            other = gw.store.first_other({cid.mh})
            if other is not None:
                data = other[1]
        elif fault == "oversize":
            data = bytes(data) + bytes(OVERSIZE_PAD)
        if not fault and self.not_modified('"%s"' % cid):
            return
        extra = {"fault": fault} if fault else {}
        self.log_status(200, **extra)
        if fault == "truncate":  # truncate cuts CARs and files; a raw block goes out whole
            fault = None
        ctype = "application/octet-stream" if fault == "wrong-ctype" else RAW_TYPE
        headers = [
            ("Content-Type", ctype),
            ("Content-Length", str(len(data))),
            ("Content-Disposition", 'attachment; filename="%s.bin"' % cid),
            ("X-Content-Type-Options", "nosniff"),
            ("Cache-Control", IMMUTABLE),
            ("ETag", '"%s"' % cid),
        ]
        self.send_body(200, headers, [data], len(data), fault)

    def car(self, cid, segments, params, dups):
        gw = self.gw
        scope = params.get("dag-scope", "all")
        byte_range = None
        if "entity-bytes" in params:
            byte_range = parse_entity_bytes(params["entity-bytes"])
            if byte_range is None:
                self.error(400, "bad entity-bytes")
                return
            scope = "entity"
        data = gw.store.get(cid)
        if data is None:
            self.error(404, "block not found")
            return
        plan = CarPlan(gw.store, dups)
        try:
            end_cid, end_data = resolve_path(plan, cid, data, segments)
        except NotFound as e:
            self.error(404, str(e))
            return
        try:
            if scope == "block":
                plan.emit(end_cid, end_data)
            elif scope == "entity":
                plan.entity(end_cid, end_data, byte_range)
            else:
                plan.all(end_cid, end_data)
        except OutOfRange:
            self.error(400, "range out of bounds")
            return
        except Missing:
            pass
        sections = plan.sections
        fault = self.fault
        if fault and sections:
            sections = self.car_fault(sections, fault)
        pieces = [car_header(cid)]
        for section_cid, section_data in sections:
            pieces.append(uvarint(len(section_cid.raw) + len(section_data)) + section_cid.raw)
            pieces.append(section_data)
        total = sum(len(p) for p in pieces)
        etag = '"%s.car.%s"' % (cid, hashlib.sha256(
            repr((segments, scope, byte_range, dups)).encode()).hexdigest()[:16])
        if not fault and self.not_modified(etag):
            return
        self.log_status(200, fault=fault, blocks=len(sections), complete=plan.complete)
        ctype = "%s; version=1; order=dfs; dups=%s" % (CAR_TYPE, "y" if dups else "n")
        if fault == "wrong-ctype":
            ctype = "application/octet-stream"
        headers = [
            ("Content-Type", ctype),
            ("Content-Length", str(total // 2 if fault == "truncate" else total)),
            ("Content-Disposition", 'attachment; filename="%s.car"' % cid),
            ("X-Content-Type-Options", "nosniff"),
            ("ETag", etag),
        ]
        # Block-level faults are in the sections already; only the byte-level ones are left.
        self.send_body(200, headers, pieces, total,
                       fault if fault in ("truncate", "stall", "drip") else None)

    def car_fault(self, sections, fault):
        sections = list(sections)
        last_cid, last_data = sections[-1]
        if fault == "corrupt":
            if len(last_data):
                sections[-1] = (last_cid, bytes([last_data[0] ^ 0xFF]) + bytes(last_data[1:]))
        elif fault == "oversize":
            sections[-1] = (last_cid, bytes(last_data) + bytes(OVERSIZE_PAD))
        elif fault in ("wrong-block", "extra"):
            other = self.gw.store.first_other({c.mh for c, _ in sections})
            if other is not None:
                if fault == "wrong-block":
                    sections[-1] = (last_cid, other[1])
                else:
                    sections.insert(1, other)
        elif fault == "missing-child":
            if len(sections) > 1:  # a child: never the root
                del sections[len(sections) // 2]
        elif fault == "dup":
            sections.append(sections[0])
        return sections

    def files(self, name):
        gw = self.gw
        name = urllib.parse.unquote(name)
        path = None
        if gw.files_dir and name:
            candidate = os.path.realpath(os.path.join(gw.files_dir, name))
            if candidate.startswith(gw.files_dir + os.sep) and os.path.isfile(candidate):
                path = candidate
        if path is None:
            self.error(404, "no such file")
            return
        try:
            f = open(path, "rb")
        except OSError:
            self.error(404, "no such file")
            return
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            etag = '"%d-%d"' % (size, int(st.st_mtime))
            if self.not_modified(etag):
                return
            span = self.wanted_range(size, etag)
            if span == "unsatisfiable":
                self.simple(416, b"", headers=[("Content-Range", "bytes */%d" % size)])
                return
            fault = self.fault
            extra = {"fault": fault} if fault else {}
            headers = [("Content-Type", "application/octet-stream")]
            if span is None:
                status, start, length = 200, 0, size
            else:
                status, start, length = 206, span[0], span[1] - span[0] + 1
            declared = length // 2 if fault == "truncate" else length
            headers += [("Content-Length", str(declared)), ("Accept-Ranges", "bytes"),
                        ("ETag", etag)]
            if gw.files_cache_control:
                headers.append(("Cache-Control", gw.files_cache_control))
            if status == 206:
                headers.append(("Content-Range",
                                "bytes %d-%d/%d" % (start, start + length - 1, size)))
            self.log_status(status, **extra)
            if fault in ("corrupt", "truncate", "stall", "drip") or self.command == "HEAD":
                f.seek(start)
                self.send_body(status, headers, read_chunks(f, length), length, fault)
                return
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.end_headers()
            if length:
                self.wfile.flush()
                self.connection.sendfile(f, start, length)
                gw.sent(length)

    def not_modified(self, etag):
        """Answers 304 (with the ETag, no body) when If-None-Match names `etag` or is `*`
        (weak comparison, RFC 9110 13.1.2); returns whether it did."""
        value = self.headers.get("If-None-Match")
        if value is None:
            return False
        tags = [t.strip() for t in value.split(",")]
        bare = lambda t: t[2:] if t.startswith("W/") else t
        if "*" not in tags and bare(etag) not in (bare(t) for t in tags):
            return False
        self.log_status(304)
        self.send_response(304)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return True

    def wanted_range(self, size, etag):
        """None (the whole file), (first, last) or "unsatisfiable", from Range and If-Range."""
        value = self.headers.get("Range")
        if not value:
            return None
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range.strip() != etag:
            return None
        unit, _, spec = value.strip().partition("=")
        if unit.strip().lower() != "bytes" or "," in spec:
            return None
        first, dash, last = spec.strip().partition("-")
        if not dash:
            return None
        try:
            if first == "":
                suffix = int(last)
                if suffix <= 0:
                    return "unsatisfiable" if suffix == 0 else None
                return (max(0, size - suffix), size - 1) if size else "unsatisfiable"
            start = int(first)
            end = int(last) if last.strip() != "" else None
        except ValueError:
            return None
        if start < 0 or (end is not None and end < start):
            return None  # not a valid range: ignored (RFC 9110 14.2)
        if start >= size:
            return "unsatisfiable"
        return start, size - 1 if end is None else min(end, size - 1)

    def routing(self, cid_text):
        gw = self.gw
        try:
            cid = Cid.parse(urllib.parse.unquote(cid_text))
        except BadCid:
            self.error(400, "invalid cid")
            return
        entries = gw.providers.get(cid.mh, [])
        if not entries:
            self.error(404, "no providers")
            return
        providers = []
        for entry in entries:
            record = {"Schema": "peer", "Protocols": ["transport-bitswap"]}
            record.update({k: v for k, v in entry.items() if k not in ("Schema",)})
            record["ID"] = entry.get("ID")
            record["Addrs"] = list(entry.get("Addrs", []))
            providers.append(record)
        body = json.dumps({"Providers": providers}).encode()
        self.simple(200, body, "application/json")


def read_chunks(f, length, size=1 << 20):
    while length > 0:
        chunk = f.read(min(size, length))
        if not chunk:
            return
        length -= len(chunk)
        yield chunk


def parse_entity_bytes(value):
    """(from, to or None for `*`) of `from:to`, or None when malformed."""
    first, colon, last = value.partition(":")
    if not colon:
        return None
    try:
        start = int(first)
        end = None if last.strip() == "*" else int(last)
    except ValueError:
        return None
    return start, end


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], HANGUPS):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--car", action="append", default=[], help="CAR file to serve (repeatable)")
    parser.add_argument("--files-dir", help="folder served under /files/")
    parser.add_argument("--files-cache-control",
                        help="a Cache-Control header for /files/ answers (e.g. max-age=60)")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the port here once listening")
    parser.add_argument("--log", help="append one JSON line per request")
    parser.add_argument("--providers", help='JSON {"<cid>": [{"ID": ..., "Addrs": [...]}]}')
    parser.add_argument("--fault", choices=FAULTS, help="misbehave on purpose")
    parser.add_argument("--fault-every", type=int, default=1, help="fault every Nth request")
    parser.add_argument("--fault-after", type=int, default=0,
                        help="the first N requests are served cleanly")
    parser.add_argument("--stall-seconds", type=float, default=30.0,
                        help="how long `stall` holds a response")
    args = parser.parse_args(argv)

    server = Server(("127.0.0.1", args.port), Handler)
    server.gateway = Gateway(args)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    sys.stdout.write("LISTENING http://127.0.0.1:%d\n" % port)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
