//! Registries: the Python tool's real registries load and are judged, our own registry is clean
//! and reproducible, hostile documents are refused, selectors resolve, and the HTTP client is
//! polite (ETag, TTL, offline) against `trustless_gateway.py --files-dir`.

use crate::support::gateway::Gateway;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trove::registry::*;
use trove::Hint as _;

fn samples_dir() -> PathBuf {
    crate::support::samples_dir().join("phasic-traces")
}

fn sample(name: &str) -> (Vec<u8>, String) {
    let path = samples_dir().join(name);
    (std::fs::read(&path).unwrap(), path.display().to_string())
}

fn load_sample(name: &str) -> Registry {
    let path = samples_dir().join(name);
    let base = url::Url::from_file_path(&path).unwrap();
    let (bytes, n) = sample(name);
    parse_registry(&bytes, &n, Some(base)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ours_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("registry/registry.json")
}

fn ours() -> Registry {
    let path = ours_path();
    let base = url::Url::from_file_path(&path).unwrap();
    parse_registry(
        &std::fs::read(&path).unwrap(),
        "registry/registry.json",
        Some(base),
    )
    .unwrap()
}

const SAMPLES: [&str; 5] = [
    "registry-1.0-323a2e7.json",
    "registry-1.0-f6a2c73.json",
    "registry-1.0-63ca9be.json",
    "registry-1.0-d7430d6.json",
    "registry-2.0-16a12ef.json",
];

const TRACE_IDS: [&str; 5] = [
    "coalescent_n10_theta1",
    "coalescent_n15_theta1",
    "coalescent_n20_theta1",
    "coalescent_n3_theta1",
    "coalescent_n5_theta1",
];

#[test]
fn every_sample_loads_and_normalizes() {
    let empty = load_sample(SAMPLES[0]);
    assert!(empty.entries.is_empty());
    assert_eq!(empty.pinning_services.len(), 2);
    for name in &SAMPLES[1..4] {
        let reg = load_sample(name);
        let ids: Vec<&str> = reg.entries.keys().map(String::as_str).collect();
        assert_eq!(ids, TRACE_IDS, "{name}");
        let listed = list(&reg, &Filter::default());
        assert_eq!(listed.len(), 5, "{name}: list shows every entry");
        let filter = Filter {
            domain: Some("population-genetics".into()),
            model_type: Some("Coalescent".into()),
            tags: vec!["kingman".into(), "basic".into()],
            ..Filter::default()
        };
        assert_eq!(list(&reg, &filter).len(), 5);
        let e = &reg.entries["coalescent_n5_theta1"];
        assert_eq!(e.kind, EntryKind::Trace);
        assert_eq!(e.versions.len(), 1);
        assert_eq!(e.aliases["latest"], "1");
        assert_eq!(e.metadata.vertices, Some(5));
        assert_eq!(
            e.metadata.citation.as_ref().unwrap().doi.as_deref(),
            Some("10.1007/s11222-022-10155-6")
        );
        assert!(e.metadata.extra.contains_key("parameters"));
        let v = &e.versions[0];
        assert_eq!(v.cid, e.cid);
        assert_eq!(v.files["trace.json.gz"].size, Some(516));
        // 1.0 `checksum` is the sha256 of trace.json.gz (the Python tool's publish_trace).
        assert_eq!(
            v.files["trace.json.gz"].sha256.as_deref(),
            Some("6d83554a5edc7968283143b0523415009927546d7e8cde0e260ced464a037046")
        );
        assert_eq!(reg.collections["coalescent_basic"].members.len(), 5);
    }
    let with_hash = load_sample("registry-1.0-d7430d6.json");
    assert!(with_hash.entries["coalescent_n5_theta1"]
        .graph_hash
        .is_some());
    let mock = load_sample("registry-1.0-f6a2c73.json");
    assert!(mock.entries["coalescent_n3_theta1"]
        .note
        .as_deref()
        .unwrap()
        .contains("MOCK"));

    let v2 = load_sample(SAMPLES[4]);
    let e = &v2.entries["coal_n5_theta1"];
    assert_eq!(e.kind, EntryKind::Compute);
    assert_eq!(
        e.description,
        "Kingman coalescent for n=5 haploid samples (1 parameter)"
    );
    let arts = &e.versions[0].artifacts;
    assert_eq!(arts.len(), 12, "parent + 11 SCC files");
    assert_eq!(arts.iter().filter(|a| a.role == "scc").count(), 11);
    assert_eq!(
        e.versions[0].size,
        Some(arts.iter().map(|a| a.size.unwrap()).sum())
    );
    assert_eq!(
        list(
            &v2,
            &Filter {
                model_type: Some("coalescent".into()),
                ..Filter::default()
            }
        )
        .len(),
        1
    );
}

fn report(name: &str) -> Report {
    let (bytes, n) = sample(name);
    let r = check_document(&bytes, &n, None);
    eprintln!("{name}: {} finding(s)", r.findings.len());
    for f in &r.findings {
        eprintln!("  {f}");
    }
    r
}

fn has(r: &Report, sev: Severity, entry: Option<&str>, field: &str) -> bool {
    r.findings
        .iter()
        .any(|f| f.severity == sev && f.entry.as_deref() == entry && f.field == field)
}

#[test]
fn checker_verdicts_on_the_samples() {
    // The empty first registry and the 2.0 registry (sha256-checked paths, no CIDs) are clean.
    for name in [SAMPLES[0], SAMPLES[4]] {
        let r = report(name);
        assert!(r.is_ok(), "{name}: {:?}", r.errors().collect::<Vec<_>>());
    }
    // The mock registry: every entry's own CID and every file CID is invalid, and so is the
    // collection's placeholder CID.
    let mock = report("registry-1.0-f6a2c73.json");
    assert!(!mock.is_ok());
    assert_eq!(mock.entries_with_errors(), TRACE_IDS);
    for id in TRACE_IDS {
        assert!(has(&mock, Severity::Error, Some(id), "cid"), "{id}");
        assert!(
            has(
                &mock,
                Severity::Error,
                Some(id),
                "files[\"trace.json.gz\"].cid"
            ),
            "{id}"
        );
        assert!(
            has(
                &mock,
                Severity::Error,
                Some(id),
                "files[\"metadata.json\"].cid"
            ),
            "{id}"
        );
        assert!(
            has(&mock, Severity::Warning, Some(id), "note"),
            "{id}: marked as mock"
        );
    }
    assert!(has(
        &mock,
        Severity::Error,
        None,
        "collections.coalescent_basic.cid"
    ));
    // "Update with real IPFS CIDs": the entry CIDs are valid CIDv0s, but the file CIDs are still
    // `bafybei` + hex (not base32), and the collection CID is a placeholder.
    for name in ["registry-1.0-63ca9be.json", "registry-1.0-d7430d6.json"] {
        let r = report(name);
        assert!(!r.is_ok(), "{name}");
        assert_eq!(r.entries_with_errors(), TRACE_IDS, "{name}");
        for id in TRACE_IDS {
            assert!(
                !has(&r, Severity::Error, Some(id), "cid"),
                "{name} {id}: Qm… is valid"
            );
            assert!(
                has(
                    &r,
                    Severity::Error,
                    Some(id),
                    "files[\"trace.json.gz\"].cid"
                ),
                "{name} {id}"
            );
        }
        let bad = r
            .findings
            .iter()
            .find(|f| f.field.ends_with(".cid") && f.entry.is_some())
            .unwrap();
        assert!(
            bad.problem.contains("bafybei"),
            "the message names the CID: {bad}"
        );
        assert!(has(
            &r,
            Severity::Error,
            None,
            "collections.coalescent_basic.cid"
        ));
    }
}

#[test]
fn our_registry_is_clean_and_reproducible() {
    let bytes = std::fs::read(ours_path()).unwrap();
    let r = check_document(&bytes, "registry/registry.json", None);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.entries, 2);
    let reg = ours();
    assert_eq!(
        reg.collections["coalescent"].members,
        ["coalescent_n5_theta1", "coalescent_n10_theta1"]
    );
    let params = trove::unixfs::Profile::UnixfsV1_2025.params();
    for (id, entry) in &reg.entries {
        let res = resolve(&reg, &parse_selector(id).unwrap()).unwrap();
        let cid = res.cid.unwrap();
        assert_eq!(
            entry.metadata.domain.as_deref(),
            Some("population-genetics")
        );
        assert_eq!(entry.license.as_deref(), Some("CC0-1.0"));
        // The committed artifacts re-import to the registered CID with the registered profile.
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("registry/artifacts")
            .join(id);
        let root = trove::import::import_path(
            &dir,
            &params,
            &trove::import::Discard,
            &trove::progress::Silent,
        )
        .unwrap();
        assert_eq!(root.cid, cid, "{id}");
        assert_eq!(Some(root.content_size), res.total_size, "{id}");
        for f in &res.files {
            let data = std::fs::read(dir.join(&f.name)).unwrap();
            assert_eq!(Some(data.len() as u64), f.size, "{id}/{}", f.name);
            assert_eq!(
                f.sha256.as_deref(),
                Some(client::sha256_hex(&data).as_str())
            );
        }
        // The committed CAR (the mirror of last resort) holds the whole DAG under that CID.
        assert_eq!(res.mirrors.len(), 1);
        let car = res.mirrors[0].to_file_path().unwrap();
        assert!(
            car.ends_with(format!("registry/cars/{id}.car")),
            "{}",
            car.display()
        );
        let store = trove::store::MemoryStore::new();
        let summary = trove::car::import_car(std::fs::File::open(&car).unwrap(), &store).unwrap();
        assert_eq!(summary.roots.len(), 1);
        assert_eq!(summary.roots[0].root, cid);
        assert!(summary.roots[0].is_complete(), "{id}");
    }
}

