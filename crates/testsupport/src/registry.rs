//! A real registry for tests: Debian's `docker-registry` (the Distribution project) on a free
//! loopback port, optionally behind htpasswd auth or a front (a bearer-token challenge, a
//! flaky proxy, a gate that holds manifest requests), with images pushed by `skopeo` from OCI
//! layouts the tests build.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A running registry, stopped when dropped.
pub struct TestRegistry {
    child: Option<Child>,
    _dir: tempfile::TempDir,
    address: String,
    credentials: Option<(String, String)>,
}

impl TestRegistry {
    /// An open registry.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// A registry that demands `user`/`password` (htpasswd, HTTP Basic).
    pub fn start_with_htpasswd(user: &str, password: &str) -> Self {
        Self::launch(Some((user.to_owned(), password.to_owned())))
    }

    fn launch(credentials: Option<(String, String)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {address}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = &credentials {
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (apache2-utils) is installed by scripts/install-deps --test");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, output.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed by scripts/install-deps --test");
        wait_for_port(&address);
        Self {
            child: Some(child),
            _dir: dir,
            address,
            credentials,
        }
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Pushes `tag` of the OCI layout at `layout` as `repository:tag` (every platform of an
    /// index).
    /// skopeo always compresses plain-tar layers on the way to a registry (gzip); gzip and zstd
    /// layers arrive as they are.
    pub fn push(&self, layout: &Path, tag: &str, repository: &str) {
        self.push_as(layout, tag, repository, None);
    }

    /// Like `push`, converting to Docker's formats (schema 2 manifests and manifest lists).
    pub fn push_docker_format(&self, layout: &Path, tag: &str, repository: &str) {
        self.push_as(layout, tag, repository, Some("v2s2"));
    }

    fn push_as(&self, layout: &Path, tag: &str, repository: &str, format: Option<&str>) {
        let mut command = Command::new("skopeo");
        command
            .args(["copy", "--all", "--quiet", "--dest-tls-verify=false"])
            .args(format.map(|f| format!("--format={f}")))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repository}:{tag}", self.address));
        if let Some((user, password)) = &self.credentials {
            command.arg(format!("--dest-creds={user}:{password}"));
        }
        let output = command
            .output()
            .expect("skopeo is installed by scripts/install-deps --test");
        assert!(
            output.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Kills the registry, as if it went away.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Overwrites a stored blob's bytes, keeping its name: the registry will then serve
    /// content that does not match its digest.
    pub fn corrupt_blob(&self, digest: &str) {
        let hex = digest.trim_start_matches("sha256:");
        let path = self
            ._dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let mut bytes = std::fs::read(&path).expect("blob stored in the registry");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A front for a registry: forwards requests to it, after playing one of the parts real
/// registries and proxies play. Serves until the test process ends.
pub struct Front {
    address: String,
    /// Bearer tokens handed out, or requests seen by a flaky front.
    pub count: Arc<AtomicUsize>,
}

/// What a [`Front`] does before forwarding.
#[derive(Clone)]
enum FrontMode {
    /// Docker Hub's bearer-token challenge: `/token` hands out a token, and every other
    /// request must carry it.
    Bearer,
    /// The first `n` requests get `503 Service Unavailable`, as from an overloaded proxy.
    FailFirst(usize),
    /// Manifest requests wait while the gate is closed.
    Gated(Gate),
}

/// Holds a gated [`Front`]'s manifest requests (a registry slow to answer, at will). True
/// while closed.
#[derive(Clone, Default)]
pub struct Gate(Arc<std::sync::atomic::AtomicBool>);

impl Gate {
    /// Manifest requests wait from now on.
    pub fn close(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// They go on (the waiting ones too).
    pub fn open(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    fn wait(&self) {
        while self.0.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

const TOKEN: &str = "berth-test-token";

impl Front {
    /// A bearer-token front for the registry at `upstream`.
    pub fn bearer(upstream: &str) -> Self {
        Self::start(upstream, FrontMode::Bearer)
    }

    /// A front that fails the first `failures` requests with 503.
    pub fn flaky(upstream: &str, failures: usize) -> Self {
        Self::start(upstream, FrontMode::FailFirst(failures))
    }

    /// A front whose manifest requests wait while its gate is closed; it starts open.
    pub fn gated(upstream: &str) -> (Self, Gate) {
        let gate = Gate::default();
        (Self::start(upstream, FrontMode::Gated(gate.clone())), gate)
    }

    fn start(upstream: &str, mode: FrontMode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let realm = format!("http://{address}/token");
        let (upstream, counter) = (upstream.to_owned(), count.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, realm, counter) = (upstream.clone(), realm.clone(), counter.clone());
                let mode = mode.clone();
                std::thread::spawn(move || serve_front(stream, &upstream, &realm, &mode, &counter));
            }
        });
        Self { address, count }
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> &str {
        &self.address
    }
}

fn serve_front(
    mut client: TcpStream,
    upstream: &str,
    realm: &str,
    mode: &FrontMode,
    count: &AtomicUsize,
) {
    client.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let request_line = head[0].clone();
    let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
    if let FrontMode::Gated(gate) = mode {
        if path.contains("/manifests/") {
            gate.wait();
        }
        forward(&mut client, &head, upstream);
        return;
    }
    if let FrontMode::FailFirst(failures) = *mode {
        if count.fetch_add(1, Ordering::SeqCst) < failures {
            let _ = write!(
                client,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        forward(&mut client, &head, upstream);
        return;
    }
    let authorized = head
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("authorization:") && h.contains(TOKEN));
    if path.starts_with("/token") {
        count.fetch_add(1, Ordering::SeqCst);
        let body = format!(r#"{{"token":"{TOKEN}"}}"#);
        let _ = write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    if !authorized {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let _ = write!(
            client,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"berth-test\",scope=\"repository:test:pull\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    forward(&mut client, &head, upstream);
}

/// Sends the request `head` (which has no body: registries are read with GET) to `upstream`
/// and copies the answer back.
fn forward(client: &mut TcpStream, head: &[String], upstream: &str) {
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    let mut forwarded = String::new();
    for line in head {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:")
            || lower.starts_with("authorization:")
            || lower.starts_with("host:")
        {
            continue;
        }
        if line == "\r\n" {
            forwarded.push_str(&format!("Host: {upstream}\r\nConnection: close\r\n\r\n"));
        } else {
            forwarded.push_str(line);
        }
    }
    if server.write_all(forwarded.as_bytes()).is_err() {
        return;
    }
    let mut response = Vec::new();
    let _ = server.read_to_end(&mut response);
    let _ = client.write_all(&response);
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(address: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(address).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on {address}");
}
