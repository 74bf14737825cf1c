//! The GitHub Action (`action.yml`) does what it says: its steps' scripts under
//! `action/` are run here as the runner runs them (bash, with the variables GitHub
//! sets), against a local server standing in for GitHub's releases and REST API.
//! Install verifies the release's SHA-256; run sets the outputs; the plan comment
//! is one comment, found again by its hidden marker and updated on each push.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use saphyr::{LoadableYamlNode as _, Yaml};
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the fake GitHub holds and saw.
#[derive(Default)]
struct Github {
    /// Release assets by URL path.
    files: BTreeMap<String, Vec<u8>>,
    /// The pull request's comments: (id, body).
    comments: Vec<(u64, String)>,
    /// `METHOD path` of every request, with its Authorization header.
    requests: Vec<(String, Option<String>)>,
}

/// A local HTTP/1.1 server (one connection at a time, each closed after its
/// answer) for the release downloads and the issue-comment API.
struct Server {
    port: u16,
    state: Arc<Mutex<Github>>,
}

impl Server {
    fn start(github: Github) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let state = Arc::new(Mutex::new(github));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = handle(stream, &shared);
            }
        });
        Server { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn handle(mut stream: TcpStream, state: &Mutex<Github>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, target) = (
        words.next().unwrap_or_default().to_owned(),
        words.next().unwrap_or_default().to_owned(),
    );
    let mut length = 0;
    let mut auth = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "authorization" => auth = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut github = state.lock().expect("state");
    github.requests.push((format!("{method} {path}"), auth));
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (status, answer): (u16, Vec<u8>) = match (method.as_str(), parts.as_slice()) {
        ("GET", _) if github.files.contains_key(path) => (200, github.files[path].clone()),
        ("GET", ["repos", _, _, "issues", _, "comments"]) => {
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let list: Vec<Value> = github
                .comments
                .iter()
                .skip((page - 1) * 100)
                .take(100)
                .map(|(id, body)| json!({"id": id, "body": body}))
                .collect();
            (200, serde_json::to_vec(&list).expect("json"))
        }
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            let text: Value = serde_json::from_slice(&body).expect("a JSON body");
            let id = 1000 + github.comments.len() as u64;
            github
                .comments
                .push((id, text["body"].as_str().expect("body").to_owned()));
            (201, serde_json::to_vec(&json!({"id": id})).expect("json"))
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let text: Value = serde_json::from_slice(&body).expect("a JSON body");
            let id: u64 = id.parse().expect("an id");
            match github.comments.iter_mut().find(|(i, _)| *i == id) {
                Some(comment) => {
                    comment.1 = text["body"].as_str().expect("body").to_owned();
                    (200, serde_json::to_vec(&json!({"id": id})).expect("json"))
                }
                None => (404, b"{}".to_vec()),
            }
        }
        _ => (404, b"{\"message\":\"Not Found\"}".to_vec()),
    };
    drop(github);
    write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        answer.len()
    )?;
    stream.write_all(&answer)?;
    stream.flush()
}

