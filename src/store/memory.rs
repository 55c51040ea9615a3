//! An in-memory block store, for tests and for holding a CAR's blocks while they are checked.

use super::{BlockGetter, BlockPutter, StoreError};
use crate::content::{multihash_key, Block, Cid};
use std::collections::HashMap;
use std::sync::Mutex;

/// Blocks in a hash map keyed by multihash.
#[derive(Debug, Default)]
pub struct MemoryStore {
    blocks: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many distinct blocks are held.
    pub fn len(&self) -> usize {
        self.blocks.lock().expect("store lock").len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BlockGetter for MemoryStore {
    fn get_block(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        let map = self.blocks.lock().expect("store lock");
        match map.get(&multihash_key(cid)) {
            None => Ok(None),
            Some(data) => {
                Block::verified(*cid, data.clone())
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt {
                        cid: cid.to_string(),
                        detail: e.to_string(),
                    })
            }
        }
    }

    fn has_block(&self, cid: &Cid) -> Result<bool, StoreError> {
        Ok(self
            .blocks
            .lock()
            .expect("store lock")
            .contains_key(&multihash_key(cid)))
    }
}

impl BlockPutter for MemoryStore {
    fn put_block(&self, block: &Block) -> Result<bool, StoreError> {
        let mut map = self.blocks.lock().expect("store lock");
        let key = multihash_key(block.cid());
        if map.contains_key(&key) {
            return Ok(false);
        }
        map.insert(key, block.data().to_vec());
        Ok(true)
    }
}
