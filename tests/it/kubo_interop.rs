//! trove's CIDs against the real Kubo v0.22 (`kubo_peer.py hash`), and trove's CARs against the
//! real ipfs-car (npm): random files and trees, default and modern profiles.

use crate::support::{
    assert_same_tree, kubo_hash, peer_tool, random_tree, splitmix64_bytes, test_seed, Rng,
    TreeOptions, Trove,
};

/// Random files (sizes around the chunk and link boundaries, one multi-level DAG) and a random
/// tree with hidden files, empty files and folders, duplicates and symlinks: Kubo and trove agree.
#[test]
fn default_profile_cids_equal_kubo_for_random_files_and_trees() {
    let Some(python) = peer_tool("TROVE_TEST_KUBO_PYTHON") else {
        return;
    };
    let mut rng = Rng(test_seed("kubo cids"));
    let work = tempfile::tempdir().unwrap();
    let files = work.path().join("files");
    std::fs::create_dir(&files).unwrap();
    const CHUNK: u64 = 262_144;
    let sizes = [
        0,
        1 + rng.below(CHUNK),
        CHUNK,
        CHUNK + 1 + rng.below(CHUNK),
        174 * CHUNK + 1 + rng.below(3 * CHUNK),
    ];
    for (i, size) in sizes.iter().enumerate() {
        std::fs::write(
            files.join(format!("f{i}")),
            splitmix64_bytes(rng.next(), *size as usize),
        )
        .unwrap();
    }
    random_tree(
        &files.join("tree"),
        &mut rng,
        TreeOptions {
            symlinks: true,
            empty_dirs: true,
            max_file: 600_000,
        },
        0,
    );
    let trove = Trove::new();
    let ours = trove.ok(&["add", "-Q", "--only-hash", files.to_str().unwrap()]);
    let kubo = kubo_hash(&python, &files);
    assert_eq!(ours, kubo, "directory of random files and a random tree");
    // The biggest file alone: a two-level DAG (175+ chunks) as its own root.
    let big = files.join("f4");
    assert_eq!(
        trove.ok(&["add", "-Q", "--only-hash", big.to_str().unwrap()]),
        kubo_hash(&python, &big),
        "multi-level file of {} bytes",
        sizes[4]
    );
}

/// A CAR written by `trove car export` unpacks with the real ipfs-car to identical files, for
/// both profiles.
#[test]
fn trove_cars_unpack_with_ipfs_car() {
    let Some(ipfs_car) = peer_tool("TROVE_TEST_IPFS_CAR") else {
        return;
    };
    let mut rng = Rng(test_seed("ipfs-car unpack"));
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    // ipfs-car unpack writes neither symlinks nor empty folders faithfully: leave them out.
    random_tree(
        &tree,
        &mut rng,
        TreeOptions {
            symlinks: false,
            empty_dirs: false,
            max_file: 3_000_000,
        },
        0,
    );
    std::fs::write(tree.join("big"), splitmix64_bytes(rng.next(), 2_500_000)).unwrap();
    for profile in ["unixfs-v0-2015", "unixfs-v1-2025"] {
        let trove = Trove::new();
        let car = work.path().join(format!("{profile}.car"));
        trove.ok(&[
            "car",
            "export",
            tree.to_str().unwrap(),
            "-o",
            car.to_str().unwrap(),
            "--profile",
            profile,
        ]);
        let out = work.path().join(format!("unpacked-{profile}"));
        let status = std::process::Command::new(&ipfs_car)
            .arg("unpack")
            .arg(&car)
            .arg("--output")
            .arg(&out)
            .status()
            .expect("run ipfs-car");
        assert!(status.success(), "ipfs-car unpack failed for {profile}");
        assert_same_tree(&tree, &out);
    }
}

/// Large directories: Kubo turns a directory into a HAMT once `sum(name length + CID length)`
/// reaches 256 KiB. One byte under, exactly at, and far over the threshold (multi-level shards)
/// give Kubo's CIDs, and trove reads its own HAMTs back (listing and lookup by hash).
#[test]
fn large_directories_shard_like_kubo() {
    let Some(python) = peer_tool("TROVE_TEST_KUBO_PYTHON") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let top = work.path().join("dirs");
    let make = |dir: &str, names: Vec<String>| {
        let d = top.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        for (i, name) in names.iter().enumerate() {
            std::fs::write(d.join(name), format!("{i}\n")).unwrap();
        }
    };
    // CIDv0 links are 34 bytes: 30-byte names make 64 bytes an entry, 4096 entries = 256 KiB.
    let fixed = |i: usize| format!("entry-{i:024}");
    make("at-threshold", (0..4096).map(fixed).collect());
    let mut under: Vec<String> = (0..4095).map(fixed).collect();
    under.push(format!("short-{:023}", 0));
    make("one-byte-under", under);
    make("many", (0..12_000).map(|i| format!("f{i}.dat")).collect());
    let trove = Trove::new();
    let ours = trove.ok(&["add", "-Q", top.to_str().unwrap()]);
    assert_eq!(ours, kubo_hash(&python, &top), "large directories");
    let listing = trove.ok(&["cat", "--offline", &format!("{ours}/many/f11999.dat")]);
    assert_eq!(listing, "11999");
    let out = work.path().join("back");
    trove.ok(&["get", "--offline", &ours, "-o", out.to_str().unwrap()]);
    assert_same_tree(&top, &out);
}