/// Runs `action/SCRIPT` with bash in `dir`, with `env` and cspctl on PATH.
fn script(name: &str, dir: &Path, env: &[(&str, String)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_cspctl"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg(root().join("action").join(name))
        .current_dir(dir)
        .env("PATH", path)
        .env("CSPCTL_NOW", "2026-03-01T10:00:00Z")
        .env("NO_COLOR", "1")
        .env_remove("CSPCTL_BACKEND")
        .env_remove("CSPCTL_STATE_URL");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("bash runs")
}

fn outputs(file: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A release as the release workflow publishes it: the archive and SHA256SUMS.
fn release(dir: &Path, listed_hash: Option<&str>) -> Github {
    let staging = dir.join("staging");
    std::fs::create_dir_all(&staging).expect("staging");
    std::fs::copy(env!("CARGO_BIN_EXE_cspctl"), staging.join("cspctl")).expect("copy");
    let archive = dir.join("cspctl-x86_64-unknown-linux-musl.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&staging)
        .arg("cspctl")
        .status()
        .expect("tar runs");
    assert!(status.success());
    let bytes = std::fs::read(&archive).expect("archive");
    let sum = Command::new("sha256sum")
        .arg(&archive)
        .output()
        .expect("sha256sum runs");
    let real = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_owned();
    let sums = format!(
        "{}  cspctl-x86_64-unknown-linux-musl.tar.gz\n{}  cspctl-aarch64-apple-darwin.tar.gz\n",
        listed_hash.unwrap_or(&real),
        "0".repeat(64)
    );
    let mut github = Github::default();
    let base = "/releases/download/v0.1.0";
    github.files.insert(
        format!("{base}/cspctl-x86_64-unknown-linux-musl.tar.gz"),
        bytes,
    );
    github
        .files
        .insert(format!("{base}/SHA256SUMS"), sums.into_bytes());
    github
}

fn install_env(server: &Server, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("CSPCTL_VERSION", "v0.1.0".to_owned()),
        ("CSPCTL_DOWNLOAD_URL", format!("{}/releases", server.url())),
        ("RUNNER_OS", "Linux".to_owned()),
        ("RUNNER_ARCH", "X64".to_owned()),
        ("RUNNER_TEMP", dir.display().to_string()),
        ("GITHUB_PATH", dir.join("github_path").display().to_string()),
        // Without the cspctl under test on PATH, which would count as installed.
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ]
}

#[test]
fn install_verifies_the_checksum_and_puts_cspctl_on_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(release(dir.path(), None));
    let output = script("install.sh", dir.path(), &install_env(&server, dir.path()));
    assert!(output.status.success(), "{}", text(&output));
    let added = std::fs::read_to_string(dir.path().join("github_path")).expect("GITHUB_PATH");
    let installed = PathBuf::from(added.trim()).join("cspctl");
    let version = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("the installed cspctl runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("cspctl {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(text(&output).contains("verified"), "{}", text(&output));
}

#[test]
fn install_refuses_an_archive_the_checksums_do_not_list() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(release(dir.path(), Some(&"ab".repeat(32))));
    let output = script("install.sh", dir.path(), &install_env(&server, dir.path()));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("the release lists abab"),
        "{}",
        text(&output)
    );
    assert!(!dir.path().join("github_path").exists());
}

/// The files GitHub gives a step: outputs, summary, event, temp folder.
fn step_env(dir: &Path, command: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CSPCTL_COMMAND", command.to_owned()),
        ("CSPCTL_MANIFESTS", "manifests".to_owned()),
        ("CSPCTL_ARGS", String::new()),
        ("CSPCTL_PLAN_FILE", "cspctl-plan.json".to_owned()),
        ("RUNNER_TEMP", dir.join("tmp").display().to_string()),
        (
            "GITHUB_OUTPUT",
            dir.join(format!("output-{command}")).display().to_string(),
        ),
        (
            "GITHUB_STEP_SUMMARY",
            dir.join("summary.md").display().to_string(),
        ),
    ]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn plan_comments_once_per_pull_request_and_apply_applies_the_plan() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    std::fs::create_dir_all(work.join("tmp")).expect("tmp");
    copy_dir(&root().join("examples/basic"), &work.join("manifests"));

    // plan: changes, the plan saved, the comment written.
    let output = script("run.sh", work, &step_env(work, "plan"));
    assert!(output.status.success(), "{}", text(&output));
    let plan = outputs(&work.join("output-plan"));
    assert_eq!(plan["exit-code"], "2");
    assert_eq!(plan["changes"], "true");
    assert_eq!(plan["manual-steps"], "0");
    assert_eq!(plan["plan-file"], "cspctl-plan.json");
    let comment_file = PathBuf::from(&plan["comment-file"]);
    let markdown = std::fs::read_to_string(&comment_file).expect("the comment");
    assert!(markdown.contains("Subscription/contoso-m365-business-basic"));

    // The pull request already has 120 other comments: the plan's lands on page 2.
    let github = Github {
        comments: (0..120).map(|i| (i, format!("comment {i}"))).collect(),
        ..Github::default()
    };
    let server = Server::start(github);
    let event = work.join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).expect("event");
    let comment_env = |file: &Path| {
        vec![
            ("GITHUB_TOKEN", "t0ken".to_owned()),
            ("GITHUB_API_URL", server.url()),
            ("GITHUB_REPOSITORY", "contoso/csp".to_owned()),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
            ("CSPCTL_COMMENT_FILE", file.display().to_string()),
            ("CSPCTL_MARKER", "cspctl-plan manifests".to_owned()),
            ("RUNNER_TEMP", work.join("tmp").display().to_string()),
        ]
    };
    let first = script("comment.sh", work, &comment_env(&comment_file));
    assert!(first.status.success(), "{}", text(&first));
    // A second push: another plan, the same comment updated.
    let second_plan = work.join("second.md");
    std::fs::write(&second_plan, "second plan\n").expect("write");
    let second = script("comment.sh", work, &comment_env(&second_plan));
    assert!(second.status.success(), "{}", text(&second));
    {
        let github = server.state.lock().expect("state");
        let ours: Vec<&(u64, String)> = github
            .comments
            .iter()
            .filter(|(_, body)| body.contains("<!-- cspctl-plan manifests -->"))
            .collect();
        assert_eq!(ours.len(), 1, "one comment, updated");
        assert!(ours[0].1.ends_with("second plan\n"), "{}", ours[0].1);
        let writes: Vec<&str> = github
            .requests
            .iter()
            .map(|(r, _)| r.as_str())
            .filter(|r| !r.starts_with("GET"))
            .collect();
        assert_eq!(
            writes,
            [
                "POST /repos/contoso/csp/issues/7/comments",
                "PATCH /repos/contoso/csp/issues/comments/1120"
            ]
        );
        assert!(
            github
                .requests
                .iter()
                .all(|(_, auth)| auth.as_deref() == Some("Bearer t0ken"))
        );
    }

    // apply: the saved plan, against the backend it recorded.
    let output = script("run.sh", work, &step_env(work, "apply"));
    assert!(output.status.success(), "{}", text(&output));
    let apply = outputs(&work.join("output-apply"));
    assert_eq!(
        (
            apply["exit-code"].as_str(),
            apply["changes"].as_str(),
            apply["manual-steps"].as_str()
        ),
        ("0", "true", "0")
    );
    // drift afterwards: in sync.
    let output = script("run.sh", work, &step_env(work, "drift"));
    assert!(output.status.success(), "{}", text(&output));
    let drift = outputs(&work.join("output-drift"));
    assert_eq!(
        (drift["exit-code"].as_str(), drift["changes"].as_str()),
        ("0", "false")
    );
}

