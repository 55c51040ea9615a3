#!/usr/bin/env node
/*
 * A Helia (JS IPFS: helia 7, libp2p 3, @helia/bitswap) test peer for trove's
 * interop tests and benchmarks. It listens and dials on 127.0.0.1 only and
 * speaks TCP + noise + yamux + identify + bitswap 1.2.0, nothing else: no DHT,
 * no mDNS, no bootstrap, no delegated routing, no HTTP gateways, no
 * websockets/webrtc, no autonat/upnp/relay. Blocks live in memory.
 *
 *   node helia_peer.mjs serve [--port P] [--add PATH ...] [--profile PROFILE]
 *                             [--connect MULTIADDR ...]
 *       Listens on /ip4/127.0.0.1/tcp/P (default 0 = random), imports each
 *       PATH (file, or directory recursively, nested dirs and dotfiles
 *       included, symlinks followed) with @helia/unixfs, dials each --connect
 *       address, then prints ONE JSON line
 *         {"peer_id": ..., "multiaddrs": ["/ip4/127.0.0.1/tcp/../p2p/.."],
 *          "added": {"<abs path>": "<root cid>"}}
 *       and a line READY on stdout, and serves the blocks over bitswap until
 *       SIGTERM/SIGINT (then stops the node and exits 0).
 *
 *   node helia_peer.mjs fetch --connect MULTIADDR --cid CID --out PATH
 *                             [--timeout SECONDS] [--port P]
 *       Starts a node, dials MULTIADDR, fetches the whole UnixFS DAG of CID
 *       over bitswap and writes it to PATH (a file, or a directory tree), then
 *       prints one JSON line
 *         {"ok": true|false, "seconds": S, "bytes": N, "error": "..."}
 *       (seconds = download time after the dial, node start excluded; bytes =
 *       total file bytes written; error only when not ok). Exit 0 on success,
 *       1 on failure. --timeout (default 120) bounds the whole command: node
 *       start, dial and download. Blocks are asked of every connected peer
 *       (no session, no routing), directories' children 8 at a time.
 *
 *   node helia_peer.mjs gateway-fetch --gateway URL --cid CID --out PATH
 *                                     [--timeout SECONDS]
 *       A Helia node with no libp2p at all (createHeliaLight + @helia/http's
 *       withHTTP): blocks come only from the trustless gateway URL (its
 *       recursive gateway, loopback and plain http allowed, no delegated
 *       routers), verified by Helia. Writes the UnixFS DAG of CID to PATH
 *       and prints the same JSON line as `fetch`.
 *
 *   node helia_peer.mjs hash PATH [--profile PROFILE]
 *       Prints the root CID Helia's importer gives PATH; no network node.
 *
 * Profiles (every importer setting is spelled out in importerOptions()):
 *   v1-raw-1m   (default) @helia/unixfs 8 defaults: CIDv1, raw leaves,
 *               1 MiB (1048576 B) fixed chunks, balanced DAG of 1024 links.
 *   v0-pb-256k  like Kubo's `ipfs add`: CIDv0, dag-pb (UnixFS "file") leaves,
 *               256 KiB (262144 B) chunks, balanced DAG of 174 links.
 *   Both: single-chunk files reduced to their leaf, no mtime/mode, HAMT
 *   sharding for directories whose links exceed 256 KiB ("links-bytes").
 *   v0-pb-256k gives Kubo's CIDs (checked against Kubo 0.22: files of 100 B
 *   to 16 MiB, a 2-level DAG, empty file, nested dirs with dotfiles);
 *   v1-raw-1m gives the CIDs of trove's `add --profile unixfs-v1-2025`.
 *
 * Logs and errors go to stderr only; stdout carries just the lines above.
 * Debugging: DEBUG='helia:bitswap*' logs Helia's bitswap decisions (add
 * ',libp2p:yamux*' for the muxer); HELIA_PEER_WIRE=1 logs every bitswap
 * message sent or received (bytes, block sizes, presences, wantlist entries).
 * Works on Node 20 via ./polyfill.mjs (Promise.withResolvers) and the undici
 * 7 override in package.json (undici 8 needs Node >= 22.19 and breaks at
 * import time on Node 20).
 */
