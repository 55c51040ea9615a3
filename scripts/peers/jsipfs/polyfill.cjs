// Loaded with `node --require` before js-ipfs: its lock library (mortice -> it-queue) calls
// Promise.withResolvers, which Node.js has only from version 22.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    const out = {};
    out.promise = new Promise((resolve, reject) => {
      out.resolve = resolve;
      out.reject = reject;
    });
    return out;
  };
}
