//! A CAR (v1 or v2) from untrusted bytes: the streaming reader, the verifying import into a
//! store, then the UnixFS reader over whatever verified DAG came in (files read through a
//! bounded window, directories listed and looked into, a few levels deep).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trove::car::{import_car, CarReader};
use trove::content::Cid;
use trove::store::MemoryStore;
use trove::unixfs::{NodeKind, Reader};

/// Bytes read from any one file: a DAG may declare (and, by linking one block many times,
/// really hold) far more than its CAR's size.
const READ_LIMIT: u64 = 1 << 20;

fn walk(reader: &Reader<&MemoryStore>, cid: &Cid, depth: u32) {
    if depth > 3 {
        return;
    }
    match reader.kind(cid) {
        Ok(NodeKind::File { .. }) => {
            let _ = reader.read_file(cid, 0, Some(READ_LIMIT), &mut std::io::sink());
            let _ = reader.read_file(cid, 7, Some(100), &mut std::io::sink());
        }
        Ok(NodeKind::Directory) | Ok(NodeKind::ShardedDirectory) => {
            if let Ok(entries) = reader.list(cid) {
                for entry in entries.iter().take(8) {
                    let _ = reader.lookup(cid, &entry.name);
                    walk(reader, &entry.cid, depth + 1);
                }
            }
            let _ = reader.lookup(cid, "missing-name");
        }
        _ => {}
    }
    let _ = reader.first_missing(cid);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(mut car) = CarReader::new(data) {
        while let Ok(Some(_)) = car.next_section() {}
    }
    let store = MemoryStore::new();
    if let Ok(summary) = import_car(data, &store) {
        let reader = Reader::new(&store);
        for root in summary.roots.iter().take(2) {
            walk(&reader, &root.root, 0);
        }
    }
});
