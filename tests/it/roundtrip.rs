//! Property tests: random files and trees → import → CAR → import into a fresh store → read back
//! identical, with random import parameters (small chunks and fanouts make deep DAGs).

use crate::support::{assert_same_tree, random_tree, Rng, TreeOptions};
use proptest::prelude::*;
use trove::car::{export_dag, import_car};
use trove::extract::extract;
use trove::import::import_path;
use trove::progress::Silent;
use trove::store::MemoryStore;
use trove::unixfs::{ImportParams, Reader};

fn params_strategy() -> impl Strategy<Value = ImportParams> {
    (any::<bool>(), any::<bool>(), 1usize..5000, 2usize..12).prop_map(|(v1, raw, chunk, links)| {
        ImportParams {
            cid_version: if v1 {
                cid::Version::V1
            } else {
                cid::Version::V0
            },
            raw_leaves: raw,
            chunker: trove::unixfs::Chunker::Size(chunk),
            max_links: links,
            hash: trove::content::HashCode::Sha2_256,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn files_survive_import_car_and_read_back(
        content in proptest::collection::vec(any::<u8>(), 0..60_000),
        params in params_strategy(),
        range in (0u64..70_000, 0u64..70_000),
    ) {
        let (root, blocks) = trove::unixfs::import_bytes(&params, &content);
        let store = MemoryStore::new();
        for b in &blocks {
            trove::store::BlockPutter::put_block(&store, b).unwrap();
        }
        let mut car = Vec::new();
        export_dag(&store, &root.cid, &mut car).unwrap();
        let fresh = MemoryStore::new();
        let summary = import_car(car.as_slice(), &fresh).unwrap();
        prop_assert!(summary.is_complete());
        prop_assert_eq!(summary.roots[0].root, root.cid);
        let reader = Reader::new(&fresh);
        let mut back = Vec::new();
        reader.read_file(&root.cid, 0, None, &mut back).unwrap();
        prop_assert_eq!(&back, &content);
        let (start, len) = range;
        let mut part = Vec::new();
        reader.read_file(&root.cid, start, Some(len), &mut part).unwrap();
        let s = (start as usize).min(content.len());
        let e = (s + len as usize).min(content.len());
        prop_assert_eq!(&part[..], &content[s..e]);
    }

    #[test]
    fn trees_survive_import_car_and_extract(seed in any::<u64>(), params in params_strategy()) {
        let work = tempfile::tempdir().unwrap();
        let tree = work.path().join("tree");
        let mut rng = Rng(seed);
        random_tree(&tree, &mut rng, TreeOptions { symlinks: true, empty_dirs: true, max_file: 20_000 }, 0);
        let store = MemoryStore::new();
        let root = import_path(&tree, &params, &store, &Silent).unwrap();
        let mut car = Vec::new();
        export_dag(&store, &root.cid, &mut car).unwrap();
        let fresh = MemoryStore::new();
        prop_assert!(import_car(car.as_slice(), &fresh).unwrap().is_complete());
        let out = work.path().join("out");
        extract(&Reader::new(&fresh), &root.cid, &out, false).unwrap();
        assert_same_tree(&tree, &out);
        // Importing the extracted copy gives the same root: nothing was lost or altered.
        let again = import_path(&out, &params, &trove::import::Discard, &Silent).unwrap();
        prop_assert_eq!(again.cid, root.cid);
    }
}