import './polyfill.mjs'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { setMaxListeners } from 'node:events'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'

const USAGE = `usage:
  helia_peer.mjs serve [--port P] [--add PATH ...] [--profile v1-raw-1m|v0-pb-256k] [--connect MULTIADDR ...]
  helia_peer.mjs fetch --connect MULTIADDR --cid CID --out PATH [--timeout SECONDS] [--port P]
  helia_peer.mjs gateway-fetch --gateway URL --cid CID --out PATH [--timeout SECONDS]
  helia_peer.mjs hash PATH [--profile v1-raw-1m|v0-pb-256k]`

const PROFILE_NAMES = ['v1-raw-1m', 'v0-pb-256k']

function die (msg) {
  process.stderr.write(`helia_peer: ${msg}\n${USAGE}\n`)
  process.exit(2)
}

function log (...parts) {
  process.stderr.write(`helia_peer: ${parts.join(' ')}\n`)
}

/** ipfs-unixfs-importer options for a profile, every relevant knob explicit. */
async function importerOptions (profile) {
  const { fixedSize } = await import('ipfs-unixfs-importer/chunker')
  const { balanced } = await import('ipfs-unixfs-importer/layout')
  const common = {
    reduceSingleLeafToSelf: true,
    wrapWithDirectory: false,
    shardSplitStrategy: 'links-bytes',
    shardSplitThresholdBytes: 262_144,
    fieldOrder: 'links-first'
  }
  if (profile === 'v1-raw-1m') {
    return {
      ...common,
      cidVersion: 1,
      rawLeaves: true,
      chunker: fixedSize({ chunkSize: 1_048_576 }),
      layout: balanced({ maxChildrenPerNode: 1024 })
    }
  }
  if (profile === 'v0-pb-256k') {
    return {
      ...common,
      cidVersion: 0,
      rawLeaves: false,
      leafType: 'file',
      chunker: fixedSize({ chunkSize: 262_144 }),
      layout: balanced({ maxChildrenPerNode: 174 })
    }
  }
  die(`unknown profile ${profile} (one of ${PROFILE_NAMES.join(', ')})`)
}

/** Import candidates for PATH: a file, or a directory tree (sorted, depth first). */
async function * candidates (absPath) {
  const base = path.basename(absPath)
  const st = await fsp.stat(absPath)
  if (st.isFile()) {
    yield { path: base, content: fs.createReadStream(absPath) }
    return
  }
  if (!st.isDirectory()) {
    throw new Error(`${absPath} is neither a file nor a directory`)
  }
  async function * walk (dir, rel) {
    yield { path: rel } // directories are listed too, so empty ones survive
    const names = (await fsp.readdir(dir)).sort()
    for (const name of names) {
      const full = path.join(dir, name)
      const s = await fsp.stat(full)
      if (s.isDirectory()) {
        yield * walk(full, `${rel}/${name}`)
      } else if (s.isFile()) {
        yield { path: `${rel}/${name}`, content: fs.createReadStream(full) }
      } else {
        log(`skipping ${full}: not a file or directory`)
      }
    }
  }
  yield * walk(absPath, base)
}

/** Imports PATH into blockstore, returns the root CID (string). */
async function importPath (blockstore, absPath, profile) {
  const { importer } = await import('ipfs-unixfs-importer')
  const opts = await importerOptions(profile)
  const base = path.basename(absPath)
  let root
  for await (const entry of importer(candidates(absPath), blockstore, opts)) {
    if (entry.path === base) {
      root = entry.cid
    }
  }
  if (root == null) {
    throw new Error(`importing ${absPath} gave no root entry`)
  }
  return root.toString()
}