#[test]
fn a_failing_command_fails_the_step_with_its_exit_code() {
    let dir = tempfile::tempdir().expect("temp dir");
    let work = dir.path();
    std::fs::create_dir_all(work.join("manifests")).expect("mkdir");
    std::fs::write(
        work.join("manifests/bad.yaml"),
        "apiVersion: cspctl/v1\nkind: Nope\n",
    )
    .expect("write");
    let output = script("run.sh", work, &step_env(work, "validate"));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(outputs(&work.join("output-validate"))["exit-code"], "1");
    assert!(String::from_utf8_lossy(&output.stdout).contains("::error file="));
}

/// A mapping's value, if it has the key.
fn get<'a>(node: &'a Yaml<'static>, key: &str) -> Option<&'a Yaml<'static>> {
    node.as_mapping()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// `action.yml` runs only scripts that exist, reads only inputs it declares, and
/// its outputs come from the run step.
#[test]
fn the_action_definition_fits_its_scripts() {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let docs = Yaml::load_from_str(&text).expect("YAML");
    let action = &docs[0];
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let inputs: Vec<String> = action["inputs"]
        .as_mapping()
        .expect("inputs")
        .keys()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    for used in text.split("inputs.").skip(1) {
        let name: String = used
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        assert!(inputs.contains(&name), "inputs.{name} is not declared");
    }
    for step in action["runs"]["steps"].as_vec().expect("steps") {
        if let Some(run) = get(step, "run").and_then(|r| r.as_str()) {
            let script = run
                .split("$GITHUB_ACTION_PATH/")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .expect("runs a script of the action");
            assert!(root().join(script).is_file(), "{script} is missing");
            assert_eq!(step["shell"].as_str(), Some("bash"));
        }
    }
    for (name, output) in action["outputs"].as_mapping().expect("outputs") {
        let value = output["value"].as_str().expect("a value");
        assert!(
            value.contains("steps.run.outputs."),
            "{name:?} comes from the run step"
        );
    }
}
