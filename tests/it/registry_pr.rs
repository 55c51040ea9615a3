//! `trove publish --pr` at the library level: real git (bare repositories on disk and over
//! `git daemon`), libgit2 in the code under test, and a recording fake of the GitHub API. Nothing
//! leaves 127.0.0.1.

use crate::support::forge::{bare_repo_with, base64, git, FakeForge, ForgeConfig, GitDaemon, WEB};
use std::path::{Path, PathBuf};
use trove::publish::git::GitIdentity;
use trove::publish::pr::{
    open_pull_request, read_registry, work_clone_dir, PrChange, PrError, PrOptions, PrOutcome,
};
use trove::Hint as _;

const TOKEN: &str = "ghp_TESTtoken0123456789abcdefNEVERprint";
const ID: &str = "tiny_entry";
const BRANCH: &str = "trove/publish/tiny_entry";

fn registry_json() -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("registry/registry.json")).unwrap()
}

/// Inserts a small entry at the top of `traces`, keeping everything else byte for byte.
fn insert_entry(cid: &'static str) -> impl Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync {
    move |old: &[u8]| {
        let text = std::str::from_utf8(old).map_err(|e| e.to_string())?;
        if text.contains(&format!("\"{ID}\"")) {
            return Err(format!("`{ID}` is already registered"));
        }
        let anchor = "\"traces\": {\n";
        let at = text.find(anchor).ok_or("no `traces` object")? + anchor.len();
        let entry = format!(
            "    \"{ID}\": {{\n      \"cid\": \"{cid}\",\n      \"description\": \"a tiny test entry\",\n      \"profile\": \"unixfs-v1-2025\",\n      \"size\": 5\n    }},\n"
        );
        Ok(format!("{}{entry}{}", &text[..at], &text[at..]).into_bytes())
    }
}

const CID_A: &str = "bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CID_B: &str = "bafkreibbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn change() -> PrChange {
    PrChange {
        id: ID.into(),
        title: format!("Add {ID}"),
        body: format!("Adds `{ID}`\n\n- CID: `{CID_A}`\n- size: 5 B\n- profile: `unixfs-v1-2025`\n- metadata: domain=test"),
        commit_message: format!("registry: add {ID}"),
    }
}

fn identity() -> Option<GitIdentity> {
    Some(GitIdentity {
        name: "Ada Publisher".into(),
        email: "ada@example.org".into(),
    })
}