/**
 * HELIA_PEER_WIRE=1: log every bitswap message this node encodes or decodes
 * (size, blocks with their sizes, presences, wantlist entries) to stderr.
 * Done by wrapping @helia/bitswap's protobuf codec, which the package does not
 * export: the file is found next to its entry point (pinned version).
 */
async function tapBitswapWire () {
  const { fileURLToPath, pathToFileURL } = await import('node:url')
  const entry = fileURLToPath(import.meta.resolve('@helia/bitswap'))
  const pb = await import(pathToFileURL(path.join(path.dirname(entry), 'pb', 'message.js')).href)
  const { BitswapMessage } = pb
  const { CID } = await import('multiformats/cid')
  const cidStr = (bytes) => { try { return CID.decode(bytes).toString() } catch { return '?' } }
  const describe = (dir, m, size) => {
    const entries = m.wantlist?.entries ?? []
    const blocks = m.blocks ?? []
    const presences = m.blockPresences ?? []
    if (entries.length === 0 && blocks.length === 0 && presences.length === 0 && dir === 'send') {
      return // splitMessage() encodes an empty message first to measure its overhead
    }
    const wants = entries.map(e => `${e.cancel === true ? 'CANCEL' : (e.wantType ?? 'WantBlock')}${e.sendDontHave === true ? '+dh' : ''}:${cidStr(e.cid)}`)
    log(`wire ${dir} ${size} B: ${blocks.length} blocks [${blocks.map(b => b.data?.byteLength).join(',')}]` +
      ` presences [${presences.map(p => `${p.type}:${cidStr(p.cid)}`).join(' ')}]` +
      ` wantlist full=${m.wantlist?.full ?? false} [${wants.join(' ')}] pendingBytes=${m.pendingBytes ?? 0}`)
  }
  const encode = BitswapMessage.encode
  const decode = BitswapMessage.decode
  BitswapMessage.encode = (obj, ...rest) => {
    const buf = encode(obj, ...rest)
    describe('send', obj, buf.byteLength)
    return buf
  }
  BitswapMessage.decode = (buf, ...rest) => {
    const m = decode(buf, ...rest)
    describe('recv', m, buf.byteLength)
    return m
  }
}

