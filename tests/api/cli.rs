//! The command-line client, run as the real `livepage` binary against a real server: its three
//! output modes, its exit codes, Ctrl-C (cancel or detach), and reconnecting after a dropped
//! connection without repeating a byte.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use livepage::mock::{Content, Fault, Script};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, spawn_app_with};

fn paced(n: usize, pace_ms: u64) -> Script {
    Script {
        content: Content::Deltas((0..n).map(|i| format!("<p>part {i}</p>\n")).collect()),
        pace: Duration::from_millis(pace_ms),
        ..Script::default()
    }
}

fn expected(n: usize) -> String {
    (0..n).map(|i| format!("<p>part {i}</p>\n")).collect()
}

/// A server whose `retry:` hint is short, so that reconnecting tests run fast.
async fn spawn_server() -> TestApp {
    spawn_app_with(Backend::Sqlite, |config| {
        config.server.sse_retry = Duration::from_millis(20);
    })
    .await
}

/// A configuration folder for the client's owner key, so that no test writes to the home of
/// whoever runs it.
fn config_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder"))
        .path()
}

/// The real binary, with a server setting in the environment that the client must ignore.
fn livepage() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_livepage"));
    command
        .env("LIVEPAGE_CONFIG_DIR", config_dir())
        .env("LIVEPAGE_ADDR", "not-an-address")
        .env_remove("LIVEPAGE_SERVER")
        .env_remove("LIVEPAGE_EMAIL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// `livepage generate "a bakery" --email … --server <server>` plus `extra`.
fn generate(server: &str, extra: &[&str]) -> Command {
    let mut command = livepage();
    command
        .args(["generate", "a bakery", "--email", "ann@example.com"])
        .args(["--server", server])
        .args(extra);
    command
}

struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn finish(mut command: Command) -> Finished {
    let output = command.output().await.expect("the binary runs");
    Finished {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// Waits for a running child to exit (its stdout already read by the test), with its stderr.
async fn exit_of(mut child: Child) -> (ExitStatus, String) {
    let mut stderr = String::new();
    let mut pipe = child.stderr.take().expect("piped stderr");
    pipe.read_to_string(&mut stderr).await.expect("stderr");
    (child.wait().await.expect("exit status"), stderr)
}

fn interrupt(child: &Child) {
    let pid = child.id().expect("the child is running");
    kill(
        Pid::from_raw(i32::try_from(pid).expect("a pid fits")),
        Signal::SIGINT,
    )
    .expect("SIGINT sent");
}

#[tokio::test]
async fn json_output_is_one_event_per_line_ending_with_completed() {
    let app = spawn_server().await;
    app.mock.push(paced(20, 1));
    let run = finish(generate(&app.url("/"), &["--json"])).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line: {line}")))
        .collect();
    let ids: Vec<u64> = events.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    assert_eq!(events[0]["event"], "started");
    let last = events.last().unwrap();
    assert_eq!(last["event"], "completed");
    let text: String = events
        .iter()
        .filter(|e| e["event"] == "delta")
        .map(|e| e["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, expected(20));
    let live_url = last["data"]["live_url"].as_str().unwrap();
    assert!(run.stderr.contains(live_url), "{}", run.stderr);
    app.stop().await;
}

#[tokio::test]
async fn raw_output_is_exactly_the_models_text() {
    let app = spawn_server().await;
    app.mock.push(paced(30, 1));
    let run = finish(generate(&app.url("/"), &["--raw"])).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, expected(30));
    app.stop().await;
}

#[tokio::test]
async fn by_default_stdout_is_the_url_of_the_published_page() {
    let app = spawn_server().await;
    app.mock.push(paced(5, 1));
    let run = finish(generate(
        &app.url("/"),
        &["--type", "portfolio", "--theme", "dark"],
    ))
    .await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let live_url = run.stdout.strip_suffix('\n').expect("one line");
    assert!(live_url.starts_with(&app.url("/p/")), "{live_url}");
    let page = app.client.get(live_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("part 4"));
    assert!(
        !run.stderr.contains('\x1b'),
        "no progress bar when stderr is not a terminal: {:?}",
        run.stderr
    );
    let page_id = live_url.rsplit('/').next().unwrap();
    let (_, page) = app.get_json(&format!("/api/pages/{page_id}")).await;
    assert_eq!(
        (&page["page_type"], &page["theme"]),
        (&"portfolio".into(), &"dark".into())
    );
    app.stop().await;
}

#[tokio::test]
async fn open_launches_the_browser_on_the_published_page() {
    let app = spawn_server().await;
    app.mock.push(paced(3, 0));
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("opened");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let browser = dir.path().join("browser");
    std::fs::write(
        &browser,
        format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", fifo.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let mut command = generate(&app.url("/"), &["--open"]);
    command.env("BROWSER", &browser);
    let run = finish(command).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    // Opening the FIFO waits for the browser to write to it: no polling, no sleeping.
    let opened = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo)),
    )
    .await
    .expect("the browser was launched")
    .unwrap()
    .unwrap();
    assert_eq!(opened, run.stdout.trim_end());
    app.stop().await;
}

#[tokio::test]
async fn a_failed_generation_exits_1_with_the_servers_message() {
    let app = spawn_server().await;
    app.mock.push(Script {
        fault: Some(Fault::MidStreamError {
            after: 1,
            empty_choices: false,
        }),
        ..paced(5, 0)
    });
    let run = finish(generate(&app.url("/"), &[])).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no URL: {}", run.stdout);
    assert!(
        run.stderr.contains("error: ") && run.stderr.contains("(upstream_error)"),
        "{}",
        run.stderr
    );
    app.stop().await;
}

/// `livepage <args> --server <server>` with its owner key in `dir`.
fn owner_command(dir: &std::path::Path, server: &str, args: &[&str]) -> Command {
    let mut command = livepage();
    command
        .env("LIVEPAGE_CONFIG_DIR", dir)
        .args(args)
        .args(["--server", server]);
    command
}

#[tokio::test]
async fn refine_shows_the_new_version_and_versions_lists_them() {
    let app = spawn_server().await;
    let server = app.url("/");
    let mine = tempfile::tempdir().unwrap();
    app.mock.push(paced(3, 1));
    let made = finish(owner_command(
        mine.path(),
        &server,
        &["generate", "a bakery", "--email", "ann@example.com"],
    ))
    .await;
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let live_url = made.stdout.trim().to_owned();

    // By its live URL; the demo model's edit blocks (the mock's own refine answer).
    app.mock.push(Script {
        content: Content::Demo,
        ..Script::default()
    });
    let refined = finish(owner_command(
        mine.path(),
        &server,
        &["refine", &live_url, "add a section about opening hours"],
    ))
    .await;
    assert_eq!(refined.code, Some(0), "{}", refined.stderr);
    assert_eq!(
        refined.stdout.trim(),
        live_url,
        "stdout is the live URL, as for generate"
    );
    assert!(
        refined
            .stderr
            .contains(&format!("version 2: {live_url}/v/2")),
        "{}",
        refined.stderr
    );
    let page = app
        .client
        .get(&live_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Opening hours"), "{page}");

    // --json: every event a line, `completed` with its version; a failed refine exits 1.
    app.mock.push(Script {
        content: Content::Deltas(vec!["Sorry, no.".into()]),
        ..Script::default()
    });
    app.mock.push(Script {
        content: Content::Deltas(vec!["Still no.".into()]),
        ..Script::default()
    });
    let failed = finish(owner_command(
        mine.path(),
        &server,
        &["refine", &live_url, "do the impossible", "--json"],
    ))
    .await;
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    let last: Value = serde_json::from_str(failed.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "error");
    assert_eq!(last["data"]["code"], "edit_failed");

    let listed = finish(owner_command(
        mine.path(),
        &server,
        &["versions", &live_url],
    ))
    .await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", listed.stdout);
    assert!(
        lines[0].starts_with("*v2") && lines[0].contains("refined"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("add a section about opening hours"));
    assert!(
        lines[1].starts_with(" v1") && lines[1].contains("created"),
        "{}",
        lines[1]
    );

    // Not your page: refused, exit 2.
    let theirs = tempfile::tempdir().unwrap();
    let refused = finish(owner_command(
        theirs.path(),
        &server,
        &["refine", &live_url, "x"],
    ))
    .await;
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(refused.stderr.contains("forbidden"), "{}", refused.stderr);
    app.stop().await;
}

#[tokio::test]
async fn your_pages_are_listed_unpublished_published_and_deleted_with_your_owner_key() {
    let app = spawn_server().await;
    let server = app.url("/");
    let mine = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();

    let none = finish(owner_command(mine.path(), &server, &["pages"])).await;
    assert_eq!(none.code, Some(0), "{}", none.stderr);
    assert_eq!(none.stdout, "");
    assert!(none.stderr.contains("no pages yet"), "{}", none.stderr);
    // The key is made on first use, readable by its owner alone.
    let key_file = mine.path().join("owner-key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 48);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    app.mock.push(paced(3, 1));
    let mut made = owner_command(
        mine.path(),
        &server,
        &["generate", "a bakery", "--email", "ann@example.com"],
    );
    made.args(["--theme", "dark"]);
    let made = finish(made).await;
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    let live_url = made.stdout.trim().to_owned();
    let page_id = live_url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        key,
        "the same key"
    );

    let listed = finish(owner_command(mine.path(), &server, &["pages"])).await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert_eq!(listed.stdout.lines().count(), 1, "{}", listed.stdout);
    assert!(
        listed.stdout.starts_with(&format!("{page_id}  published")),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.trim_end().ends_with(&live_url),
        "{}",
        listed.stdout
    );
    let json = finish(owner_command(mine.path(), &server, &["pages", "--json"])).await;
    let page: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(page["prompt"], "a bakery");
    assert_eq!(page["theme"], "dark");

    // Another user's key: not their page.
    let stranger = finish(owner_command(
        theirs.path(),
        &server,
        &["unpublish", &page_id],
    ))
    .await;
    assert_eq!(stranger.code, Some(2), "{}", stranger.stderr);
    assert!(
        stranger.stderr.contains("(forbidden)"),
        "{}",
        stranger.stderr
    );
    let empty = finish(owner_command(theirs.path(), &server, &["pages"])).await;
    assert_eq!(empty.stdout, "");

    let unpublished = finish(owner_command(
        mine.path(),
        &server,
        &["unpublish", &live_url],
    ))
    .await;
    assert_eq!(unpublished.code, Some(0), "{}", unpublished.stderr);
    assert!(
        unpublished.stdout.starts_with("unpublished:"),
        "{}",
        unpublished.stdout
    );
    assert_eq!(
        app.client.get(&live_url).send().await.unwrap().status(),
        404
    );
    let listed = finish(owner_command(mine.path(), &server, &["pages"])).await;
    assert!(
        listed.stdout.contains("  unpublished  "),
        "{}",
        listed.stdout
    );

    let published = finish(owner_command(mine.path(), &server, &["publish", &page_id])).await;
    assert_eq!(published.code, Some(0), "{}", published.stderr);
    assert_eq!(published.stdout.trim(), format!("published: {live_url}"));
    assert_eq!(
        app.client.get(&live_url).send().await.unwrap().status(),
        200
    );

    let deleted = finish(owner_command(mine.path(), &server, &["delete", &page_id])).await;
    assert_eq!(deleted.code, Some(0), "{}", deleted.stderr);
    assert_eq!(deleted.stdout.trim(), format!("deleted: {page_id}"));
    assert_eq!(
        app.client.get(&live_url).send().await.unwrap().status(),
        410
    );
    let again = finish(owner_command(mine.path(), &server, &["delete", &page_id])).await;
    assert_eq!(again.code, Some(2), "{}", again.stderr);
    assert!(again.stderr.contains("(gone)"), "{}", again.stderr);
    let unknown = finish(owner_command(
        mine.path(),
        &server,
        &["publish", &uuid::Uuid::nil().to_string()],
    ))
    .await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("(not_found)"), "{}", unknown.stderr);
    let unreachable = finish(owner_command(
        mine.path(),
        "http://127.0.0.1:1/",
        &["pages"],
    ))
    .await;
    assert_eq!(unreachable.code, Some(3), "{}", unreachable.stderr);
    app.stop().await;
}

#[tokio::test]
async fn bad_arguments_and_refused_requests_exit_2() {
    let app = spawn_server().await;
    let server = app.url("/");

    let no_email = finish({
        let mut command = livepage();
        command.args(["generate", "a bakery", "--server", &server]);
        command
    })
    .await;
    assert_eq!(no_email.code, Some(2), "{}", no_email.stderr);
    assert!(no_email.stderr.contains("--email"), "{}", no_email.stderr);

    let bad_type = finish(generate(&server, &["--type", "zine"])).await;
    assert_eq!(bad_type.code, Some(2), "{}", bad_type.stderr);

    // Only the server knows its allow-list: its JSON error is shown as `error: <message> (<code>)`.
    let bad_model = finish(generate(&server, &["--model", "someone/else"])).await;
    assert_eq!(bad_model.code, Some(2), "{}", bad_model.stderr);
    assert!(
        bad_model.stderr.starts_with("error: model must be one of:")
            && bad_model.stderr.trim_end().ends_with("(model_not_allowed)"),
        "{}",
        bad_model.stderr
    );
    assert!(app.mock.requests().is_empty(), "nothing was generated");

    let unknown = finish({
        let mut command = livepage();
        command.args([
            "follow",
            "00000000-0000-0000-0000-000000000000",
            "--server",
            &server,
        ]);
        command
    })
    .await;
    assert_eq!(unknown.code, Some(2), "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("generation not found (not_found)"),
        "{}",
        unknown.stderr
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_server_exits_3() {
    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = nobody.local_addr().unwrap();
    drop(nobody);
    let run = finish(generate(&format!("http://{address}"), &[])).await;
    assert_eq!(run.code, Some(3), "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach the server"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn the_server_still_runs_without_a_command_and_checks_its_settings() {
    // No command means the server, whose settings come from the environment: a bad one stops
    // it before it starts, naming the variable.
    let run = finish(livepage()).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("LIVEPAGE_ADDR"), "{}", run.stderr);
}

#[tokio::test]
async fn ctrl_c_cancels_the_generation_on_the_server_and_exits_130() {
    let app = spawn_server().await;
    app.mock.push(paced(500, 20));
    let mut child = generate(&app.url("/"), &["--json"]).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(started["event"], "started");
    let id = started["data"]["generation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.contains(r#""event":"delta""#) {
            break;
        }
    }

    interrupt(&child);
    while lines.next_line().await.unwrap().is_some() {}
    let (status, stderr) = exit_of(child).await;
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    let (_, generation) = app.get_json(&format!("/api/generations/{id}")).await;
    assert_eq!(generation["status"], "cancelled", "{generation}");
    app.mock.wait_for_disconnects(1).await;
    app.stop().await;
}

#[tokio::test]
async fn with_detach_ctrl_c_leaves_it_running_and_follow_carries_on_where_it_stopped() {
    let app = spawn_server().await;
    app.mock.push(paced(60, 10));
    let mut child = generate(&app.url("/"), &["--raw", "--detach"])
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut before = vec![0; 64];
    let n = stdout.read(&mut before).await.unwrap();
    before.truncate(n);

    interrupt(&child);
    stdout.read_to_end(&mut before).await.unwrap();
    let (status, stderr) = exit_of(child).await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let resume = stderr
        .lines()
        .find(|line| line.starts_with("livepage follow "))
        .unwrap_or_else(|| panic!("the follow command is printed: {stderr}"));
    let args: Vec<&str> = resume.split_whitespace().skip(1).collect();
    assert!(
        args.contains(&"--from") && args.contains(&"--raw"),
        "{resume}"
    );

    let mut follow = livepage();
    follow.args(&args);
    let after = finish(follow).await;
    assert_eq!(after.code, Some(0), "{}", after.stderr);
    let before = String::from_utf8(before).unwrap();
    assert_eq!(
        before + &after.stdout,
        expected(60),
        "every byte exactly once"
    );
    let (_, generation) = app.get_json(&format!("/api/generations/{}", args[1])).await;
    assert_eq!(generation["status"], "completed", "{generation}");
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_without_repeating_output() {
    let app = spawn_server().await;
    app.mock.push(paced(60, 5));
    let proxy = FlakyProxy::start(app.address, 2_500).await;
    let run = finish(generate(&format!("http://{}", proxy.address), &["--raw"])).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(run.stdout, expected(60), "every byte exactly once");

    let cut_off = proxy.first_connection();
    assert!(
        cut_off.contains("event: delta") && !cut_off.contains("event: completed"),
        "the cut came mid-text: {cut_off}"
    );
    assert!(
        proxy.connections() >= 2,
        "the client reconnected ({} connections)",
        proxy.connections()
    );
    assert_eq!(app.mock.requests().len(), 1, "one generation, not two");
    app.stop().await;
}

/// A TCP proxy that cuts its first connection after `cut_after` bytes from the server; later
/// connections pass through whole.
struct FlakyProxy {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    /// What the first connection relayed from the server before the cut.
    first: Arc<Mutex<Vec<u8>>>,
    accept: JoinHandle<()>,
}

impl FlakyProxy {
    async fn start(target: SocketAddr, cut_after: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let first = Arc::new(Mutex::new(Vec::new()));
        let (counter, record) = (connections.clone(), first.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let is_first = counter.fetch_add(1, Ordering::SeqCst) == 0;
                let record = record.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    if is_first {
                        relay_then_cut(client, server, cut_after, &record).await;
                    } else {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            address,
            connections,
            first,
            accept,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn first_connection(&self) -> String {
        String::from_utf8_lossy(&self.first.lock().unwrap()).into_owned()
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Relays both ways until `limit` bytes have gone from the server to the client (recording
/// them), then closes both connections.
async fn relay_then_cut(
    client: TcpStream,
    server: TcpStream,
    limit: usize,
    record: &Mutex<Vec<u8>>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
    });
    let mut buffer = [0; 1024];
    let mut sent = 0;
    while sent < limit {
        let room = (limit - sent).min(buffer.len());
        let n = match server_read.read(&mut buffer[..room]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        record.lock().unwrap().extend_from_slice(&buffer[..n]);
        sent += n;
    }
    requests.abort();
}