/// An upstream with registry.json and a README, a fork (a bare clone of it), and a fake forge.
struct Fixture {
    dir: tempfile::TempDir,
    upstream: PathBuf,
    fork: PathBuf,
    forge: FakeForge,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let upstream = bare_repo_with(
            dir.path(),
            "upstream",
            &[
                ("registry.json", &registry_json()),
                ("README.md", b"the registry\n"),
            ],
        );
        let fork = dir.path().join("fork.git");
        git(
            dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                upstream.to_str().unwrap(),
                fork.to_str().unwrap(),
            ],
        );
        let forge = FakeForge::start(ForgeConfig {
            owner: "trove-org".into(),
            repo: "registry".into(),
            user: "alice".into(),
            upstream_clone_url: file_url(&upstream),
            fork_clone_url: file_url(&fork),
            default_branch: "main".into(),
        });
        Fixture {
            dir,
            upstream,
            fork,
            forge,
        }
    }

    fn options(&self, token: Option<&str>) -> PrOptions {
        PrOptions {
            repository: "trove-org/registry".into(),
            registry_path: "registry.json".into(),
            base: None,
            api_url: self.forge.url.clone(),
            web_url: None,
            token: token.map(str::to_string),
            force: false,
            work_dir: self.dir.path().join("publish-v1"),
            allow_insecure: false,
            identity: identity(),
        }
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn branches(repo: &Path) -> Vec<String> {
    git(
        repo,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Asserts `repo`'s branch is one commit on top of `upstream`'s main changing only registry.json
/// to `expected`, by the configured identity.
fn assert_branch_holds(repo: &Path, upstream: &Path, expected: &[u8]) {
    let main = git(upstream, &["rev-parse", "main"]);
    let parent = git(repo, &["rev-parse", &format!("{BRANCH}^")]);
    assert_eq!(parent, main, "the branch starts at upstream main");
    let changed = git(repo, &["diff", "--name-only", &main, BRANCH]);
    assert_eq!(changed, "registry.json", "exactly one file changes");
    let content = git(repo, &["show", &format!("{BRANCH}:registry.json")]);
    assert_eq!(
        content.as_bytes(),
        String::from_utf8_lossy(expected).trim_end().as_bytes()
    );
    assert_eq!(
        git(repo, &["log", "-1", "--format=%an <%ae>|%s", BRANCH]),
        format!("Ada Publisher <ada@example.org>|registry: add {ID}")
    );
}

fn assert_no_token(text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked: {text}");
}

fn describe(e: &PrError) -> String {
    format!("{e} | hint: {:?} | {e:?}", e.hint())
}

#[tokio::test]
async fn registry_pr_opens_a_pull_request_from_a_new_fork() {
    let fx = Fixture::new();
    let options = fx.options(Some(TOKEN));
    assert_eq!(read_registry(&options).await.unwrap(), registry_json());

    let outcome = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap();
    assert_no_token(&format!("{outcome:?}"));
    assert_eq!(
        outcome,
        PrOutcome::Opened {
            url: format!("{WEB}/trove-org/registry/pull/1"),
            number: 1,
            branch: BRANCH.into(),
            fork: "alice/registry".into(),
        }
    );
    let expected = insert_entry(CID_A)(&registry_json()).unwrap();
    assert_branch_holds(&fx.fork, &fx.upstream, &expected);
    assert_eq!(
        branches(&fx.upstream),
        vec!["main"],
        "nothing pushed upstream"
    );

    // The fork was missing, so it was created; then the pull request was opened.
    assert_eq!(
        fx.forge.requests_to("GET", "/repos/alice/registry").len(),
        1
    );
    assert_eq!(
        fx.forge
            .requests_to("POST", "/repos/trove-org/registry/forks")
            .len(),
        1
    );
    let pulls = fx
        .forge
        .requests_to("POST", "/repos/trove-org/registry/pulls");
    assert_eq!(pulls.len(), 1);
    let pull = &pulls[0];
    assert_eq!(
        pull.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(pull.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(pull.header("x-github-api-version"), Some("2022-11-28"));
    let body = pull.json();
    assert_eq!(body["title"], format!("Add {ID}"));
    assert_eq!(body["head"], format!("alice:{BRANCH}"));
    assert_eq!(body["base"], "main");
    let text = body["body"].as_str().unwrap();
    for needle in [CID_A, "size: 5 B", "unixfs-v1-2025", "domain=test"] {
        assert!(
            text.contains(needle),
            "{needle} missing from the PR body: {text}"
        );
    }
    // The token goes in the Authorization header only.
    for r in fx.forge.requests() {
        assert_no_token(&format!("{} {} {}", r.method, r.path, r.body));
    }

    // Again: the branch exists on the fork, refused without --force.
    let err = open_pull_request(&options, &change(), &insert_entry(CID_B))
        .await
        .unwrap_err();
    let text = describe(&err);
    assert_no_token(&text);
    assert!(matches!(err, PrError::BranchExists { .. }), "{text}");
    assert!(text.contains(BRANCH) && text.contains("--force"), "{text}");
    assert_branch_holds(&fx.fork, &fx.upstream, &expected);

    // With --force the branch is replaced and the open pull request is found again.
    let forced = PrOptions {
        force: true,
        ..options.clone()
    };
    let outcome = open_pull_request(&forced, &change(), &insert_entry(CID_B))
        .await
        .unwrap();
    assert!(
        matches!(&outcome, PrOutcome::Opened { number: 1, .. }),
        "{outcome:?}"
    );
    let replaced = insert_entry(CID_B)(&registry_json()).unwrap();
    assert_branch_holds(&fx.fork, &fx.upstream, &replaced);
    assert_eq!(
        fx.forge
            .requests_to("POST", "/repos/trove-org/registry/forks")
            .len(),
        1,
        "the existing fork is reused"
    );

    // An edit that refuses (the caller's duplicate check) aborts before anything happens.
    let before = fx.forge.requests().len();
    let err = open_pull_request(&forced, &change(), &|_: &[u8]| {
        Err::<Vec<u8>, _>("`tiny_entry` is already registered".to_string())
    })
    .await
    .unwrap_err();
    assert!(matches!(err, PrError::Edit { .. }), "{err}");
    assert!(
        fx.forge.requests()[before..]
            .iter()
            .all(|r| r.method == "GET"),
        "no fork or pull request after a refused edit"
    );
}

#[tokio::test]
async fn registry_pr_failures_leave_nothing_half_done() {
    let fx = Fixture::new();
    fx.forge.set_forked(true);
    let options = fx.options(Some(TOKEN));
    let clone = work_clone_dir(&options);

    // A fork URL that does not exist: nothing pushed, no local branch, steps to finish by hand.
    fx.forge
        .set_fork_clone_url(&file_url(&fx.dir.path().join("missing.git")));
    let err = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap_err();
    let text = describe(&err);
    assert_no_token(&text);
    assert!(matches!(err, PrError::Unfinished { .. }), "{text}");
    assert!(
        text.contains("by hand") && text.contains("missing.git"),
        "{text}"
    );
    assert!(
        !branches(&clone).contains(&BRANCH.to_string()),
        "{:?}",
        branches(&clone)
    );
    assert!(fx
        .forge
        .requests_to("POST", "/repos/trove-org/registry/pulls")
        .is_empty());

    // The pull request call fails: the branch is on the fork, the local one is gone, and the
    // error gives the compare URL to finish by hand.
    fx.forge.set_fork_clone_url(&file_url(&fx.fork));
    fx.forge
        .fail("POST", "/repos/trove-org/registry/pulls", 500);
    let err = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap_err();
    let text = describe(&err);
    assert_no_token(&text);
    assert!(text.contains("/repos/trove-org/registry/pulls"), "{text}");
    assert!(
        text.contains(&format!(
            "{WEB}/trove-org/registry/compare/main...alice:{BRANCH}?expand=1"
        )) && text.contains("by hand"),
        "{text}"
    );
    assert!(branches(&fx.fork).contains(&BRANCH.to_string()));
    assert!(!branches(&clone).contains(&BRANCH.to_string()));

    // A refused token: the API error names the endpoint, never the token.
    fx.forge.fail("GET", "/user", 401);
    let err = open_pull_request(
        &PrOptions {
            force: true,
            ..options.clone()
        },
        &change(),
        &insert_entry(CID_A),
    )
    .await
    .unwrap_err();
    let text = describe(&err);
    assert_no_token(&text);
    assert!(text.contains("/user") && text.contains("401"), "{text}");
}

#[tokio::test]
async fn registry_pr_without_token_prints_manual_steps() {
    let fx = Fixture::new();
    let options = fx.options(None);
    let outcome = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap();
    let PrOutcome::ManualSteps {
        branch,
        steps,
        compare_url,
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(branch, BRANCH);
    assert_eq!(
        compare_url.as_deref(),
        Some(
            format!("{WEB}/trove-org/registry/compare/main...YOUR-USER:{BRANCH}?expand=1").as_str()
        )
    );
    assert!(
        steps.contains("git -C") && steps.contains("push"),
        "{steps}"
    );
    assert_eq!(branches(&fx.upstream), vec!["main"]);
    assert_eq!(branches(&fx.fork), vec!["main"]);
    assert!(fx.forge.requests().iter().all(|r| r.method == "GET"));
    // The commit waits in the work clone for the user to push.
    let clone = work_clone_dir(&options);
    let expected = insert_entry(CID_A)(&registry_json()).unwrap();
    assert_branch_holds(&clone, &fx.upstream, &expected);
}

#[tokio::test]
async fn registry_pr_to_a_local_repository_pushes_the_branch() {
    let fx = Fixture::new();
    let options = PrOptions {
        repository: fx.upstream.display().to_string(),
        // No forge is asked: an unreachable API proves it.
        api_url: "http://127.0.0.1:9".into(),
        ..fx.options(Some(TOKEN))
    };
    let outcome = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        PrOutcome::Pushed {
            branch: BRANCH.into(),
            remote: fx.upstream.display().to_string(),
        }
    );
    let expected = insert_entry(CID_A)(&registry_json()).unwrap();
    assert_branch_holds(&fx.upstream, &fx.upstream, &expected);
    assert!(fx.forge.requests().is_empty());

    // An existing branch is refused without --force.
    let err = open_pull_request(&options, &change(), &insert_entry(CID_B))
        .await
        .unwrap_err();
    assert!(matches!(err, PrError::BranchExists { .. }), "{err}");
    assert!(err.hint().unwrap().contains("--force"));
}

#[tokio::test]
async fn registry_pr_pushes_over_git_daemon() {
    let fx = Fixture::new();
    let served = fx.dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    let upstream = served.join("registry.git");
    std::fs::rename(&fx.upstream, &upstream).unwrap();
    let daemon = GitDaemon::start(&served);
    let options = PrOptions {
        repository: format!("{}/registry.git", daemon.url),
        api_url: "http://127.0.0.1:9".into(),
        ..fx.options(None)
    };
    let outcome = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap();
    assert!(matches!(outcome, PrOutcome::Pushed { .. }), "{outcome:?}");
    let expected = insert_entry(CID_A)(&registry_json()).unwrap();
    assert_branch_holds(&upstream, &upstream, &expected);

    // The server refuses the push (a pre-receive hook): the local branch is removed and the
    // error says how to finish.
    let hook = upstream.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'pushes are closed' >&2\nexit 1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let forced = PrOptions {
        force: true,
        ..options.clone()
    };
    let err = open_pull_request(&forced, &change(), &insert_entry(CID_B))
        .await
        .unwrap_err();
    let text = describe(&err);
    assert!(matches!(err, PrError::Unfinished { .. }), "{text}");
    assert!(text.contains("registry.git"), "{text}");
    assert!(!branches(&work_clone_dir(&options)).contains(&BRANCH.to_string()));
    assert_branch_holds(&upstream, &upstream, &expected);
}

#[tokio::test]
async fn registry_pr_authenticates_smart_http_with_the_token() {
    let fx = Fixture::new();
    fx.forge.serve_git(fx.dir.path(), TOKEN);
    fx.forge
        .set_upstream_clone_url(&format!("{}/git/upstream.git", fx.forge.url));
    fx.forge
        .set_fork_clone_url(&format!("{}/git/fork.git", fx.forge.url));
    let options = fx.options(Some(TOKEN));
    let outcome = open_pull_request(&options, &change(), &insert_entry(CID_A))
        .await
        .unwrap();
    assert!(matches!(outcome, PrOutcome::Opened { .. }), "{outcome:?}");
    let expected = insert_entry(CID_A)(&registry_json()).unwrap();
    assert_branch_holds(&fx.fork, &fx.upstream, &expected);
    // libgit2 asked anonymously, got 401, then sent the token as the password of
    // `x-access-token` — in the header only.
    let git_requests: Vec<_> = fx
        .forge
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/git/"))
        .collect();
    let basic = format!(
        "Basic {}",
        base64(format!("x-access-token:{TOKEN}").as_bytes())
    );
    assert!(git_requests.iter().any(|r| r.method == "POST"
        && r.path == "/git/fork.git/git-receive-pack"
        && r.header("authorization") == Some(basic.as_str())));
    for r in &git_requests {
        assert_no_token(&r.path);
    }
}

impl Fixture {
    /// A home folder with the publisher's git identity, and a folder of data to publish.
    fn publisher(&self) -> (PathBuf, PathBuf) {
        let home = self.dir.path().join("home");
        std::fs::create_dir(&home).unwrap();
        std::fs::write(
            home.join(".gitconfig"),
            "[user]\n\tname = Ada Publisher\n\temail = ada@example.org\n",
        )
        .unwrap();
        let data = self.dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("values.csv"), b"x,y\n1,2\n").unwrap();
        (home, data)
    }

    /// `trove publish DATA --id cli_entry --pr` against this fixture's forge, as the publisher
    /// whose home is `home`, with `more` flags.
    fn publish_cli(&self, home: &Path, data: &Path, more: &[&str]) -> std::process::Output {
        crate::support::Trove::new()
            .cmd()
            .env("HOME", home)
            .env("TROVE_GITHUB_TOKEN", TOKEN)
            .args(["publish", data.to_str().unwrap(), "--id", "cli_entry"])
            .args(more)
            .args(["--no-daemon", "--pr", "--repo", "trove-org/registry"])
            .args(["--api-url", &self.forge.url])
            .output()
            .unwrap()
    }
}

/// The whole flow from the command line: `trove publish DIR --id … --pr` imports the folder,
/// edits the registry on a branch of the fork, pushes it and opens the pull request; the token
/// appears in no output.
#[test]
fn publish_with_pr_end_to_end_from_the_command_line() {
    let fx = Fixture::new();
    let (home, data) = fx.publisher();
    let out = fx.publish_cli(
        &home,
        &data,
        &[
            "--description",
            "values from the command line",
            "--domain",
            "testing",
            "--license",
            "CC0-1.0",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "token leaked"
    );
    let cid = stdout.lines().next().unwrap().trim().to_string();
    assert!(cid.starts_with("bafy"), "{stdout}");
    let branch = "trove/publish/cli_entry";
    let main = git(&fx.upstream, &["rev-parse", "main"]);
    assert_eq!(git(&fx.fork, &["rev-parse", &format!("{branch}^")]), main);
    assert_eq!(
        git(&fx.fork, &["diff", "--name-only", &main, branch]),
        "registry.json"
    );
    let registry = git(&fx.fork, &["show", &format!("{branch}:registry.json")]);
    let parsed: serde_json::Value = serde_json::from_str(&registry).unwrap();
    assert_eq!(parsed["traces"]["cli_entry"]["cid"], cid.as_str());
    assert_eq!(
        parsed["traces"]["cli_entry"]["metadata"]["domain"],
        "testing"
    );
    let pulls = fx
        .forge
        .requests_to("POST", "/repos/trove-org/registry/pulls");
    assert_eq!(pulls.len(), 1);
    let pr = pulls[0].json();
    assert_eq!(pr["base"], "main");
    assert_eq!(pr["head"], format!("alice:{branch}"));
    assert!(pr["title"].as_str().unwrap().contains("cli_entry"));
    let body = pr["body"].as_str().unwrap();
    for needle in [cid.as_str(), "unixfs-v1-2025", "testing"] {
        assert!(body.contains(needle), "PR body lacks {needle}: {body}");
    }
    assert!(pulls[0].header("authorization").unwrap().ends_with(TOKEN));
}

/// A `publish --pr` that fails half way from the command line: the error, then the hint with
/// the steps to finish by hand (the hint reaches the user through the one `Hint` trait), and
/// the generic failure exit code (1: the forge, not the content, failed).
#[test]
fn a_failed_publish_pr_prints_the_steps_to_finish_by_hand() {
    let fx = Fixture::new();
    fx.forge.set_forked(true);
    fx.forge
        .set_fork_clone_url(&file_url(&fx.dir.path().join("missing.git")));
    let (home, data) = fx.publisher();
    let out = fx.publish_cli(&home, &data, &["--description", "values"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_no_token(&stderr);
    assert_no_token(&String::from_utf8_lossy(&out.stdout));
    let hint = stderr
        .split_once("\nhint: ")
        .map(|(_, h)| h)
        .unwrap_or_else(|| panic!("no hint line: {stderr}"));
    assert!(
        hint.contains("by hand") && hint.contains("/compare/main...alice:trove/publish/cli_entry"),
        "{stderr}"
    );
    // The steps are in the hint, not baked into the error message above it.
    let message = stderr.split_once("\nhint: ").unwrap().0;
    assert!(!message.contains("by hand"), "{stderr}");
    assert!(fx
        .forge
        .requests_to("POST", "/repos/trove-org/registry/pulls")
        .is_empty());
}