async function createNode ({ port }) {
  if (process.env.HELIA_PEER_WIRE) {
    await tapBitswapWire()
  }
  const { createHeliaLight } = await import('helia')
  const { withLibp2pLight } = await import('@helia/libp2p')
  const { withBitswap } = await import('@helia/bitswap')
  const { MemoryBlockstore } = await import('blockstore-core/memory')
  const { MemoryDatastore } = await import('datastore-core/memory')
  const { tcp } = await import('@libp2p/tcp')
  const { noise } = await import('@libp2p/noise')
  const { yamux } = await import('@libp2p/yamux')
  const { identify } = await import('@libp2p/identify')

  const helia = createHeliaLight({
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore(),
    routers: [],
    blockBrokers: []
  })
  withLibp2pLight(helia, {
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${port}`] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify() }
  })
  withBitswap(helia, {})
  await helia.start()
  return helia
}

async function stopNode (helia) {
  // never hang on shutdown: give the node 5 s
  await Promise.race([
    helia.stop().catch(err => { log(`stop failed: ${err?.message ?? err}`) }),
    new Promise(resolve => setTimeout(resolve, 5000).unref())
  ])
}

async function cmdServe (values) {
  const port = Number(values.port ?? 0)
  const profile = values.profile ?? 'v1-raw-1m'
  await importerOptions(profile) // validate before starting anything
  const { multiaddr } = await import('@multiformats/multiaddr')
  const helia = await createNode({ port })

  let stopping = false
  const shutdown = async (sig) => {
    if (stopping) return
    stopping = true
    log(`${sig}: stopping`)
    await stopNode(helia)
    process.exit(0)
  }
  process.on('SIGTERM', () => { void shutdown('SIGTERM') })
  process.on('SIGINT', () => { void shutdown('SIGINT') })

  const added = {}
  for (const p of values.add ?? []) {
    const abs = path.resolve(p)
    const t0 = performance.now()
    added[abs] = await importPath(helia.blockstore, abs, profile)
    log(`added ${abs} as ${added[abs]} (${((performance.now() - t0) / 1000).toFixed(3)} s, ${profile})`)
  }
  for (const addr of values.connect ?? []) {
    try {
      await helia.libp2p.dial(multiaddr(addr), { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      log(`warning: could not connect to ${addr}: ${err?.message ?? err}`)
    }
  }
  const multiaddrs = helia.libp2p.getMultiaddrs()
    .map(ma => ma.toString())
    .filter(ma => ma.startsWith('/ip4/127.0.0.1/'))
  const peerId = helia.libp2p.peerId.toString()
  const info = {
    peer_id: peerId,
    multiaddrs: multiaddrs.map(ma => ma.includes('/p2p/') ? ma : `${ma}/p2p/${peerId}`),
    added
  }
  process.stdout.write(JSON.stringify(info) + '\n')
  process.stdout.write('READY\n')
  // stay up: libp2p's listening socket keeps the event loop alive
}

/** Writes the UnixFS entry `cid` to `out`; returns the number of file bytes. */
let bytesWritten = 0 // running total, reported even when a fetch fails half-way
async function exportTo (fsApi, cid, out, signal) {
  // directory listings carry only name + cid: the type needs the node itself
  const { type } = await fsApi.stat(cid, { signal })
  if (type === 'directory') {
    await fsp.mkdir(out, { recursive: true })
    let bytes = 0
    const children = []
    for await (const child of fsApi.ls(cid, { signal })) {
      children.push(child)
    }
    // fetch the children of a directory concurrently (bounded)
    const queue = [...children]
    const workers = Array.from({ length: Math.min(8, queue.length) }, async () => {
      while (queue.length > 0) {
        const child = queue.shift()
        const n = await exportTo(fsApi, child.cid, path.join(out, child.name), signal)
        bytes += n // (not `bytes += await …`: that reads `bytes` before the await)
      }
    })
    await Promise.all(workers)
    return bytes
  }
  if (type === 'file' || type === 'raw' || type === 'identity') {
    let bytes = 0
    const source = (async function * () {
      for await (const buf of fsApi.cat(cid, { signal })) {
        bytes += buf.byteLength
        bytesWritten += buf.byteLength
        yield buf
      }
    })()
    await pipeline(Readable.from(source), fs.createWriteStream(out), { signal })
    return bytes
  }
  throw new Error(`cannot export ${cid} of UnixFS type ${type}`)
}

/**
 * The body of `fetch` and `gateway-fetch`: starts a node with `start(signal)` (the node
 * start and any dial count against --timeout, not against `seconds`), writes the UnixFS DAG
 * of --cid to --out, prints the JSON result line, stops the node with `stop` and exits.
 */
async function runFetch (command, values, start, stop) {
  const timeout = Number(values.timeout ?? 120)
  const out = path.resolve(values.out)
  const { CID } = await import('multiformats/cid')
  const { unixfs } = await import('@helia/unixfs')

  let helia
  let t0 = performance.now()
  let result
  const signal = AbortSignal.timeout(timeout * 1000)
  setMaxListeners(Infinity, signal) // one listener per block in flight
  try {
    const cid = CID.parse(values.cid)
    helia = await start(signal, (node) => { helia = node })
    t0 = performance.now()
    const bytes = await exportTo(unixfs(helia), cid, out, signal)
    result = { ok: true, seconds: (performance.now() - t0) / 1000, bytes }
  } catch (err) {
    result = {
      ok: false,
      seconds: (performance.now() - t0) / 1000,
      bytes: bytesWritten,
      error: (signal.aborted ? `timed out after ${timeout} s: ` : '') + String(err?.message ?? err)
    }
    log(`${command} failed: ${err?.stack ?? err}`)
  }
  result.seconds = Math.round(result.seconds * 10000) / 10000
  if (helia != null) await stop(helia)
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(result.ok ? 0 : 1)
}

async function cmdFetch (values) {
  if (values.connect == null || values.connect.length === 0) die('fetch needs --connect MULTIADDR')
  if (values.cid == null) die('fetch needs --cid CID')
  if (values.out == null) die('fetch needs --out PATH')
  const { multiaddr } = await import('@multiformats/multiaddr')
  await runFetch('fetch', values, async (signal, started) => {
    const helia = await createNode({ port: Number(values.port ?? 0) })
    started(helia) // stopped even when a dial fails
    for (const addr of values.connect) {
      await helia.libp2p.dial(multiaddr(addr), { signal })
    }
    return helia
  }, stopNode)
}

async function cmdGatewayFetch (values) {
  if (values.gateway == null) die('gateway-fetch needs --gateway URL')
  if (values.cid == null) die('gateway-fetch needs --cid CID')
  if (values.out == null) die('gateway-fetch needs --out PATH')
  const { createHeliaLight } = await import('helia')
  const { withHTTP } = await import('@helia/http')
  const { MemoryBlockstore } = await import('blockstore-core/memory')
  const { MemoryDatastore } = await import('datastore-core/memory')
  await runFetch('gateway-fetch', values, async (signal, started) => {
    const http = {
      recursiveGateways: [values.gateway],
      delegatedRouters: [],
      allowLocal: true,
      allowInsecure: true
    }
    const helia = withHTTP(createHeliaLight({
      blockstore: new MemoryBlockstore(),
      datastore: new MemoryDatastore()
    }), http)
    // Helia 7's routing waits for its non-fallback routers to finish before it asks the
    // fallback (recursive gateway) router; with none at all it waits forever (and Node exits
    // silently, nothing being left to run). A router that finds nothing at once lets it go on.
    helia.addRouter({
      name: 'nothing',
      async * findProviders () {}
    })
    await helia.start()
    started(helia)
    return helia
  }, (helia) => helia.stop())
}

async function cmdHash (values, positionals) {
  if (positionals.length !== 1) die('hash needs exactly one PATH')
  const profile = values.profile ?? 'v1-raw-1m'
  const { MemoryBlockstore } = await import('blockstore-core/memory')
  const cid = await importPath(new MemoryBlockstore(), path.resolve(positionals[0]), profile)
  process.stdout.write(cid + '\n')
}

async function main () {
  const [cmd, ...rest] = process.argv.slice(2)
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        port: { type: 'string' },
        add: { type: 'string', multiple: true },
        profile: { type: 'string' },
        connect: { type: 'string', multiple: true },
        cid: { type: 'string' },
        out: { type: 'string' },
        timeout: { type: 'string' },
        gateway: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    die(err.message)
  }
  const { values, positionals } = parsed
  if (values.help || cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE + '\n')
    return
  }
  if (cmd === 'serve') {
    if (positionals.length > 0) die(`unexpected argument ${positionals[0]}`)
    await cmdServe(values)
  } else if (cmd === 'fetch') {
    if (positionals.length > 0) die(`unexpected argument ${positionals[0]}`)
    await cmdFetch(values)
  } else if (cmd === 'gateway-fetch') {
    if (positionals.length > 0) die(`unexpected argument ${positionals[0]}`)
    await cmdGatewayFetch(values)
  } else if (cmd === 'hash') {
    await cmdHash(values, positionals)
  } else {
    die(cmd == null ? 'missing command' : `unknown command ${cmd}`)
  }
}

main().catch(err => {
  process.stderr.write(`helia_peer: ${err?.stack ?? err}\n`)
  process.exit(1)
})
