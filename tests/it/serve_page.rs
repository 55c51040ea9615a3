//! The registry web page of `trove serve --http`: the HTML itself (escaping, filters answered by
//! the server, an entry page with the command, the snippet and what this server holds), and the
//! page in headless Chromium (Debian `chromium` through playwright-core,
//! `scripts/peers/browser/page_check.mjs`): search narrows the list as one types, filters,
//! reading without JavaScript, the entry page's command, no request leaving the server, no
//! console error. One screenshot per page goes to `target/tmp/serve-page-screenshots/`.

use crate::support::serve::{get, HttpServe};
use crate::support::{peer_tool, repo_dir, Trove};
use std::path::{Path, PathBuf};

/// The repository's registry plus two entries in other domains (one with markup and quotes in
/// its strings, one whose content this cache lacks), written beside a copy of its CARs.
fn test_registry(dir: &Path) -> PathBuf {
    let registry = repo_dir().join("registry/registry.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&registry).unwrap()).unwrap();
    let traces = doc["traces"].as_object_mut().unwrap();
    traces.insert(
        "galaxy_rotation_curves".into(),
        serde_json::json!({
            "cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
            "description": "Rotation curves <script>alert(1)</script> & \"quoted\" for 12 galaxies",
            "metadata": {
                "model_type": "rotation-curve",
                "domain": "astronomy",
                "tags": ["galaxies", "dark-matter"]
            }
        }),
    );
    traces.insert(
        "ou_process_theta2".into(),
        serde_json::json!({
            "cid": "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zz",
            "description": "Ornstein-Uhlenbeck process, theta=2",
            "metadata": {
                "model_type": "diffusion",
                "domain": "stochastic-processes",
                "tags": ["sde"]
            }
        }),
    );
    let out = dir.join("registry.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    out
}

/// A cache holding the repository's entries (their CARs imported) and a server with the page.
fn serve_registry(dir: &Path) -> (Trove, HttpServe) {
    let registry = test_registry(dir);
    let trove = Trove::new();
    for car in std::fs::read_dir(repo_dir().join("registry/cars")).unwrap() {
        let car = car.unwrap().path();
        trove.ok(&["car", "import", car.to_str().unwrap()]);
    }
    let server = HttpServe::start(&trove, &["--registry", registry.to_str().unwrap()]);
    (trove, server)
}

#[test]
fn the_page_lists_filters_and_escapes_without_javascript() {
    let dir = tempfile::tempdir().unwrap();
    let (_trove, server) = serve_registry(dir.path());
    let index = get(&format!("{}/", server.url));
    assert_eq!(index.status, 200);
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(index
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    let html = index.text();
    assert_eq!(html.matches("<tr class=\"entry\"").count(), 4, "{html}");
    assert!(
        !html.contains("<script>alert"),
        "registry strings are escaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot;"));
    assert!(
        !html.contains(&repo_dir().display().to_string()),
        "no server paths on the page"
    );
    assert!(html.contains("4 of 4 shown"));
    // The form works without the script: the server hides what does not match.
    let filtered = get(&format!(
        "{}/?q=theta&domain=population-genetics",
        server.url
    ))
    .text();
    assert!(filtered.contains("2 of 4 shown"), "{filtered}");
    let hidden = filtered
        .lines()
        .filter(|l| l.starts_with("<tr class=\"entry\"") && l.contains(" hidden>"))
        .count();
    assert_eq!(hidden, 2);
    let none = get(&format!("{}/?tag=no-such-tag", server.url)).text();
    assert!(none.contains("0 of 4 shown"));
    assert!(none.contains("<p id=\"none\">No artifact matches"));

    // An entry page: the command, the snippet, versions, what this server holds.
    let entry = get(&format!("{}/entry/coalescent_n5_theta1", server.url));
    assert_eq!(entry.status, 200);
    let page = entry.text();
    assert!(page.contains("<code id=\"get-command\">trove get coalescent_n5_theta1</code>"));
    assert!(page.contains("trove.get(&quot;coalescent_n5_theta1&quot;)"));
    assert!(page.contains("<span class=\"held\">yes</span>"), "{page}");
    assert!(page.contains("?format=car\">CAR</a>"));
    assert!(page.contains("id=\"files\""), "the files with their sizes");
    let absent = get(&format!("{}/entry/galaxy_rotation_curves", server.url)).text();
    assert!(
        absent.contains("<span class=\"not-held\">no</span>"),
        "{absent}"
    );
    let missing = get(&format!("{}/entry/no_such_entry", server.url));
    assert_eq!(missing.status, 404);
    assert!(missing
        .text()
        .contains("No entry <code>no_such_entry</code>"));
    for asset in ["app.js", "style.css", "favicon.svg"] {
        assert_eq!(
            get(&format!("{}/assets/{asset}", server.url)).status,
            200,
            "{asset}"
        );
    }
    assert_eq!(get(&format!("{}/favicon.ico", server.url)).status, 200);
}

#[test]
fn the_page_works_in_headless_chromium() {
    let Some(chromium) = peer_tool("TROVE_TEST_CHROMIUM") else {
        return;
    };
    let Some(browser) = peer_tool("TROVE_TEST_BROWSER_DIR") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_trove, server) = serve_registry(dir.path());
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-page-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let mut cmd = std::process::Command::new("node");
    cmd.arg(browser.join("page_check.mjs"))
        .args(["--url", &server.url, "--chromium"])
        .arg(&chromium)
        .arg("--screenshots")
        .arg(&shots)
        .args([
            "--entry",
            "coalescent_n5_theta1",
            "--search",
            "n5",
            "--timeout",
            "90",
        ]);
    let (code, stdout, stderr) = crate::support::output(&mut cmd);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("page_check.mjs printed no JSON ({e}): {stdout}\n{stderr}"));
    let failed: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] != true)
        .collect();
    assert!(
        failed.is_empty() && code == 0,
        "failed checks: {failed:#?}\n{stderr}"
    );
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for name in [
        "search_narrows",
        "domain_filter",
        "no_js_filtered",
        "entry_page",
        "same_origin_only",
    ] {
        assert!(names.contains(&name), "check {name} did not run: {names:?}");
    }
    let domain = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "domain_filter")
        .unwrap();
    assert!(
        !domain["detail"].as_str().unwrap().contains("4 of 4"),
        "the domain filter narrowed nothing: {domain}"
    );
    for shot in report["screenshots"].as_array().unwrap() {
        let path = Path::new(shot.as_str().unwrap());
        assert!(
            std::fs::metadata(path).unwrap().len() > 1000,
            "{}",
            path.display()
        );
    }
    println!("screenshots in {}", shots.display());
}
