//! Reading a DAG while it is still being fetched, so that writing the output overlaps the
//! download: blocks put through a [`NotifyingStore`] wake the readers of a [`WaitingGetter`],
//! which wait for a missing block until [`Arrivals::finish`] says no more will come.

use super::{BlockGetter, BlockPutter, StoreError};
use crate::content::{Block, Cid};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How long a waiting reader sleeps before looking again even without a wake-up (a block may
/// also arrive through another process sharing the cache).
const RECHECK: Duration = Duration::from_millis(200);

/// Counts arriving blocks and whether the fetch is over.
#[derive(Debug, Default)]
pub struct Arrivals {
    state: Mutex<(u64, bool)>,
    changed: Condvar,
}

impl Arrivals {
    /// A fresh counter (not finished).
    pub fn new() -> Self {
        Self::default()
    }

    fn notify(&self) {
        self.state.lock().expect("lock").0 += 1;
        self.changed.notify_all();
    }

    /// No more blocks will arrive: waiting readers give up on what is still missing.
    pub fn finish(&self) {
        self.state.lock().expect("lock").1 = true;
        self.changed.notify_all();
    }

    fn generation(&self) -> (u64, bool) {
        *self.state.lock().expect("lock")
    }

    fn wait_past(&self, seen: u64) {
        let state = self.state.lock().expect("lock");
        let _ = self
            .changed
            .wait_timeout_while(state, RECHECK, |s| s.0 == seen && !s.1)
            .expect("lock");
    }
}

/// A store that tells [`Arrivals`] about every block put into it.
pub struct NotifyingStore<S> {
    inner: S,
    arrivals: std::sync::Arc<Arrivals>,
}

impl<S> NotifyingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, arrivals: std::sync::Arc<Arrivals>) -> Self {
        NotifyingStore { inner, arrivals }
    }
}

impl<S: BlockGetter> BlockGetter for NotifyingStore<S> {
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        self.inner.get_block(cid)
    }

    fn has_block(&self, cid: &Cid) -> Result<bool, StoreError> {
        self.inner.has_block(cid)
    }

    fn block_size(&self, cid: &Cid) -> Result<Option<u64>, StoreError> {
        self.inner.block_size(cid)
    }
}

impl<S: BlockPutter> BlockPutter for NotifyingStore<S> {
    fn put_block(&self, block: &Block) -> Result<bool, StoreError> {
        let stored = self.inner.put_block(block)?;
        self.arrivals.notify();
        Ok(stored)
    }
}

/// A getter that waits for missing blocks until the fetch is over (then reports them missing).
pub struct WaitingGetter<'a, S> {
    inner: &'a S,
    arrivals: &'a Arrivals,
}

impl<'a, S> WaitingGetter<'a, S> {
    /// Reads from `inner`, waiting on `arrivals`.
    pub fn new(inner: &'a S, arrivals: &'a Arrivals) -> Self {
        WaitingGetter { inner, arrivals }
    }
}

impl<S: BlockGetter> BlockGetter for WaitingGetter<'_, S> {
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        loop {
            let (seen, done) = self.arrivals.generation();
            if let Some(block) = self.inner.get_block(cid)? {
                return Ok(Some(block));
            }
            if done {
                return Ok(None);
            }
            self.arrivals.wait_past(seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::test_blocks::raw as block;
    use std::sync::Arc;

    #[test]
    fn a_reader_waits_for_a_block_put_later_and_gives_up_when_the_fetch_ends() {
        let arrivals = Arc::new(Arrivals::new());
        let store = NotifyingStore::new(MemoryStore::default(), arrivals.clone());
        let late = block(b"late");
        let never = block(b"never");
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let getter = WaitingGetter::new(&store, &arrivals);
                let got = getter.get_block(late.cid()).unwrap();
                let missing = getter.get_block(never.cid()).unwrap();
                (got, missing)
            });
            std::thread::sleep(Duration::from_millis(50));
            store.put_block(&late).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            arrivals.finish();
            let (got, missing) = reader.join().unwrap();
            assert_eq!(got.unwrap().data(), b"late");
            assert!(missing.is_none());
        });
    }
}
