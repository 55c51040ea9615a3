// Node 20 lacks Promise.withResolvers (Node >= 22 has it); libp2p 3's streams,
// yamux and ping call it. Loaded by helia_peer.mjs before anything from helia.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve, reject
      const promise = new this((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}