fn invalid(doc: &str) -> Vec<Finding> {
    match parse_registry(doc.as_bytes(), "hostile", None) {
        Err(RegistryError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid for {doc}, got {other:?}"),
    }
}

#[test]
fn hostile_registries_are_refused_cleanly() {
    assert!(matches!(
        parse_registry(b"{\"traces\": {", "h", None),
        Err(RegistryError::Json { .. })
    ));
    assert!(matches!(
        parse_registry(b"\xff\xfe", "h", None),
        Err(RegistryError::Json { .. })
    ));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        parse_registry(deep.as_bytes(), "h", None),
        Err(RegistryError::Json { .. })
    ));
    // Wrong types name the entry and the field.
    let p = invalid(r#"{"traces": {"a": {"cid": 5}}}"#);
    assert_eq!(
        (p[0].entry.as_deref(), p[0].field.as_str()),
        (Some("a"), "cid")
    );
    assert!(
        p[0].problem.contains("expected a string, found a number"),
        "{}",
        p[0]
    );
    let p = invalid(r#"{"traces": {"a": {"cid": "x", "files": {"f": {"size_bytes": -1}}}}}"#);
    assert_eq!(p[0].field, "files[\"f\"].size_bytes");
    let p = invalid(r#"{"traces": {"a": {"cid": "x", "metadata": {"tags": "one"}}}}"#);
    assert_eq!(p[0].field, "metadata.tags");
    invalid(r#"{"traces": []}"#);
    invalid(r#"[1, 2]"#);
    invalid(r#"{"something": "else"}"#);
    let p = invalid(r#"{"traces": {"a": {"cid": "x", "versions": [{"cid": "y"}]}}}"#);
    assert_eq!(p[0].field, "versions[0].version");
    // Unsafe names: in `files`, as IDs, and duplicated IDs.
    for name in ["..", "../etc/passwd", "a/b", "", "nul\u{0}"] {
        let doc =
            serde_json::json!({"traces": {"a": {"cid": "x", "files": {name: {"size_bytes": 1}}}}});
        let p = invalid(&doc.to_string());
        assert_eq!(p[0].entry.as_deref(), Some("a"), "{name:?}");
        assert!(p[0].field.starts_with("files["), "{}", p[0]);
    }
    let p = invalid(r#"{"traces": {"../x": {"cid": "x"}}}"#);
    assert!(p[0].problem.contains("not a valid name"), "{}", p[0]);
    let p = invalid(r#"{"traces": {"a": {"cid": "x"}, "a": {"cid": "y"}}}"#);
    assert!(p[0].problem.contains("appears twice"), "{}", p[0]);
    invalid(r#"{"traces": {"a": {"cid": "x"}}, "computes": {"a": {"artifacts": {}}}}"#);
    let p = invalid(
        r#"{"computes": {"c": {"artifacts": {"parent": {"cid_or_path": "artifacts/..", "sha256": "00"}}}}}"#,
    );
    assert_eq!(p[0].field, "artifacts.parent.cid_or_path");
    // Huge strings: one over the per-string limit, and a 100 MB document over the size limit.
    let long = format!(
        r#"{{"traces": {{"a": {{"cid": "x", "description": "{}"}}}}}}"#,
        "d".repeat(1 << 20)
    );
    let p = invalid(&long);
    assert!(p[0].problem.contains("longer than the limit"), "{}", p[0]);
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.json");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
        f.write_all(br#"{"traces": {"a": {"cid": "x", "description": ""#)
            .unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\"}}}").unwrap();
    }
    let client = Client::new(ClientOptions::new(dir.path().join("cache"))).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(client.load(&RegistrySource::Path(huge.clone())))
        .unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err}");
    assert!(err.hint().is_some());
    let report = rt.block_on(client.fetch_document(&RegistrySource::Path(huge)));
    assert!(matches!(report, Err(RegistryError::TooLarge { .. })));
    // Plain http to a public host is refused before any request: it could swap CIDs.
    let public = RegistrySource::parse("http://registry.example/registry.json").unwrap();
    let err = rt.block_on(client.load(&public)).unwrap_err();
    assert!(matches!(err, RegistryError::Insecure { .. }), "{err}");
}

#[test]
fn hostile_links_load_but_are_refused_on_use() {
    let doc = serde_json::json!({"traces": {
        "a": {"cid": "bafkqaaa", "mirrors": ["../../outside.car", "file:///etc/passwd", "https://ok.example/a.car"]},
    }});
    let base = url::Url::parse("https://raw.example/o/r/HEAD/registry.json").unwrap();
    let reg = parse_registry(doc.to_string().as_bytes(), "links", Some(base)).unwrap();
    let err = resolve(&reg, &parse_selector("a").unwrap()).unwrap_err();
    assert!(
        matches!(&err, RegistryError::BadEntry { field, .. } if field == "mirrors[0]"),
        "{err}"
    );
    let r = check_document(doc.to_string().as_bytes(), "links", None);
    assert!(has(&r, Severity::Error, Some("a"), "mirrors[0]"));
    assert!(has(&r, Severity::Error, Some("a"), "mirrors[1]"));
    assert!(!has(&r, Severity::Error, Some("a"), "mirrors[2]"));
}

#[test]
fn selectors_resolve_with_clear_errors() {
    let reg = ours();
    let id = "coalescent_n5_theta1";
    let cid = "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m";
    let r = resolve(&reg, &parse_selector(id).unwrap()).unwrap();
    assert_eq!(
        (r.version.as_str(), r.alias.as_deref()),
        ("1", Some("latest"))
    );
    assert_eq!(r.cid.unwrap().to_string(), cid);
    assert_eq!(r.profile, Some(trove::unixfs::Profile::UnixfsV1_2025));
    assert_eq!(r.path, "");
    assert_eq!(r.size, Some(602));
    assert_eq!(r.target().unwrap().to_string(), cid);
    assert!(r.mirrors[0].to_file_path().unwrap().exists());
    let r = resolve(&reg, &parse_selector(&format!("{id}@1")).unwrap()).unwrap();
    assert_eq!((r.version.as_str(), r.alias), ("1", None));
    for alias in ["latest", "recommended"] {
        let r = resolve(&reg, &parse_selector(&format!("{id}@{alias}")).unwrap()).unwrap();
        assert_eq!((r.version.as_str(), r.alias.as_deref()), ("1", Some(alias)));
    }
    let r = resolve(
        &reg,
        &parse_selector(&format!("{id}@latest/sfs.csv")).unwrap(),
    )
    .unwrap();
    assert_eq!(r.path, "sfs.csv");
    assert_eq!(r.size, Some(36));
    assert_eq!(
        r.sha256.as_deref(),
        Some("21797ffc5c16959eb186912dab11b0621c6d1b309c68ef5b6fc9b2e1d8552b09")
    );
    assert_eq!(r.target().unwrap().to_string(), format!("{cid}/sfs.csv"));

    let set = RegistrySet::new(vec![ours(), load_sample("registry-1.0-63ca9be.json")]);
    // The first registry wins for an ID both have.
    assert_eq!(set.resolve(id).unwrap().registry, "registry/registry.json");
    assert_eq!(
        set.resolve("coalescent_n3_theta1")
            .unwrap()
            .cid
            .unwrap()
            .to_string(),
        "QmSepUqeTSYUBskpoprhGXtRPBKwShDMB3uNb4i52LRtHh"
    );
    assert_eq!(
        set.list(&Filter::default()).len(),
        5,
        "n5 and n10 of the second registry are shadowed"
    );
    let err = set.resolve("coalescent_n5_theta").unwrap_err();
    assert!(
        matches!(&err, RegistryError::UnknownId { suggestions, .. } if suggestions[0] == id),
        "{err}"
    );
    assert!(err.to_string().contains("`coalescent_n5_theta`"), "{err}");
    assert!(err.hint().unwrap().contains(id));
    let err = set.resolve(&format!("{id}@stable")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RegistryError::UnknownVersion { .. }));
    assert!(
        text.contains("`stable`") && text.contains("recommended") && text.contains(id),
        "{text}"
    );
    for bad in [
        format!("{id}/../x"),
        format!("{id}@"),
        "a b".to_string(),
        format!("{id}@v/./x"),
    ] {
        assert!(
            matches!(set.resolve(&bad), Err(RegistryError::BadSelector { .. })),
            "{bad}"
        );
    }
    assert_eq!(set.collection("coalescent").unwrap().1.members.len(), 2);
    assert!(matches!(
        set.collection("nope"),
        Err(RegistryError::UnknownCollection { .. })
    ));

    // An entry whose CID is invalid is refused by name when it is used.
    let mock = load_sample("registry-1.0-f6a2c73.json");
    let err = resolve(&mock, &parse_selector("coalescent_n5_theta1").unwrap()).unwrap_err();
    assert!(
        matches!(&err, RegistryError::BadEntry { id, field, .. } if id == "coalescent_n5_theta1" && field == "cid"),
        "{err}"
    );

    // 2.0: repository files next to the registry file, checked by sha256.
    let v2 = load_sample(SAMPLES[4]);
    let r = resolve(&v2, &parse_selector("coal_n5_theta1").unwrap()).unwrap();
    assert!(r.cid.is_none());
    assert_eq!(r.repo_files.len(), 12);
    assert!(r.repo_files[0].url.as_str().ends_with(
        "/phasic-traces/artifacts/4d652ed73c66ed4ada3dd13e0dde2051c151aa24be097bcd96c5bc04713be0f6.bin"
    ));
    let name = r.repo_files[3].name.clone();
    let one = resolve(
        &v2,
        &parse_selector(&format!("coal_n5_theta1/{name}")).unwrap(),
    )
    .unwrap();
    assert_eq!(one.repo_files.len(), 1);
    assert_eq!(one.sha256.as_deref(), Some(r.repo_files[3].sha256.as_str()));
    let err = resolve(&v2, &parse_selector("coal_n5_theta1/nope.bin").unwrap()).unwrap_err();
    assert!(matches!(err, RegistryError::UnknownFile { .. }), "{err}");
}

#[test]
fn versions_and_aliases() {
    let old = "QmSepUqeTSYUBskpoprhGXtRPBKwShDMB3uNb4i52LRtHh";
    let new = "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m";
    let doc = serde_json::json!({"version": "1.1.0", "traces": {"m": {
        "cid": new, "description": "d", "license": "CC0-1.0", "profile": "unixfs-v1-2025",
        "files": {"a.csv": {"size_bytes": 3}}, "mirrors": ["cars/m-2.car"],
        "versions": [
            {"version": "1", "cid": old, "profile": "unixfs-v0-2015", "mirrors": ["https://m.example/m-1.car"]},
            {"version": "2", "cid": new, "size": 10},
        ],
        "aliases": {"benchmark": "1"},
    }}});
    let base = url::Url::parse("https://raw.example/o/r/main/registry.json").unwrap();
    let reg = parse_registry(doc.to_string().as_bytes(), "v", Some(base)).unwrap();
    let latest = resolve(&reg, &parse_selector("m").unwrap()).unwrap();
    assert_eq!(
        (latest.version.as_str(), latest.cid.unwrap().to_string()),
        ("2", new.to_string())
    );
    assert_eq!(
        latest.mirrors[0].as_str(),
        "https://raw.example/o/r/main/cars/m-2.car"
    );
    assert_eq!(
        latest.files.len(),
        1,
        "entry-level files describe the latest version"
    );
    assert_eq!(latest.profile, Some(trove::unixfs::Profile::UnixfsV1_2025));
    let v1 = resolve(&reg, &parse_selector("m@benchmark").unwrap()).unwrap();
    assert_eq!(
        (v1.version.as_str(), v1.cid.unwrap().to_string()),
        ("1", old.to_string())
    );
    assert_eq!(v1.mirrors[0].as_str(), "https://m.example/m-1.car");
    assert!(v1.files.is_empty());
    assert!(check_document(doc.to_string().as_bytes(), "v", None).is_ok());

    // The checker catches what a schema cannot.
    let doc = serde_json::json!({"traces": {
        "m": {"cid": old, "description": "d", "license": "x", "profile": "unixfs-v1-2025",
              "files": {"a": {"size_bytes": 7}, "b": {"size_bytes": 7}},
              "versions": [{"version": "1", "cid": old, "size": 10}, {"version": "2", "cid": new}],
              "aliases": {"stable": "9"}},
        "n": {"cid": new, "description": "d", "license": "x"},
        "o": {"cid": "bafk2bzaceaze3tycpxkkgcutfrcb6ns2exugwfz556slrzmjjasti4nydnzm6", "description": "d", "license": "x"},
        "p": {"cid": "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8", "description": "d", "license": "x"},
    }, "collections": {"c": {"traces": ["m", "zzz"]}}});
    let r = check_document(doc.to_string().as_bytes(), "bad", None);
    for f in &r.findings {
        eprintln!("{f}");
    }
    assert!(
        has(&r, Severity::Error, Some("m"), "cid"),
        "the entry-level CID is not the latest version's"
    );
    assert!(
        has(&r, Severity::Error, Some("m"), "versions[0].cid"),
        "CIDv0 with profile unixfs-v1-2025"
    );
    assert!(
        has(&r, Severity::Error, Some("m"), "versions[0].size"),
        "files add up to more than size"
    );
    assert!(
        has(&r, Severity::Error, Some("m"), "aliases.stable"),
        "dangling alias"
    );
    assert!(has(&r, Severity::Error, Some("n"), "cid"), "duplicate CID");
    assert!(
        has(&r, Severity::Error, Some("p"), "cid"),
        "libp2p-key is not content"
    );
    assert!(
        !has(&r, Severity::Error, Some("o"), "cid"),
        "blake2b/raw is fine"
    );
    assert!(
        has(&r, Severity::Error, None, "collections.c.traces[1]"),
        "dangling member"
    );
}

#[test]
fn search_ranks_id_tags_and_description() {
    let reg = load_sample("registry-1.0-63ca9be.json");
    let hits = search(&reg, "coalescent_n5_theta1");
    assert_eq!(hits[0].entry.id, "coalescent_n5_theta1");
    assert_eq!(hits[0].score, 100);
    assert_eq!(search(&reg, "KINGMAN haploid").len(), 5);
    assert_eq!(search(&reg, "n=15").len(), 1);
    assert!(search(&reg, "kingman nothing-like-this").is_empty());
    assert!(search(&reg, "   ").is_empty());
    let set = RegistrySet::new(vec![ours(), reg]);
    let hits = set.search("phase-type");
    assert_eq!(hits.len(), 2, "only our entries are tagged phase-type");
}

// ---------------------------------------------------------------- HTTP client

/// (method, path, status) of every request the gateway logged so far.
fn requests(server: &Gateway) -> Vec<(String, String, u64)> {
    server
        .requests()
        .iter()
        .map(|v| {
            (
                v["method"].as_str().unwrap().to_string(),
                v["path"].as_str().unwrap().to_string(),
                v["status"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn options(cache: &Path, base: &str, ttl: Duration) -> ClientOptions {
    ClientOptions {
        ttl,
        github_base: format!("{base}/files"),
        timeout: Duration::from_secs(10),
        ..ClientOptions::new(cache)
    }
}

#[tokio::test]
async fn etag_ttl_offline_and_last_good_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("files");
    let repo = files.join("o/r/HEAD");
    std::fs::create_dir_all(&repo).unwrap();
    let first = std::fs::read(ours_path()).unwrap();
    std::fs::write(repo.join("registry.json"), &first).unwrap();
    let server = Gateway::builder().files_dir(&files).log().start();
    let cache = tmp.path().join("cache");
    let source = RegistrySource::parse("o/r").unwrap();
    let path = "/files/o/r/HEAD/registry.json".to_string();
    let hour = Client::new(options(&cache, &server.url, Duration::from_secs(3600))).unwrap();
    let zero = Client::new(options(&cache, &server.url, Duration::ZERO)).unwrap();
    let offline = Client::new(ClientOptions {
        offline: true,
        ..options(&cache, &server.url, Duration::ZERO)
    })
    .unwrap();

    // Offline before anything was fetched: an error, and no request.
    let err = offline.load(&source).await.unwrap_err();
    assert!(matches!(err, RegistryError::NotCached { .. }), "{err}");
    assert!(requests(&server).is_empty());

    // First load: one GET.
    let l = hour.load(&source).await.unwrap();
    assert_eq!(l.origin, Origin::Downloaded);
    assert!(l.warnings.is_empty());
    assert_eq!(requests(&server), [("GET".into(), path.clone(), 200)]);
    let mirror = resolve(
        &l.registry,
        &parse_selector("coalescent_n5_theta1").unwrap(),
    )
    .unwrap()
    .mirrors[0]
        .clone();
    assert_eq!(
        mirror.as_str(),
        format!(
            "{}/files/o/r/HEAD/cars/coalescent_n5_theta1.car",
            server.url
        )
    );

    // Within the TTL: no request.
    assert_eq!(hour.load(&source).await.unwrap().origin, Origin::Cached);
    assert_eq!(requests(&server).len(), 1);

    // After the TTL: a conditional request, answered 304; the copy is kept.
    let l = zero.load(&source).await.unwrap();
    assert_eq!(l.origin, Origin::Revalidated);
    assert_eq!(l.registry.entries.len(), 2);
    assert_eq!(requests(&server)[1], ("GET".into(), path.clone(), 304));
    // … and the check restarted the TTL.
    assert_eq!(hour.load(&source).await.unwrap().origin, Origin::Cached);
    // --refresh asks even within the TTL.
    let refresh = Client::new(ClientOptions {
        refresh: true,
        ..options(&cache, &server.url, Duration::from_secs(3600))
    })
    .unwrap();
    assert_eq!(
        refresh.load(&source).await.unwrap().origin,
        Origin::Revalidated
    );
    assert_eq!(requests(&server).len(), 3);

    // Offline: the copy, no request.
    let l = offline.load(&source).await.unwrap();
    assert_eq!(l.origin, Origin::Offline);
    assert_eq!(requests(&server).len(), 3);

    // A changed registry (new ETag) is picked up: an ID moved to a new CID.
    let moved = String::from_utf8(first.clone()).unwrap().replace(
        "bafybeihtzkwqe5zmcd4dift3jjy5knnis5vogdwawvya4pyu7xi7kgg67m",
        "QmSepUqeTSYUBskpoprhGXtRPBKwShDMB3uNb4i52LRtHh",
    );
    std::fs::write(repo.join("registry.json"), &moved).unwrap();
    let l = zero.load(&source).await.unwrap();
    assert_eq!(l.origin, Origin::Downloaded);
    assert_eq!(requests(&server)[3].2, 200);
    let e = &l.registry.entries["coalescent_n5_theta1"];
    assert_eq!(
        e.cid.as_deref(),
        Some("QmSepUqeTSYUBskpoprhGXtRPBKwShDMB3uNb4i52LRtHh")
    );
    // The cache holds the new document, named by its content.
    let dirs: Vec<PathBuf> = std::fs::read_dir(cache.join("registry-v1"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one cache folder per registry URL");
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dirs[0].join("state.json")).unwrap()).unwrap();
    let sha = client::sha256_hex(moved.as_bytes());
    assert_eq!(state["sha256"], sha.as_str());
    assert!(state["etag"].is_string() && state["fetched_at"].is_u64());
    let body = std::fs::read(dirs[0].join(format!("body-{sha}.json"))).unwrap();
    assert_eq!(body, moved.as_bytes());

    // The server sends something invalid: warning, last good copy, cache untouched.
    std::fs::write(
        repo.join("registry.json"),
        b"<html>oops, not a registry</html>",
    )
    .unwrap();
    let l = zero.load(&source).await.unwrap();
    assert_eq!(l.origin, Origin::Stale);
    assert_eq!(l.warnings.len(), 1);
    assert!(
        l.warnings[0].message.contains("invalid registry"),
        "{}",
        l.warnings[0]
    );
    assert_eq!(l.registry.entries["coalescent_n5_theta1"].cid, e.cid);
    let l = offline.load(&source).await.unwrap();
    assert_eq!(
        l.registry.entries["coalescent_n5_theta1"].cid, e.cid,
        "the bad copy was not cached"
    );

    // A registry over the size limit is refused without keeping it.
    let big_source = RegistrySource::parse("o/big").unwrap();
    let big_repo = files.join("o/big/HEAD");
    std::fs::create_dir_all(&big_repo).unwrap();
    std::fs::write(
        big_repo.join("registry.json"),
        vec![b' '; (MAX_REGISTRY_BYTES + 1) as usize],
    )
    .unwrap();
    let err = zero.load(&big_source).await.unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err}");

    // The server is gone: warning and the last good copy; without a copy, an error.
    drop(server);
    let l = zero.load(&source).await.unwrap();
    assert_eq!(l.origin, Origin::Stale);
    assert!(
        l.warnings[0].message.contains("last good copy"),
        "{}",
        l.warnings[0]
    );
    let never = RegistrySource::parse("o/never").unwrap();
    let err = zero.load(&never).await.unwrap_err();
    assert!(matches!(err, RegistryError::Http { .. }), "{err}");
    assert!(err.hint().is_some());

    // Several registries: a broken one is skipped with a warning when another loads.
    let (set, warnings) = zero
        .load_all(&[never.clone(), RegistrySource::Path(ours_path())])
        .await
        .unwrap();
    assert_eq!(set.registries.len(), 1);
    assert!(
        warnings[0].message.starts_with("skipped"),
        "{}",
        warnings[0]
    );
    assert!(zero.load_all(&[never]).await.is_err());
}

#[tokio::test]
async fn repository_files_are_checked_by_sha256() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join("artifacts")).unwrap();
    let data = b"parameterized reward compute graph";
    std::fs::write(tmp.path().join("artifacts/p.bin"), data).unwrap();
    let doc = serde_json::json!({"version": "2.0", "format": "ptd_pcg", "computes": {"c": {
        "artifacts": {"parent": {"cid_or_path": "artifacts/p.bin", "sha256": client::sha256_hex(data), "size_bytes": data.len()}},
        "metadata": {"description": "x", "license": "MIT"},
    }}});
    std::fs::write(tmp.path().join("registry.json"), doc.to_string()).unwrap();
    let client = Client::new(ClientOptions {
        offline: true,
        ..ClientOptions::new(tmp.path().join("cache"))
    })
    .unwrap();
    let loaded = client
        .load(&RegistrySource::parse(tmp.path().to_str().unwrap()).unwrap())
        .await
        .unwrap();
    assert_eq!(loaded.origin, Origin::Local);
    let r = resolve(&loaded.registry, &parse_selector("c").unwrap()).unwrap();
    assert_eq!(
        client.fetch_repo_file(&r.repo_files[0]).await.unwrap(),
        data
    );
    std::fs::write(
        tmp.path().join("artifacts/p.bin"),
        b"parameterized reward compute graph!",
    )
    .unwrap();
    let err = client.fetch_repo_file(&r.repo_files[0]).await.unwrap_err();
    assert!(matches!(err, RegistryError::Artifact { .. }), "{err}");
    std::fs::write(
        tmp.path().join("artifacts/p.bin"),
        b"parameterized reward compute graqh",
    )
    .unwrap();
    let err = client.fetch_repo_file(&r.repo_files[0]).await.unwrap_err();
    assert!(err.to_string().contains("sha256"), "{err}");
}
