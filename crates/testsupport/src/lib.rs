//! Test support shared by every end-to-end test: start a real `berth up` on a free loopback
//! port with its own data directory, kill or restart it, and talk to it the ways users do —
//! the AWS SDK for Rust, the `aws` CLI, and raw HTTP for protocol edge cases.

pub mod netns;
pub mod oci;
pub mod registry;
pub mod tasks;

use berth_firewall::{self as firewall, Backend};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode, PortMapping};

/// A `berth up` process owned by a test. It is killed when dropped.
pub struct Berth {
    binary: PathBuf,
    extra_args: Vec<String>,
    extra_env: Vec<(String, String)>,
    data_dir: tempfile::TempDir,
    child: Option<Child>,
    endpoint: String,
    network: NetworkSlot,
}

/// The administrator key a server wrote to its data directory at first start, or the
/// throwaway key tests use against a server started with `--auth none`.
#[derive(Debug, Clone)]
pub struct TestCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// Its secret.
    pub secret_access_key: String,
}

/// A VPC block and bridge of this test's own, so that berth servers of tests running at once
/// never hand out the same address on the same bridge: slot N is `10.N.0.0/16` on bridge
/// `berthtestN`, held by a lock on `/tmp/berth-test-net-N.lock` while the server lives (and
/// released by the kernel if the test process dies).
struct NetworkSlot {
    number: u32,
    _lock: std::fs::File,
}

impl NetworkSlot {
    fn claim() -> Self {
        for number in 1..=250 {
            let Ok(file) = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(format!("/tmp/berth-test-net-{number}.lock"))
            else {
                continue;
            };
            if file.try_lock().is_ok() {
                return Self {
                    number,
                    _lock: file,
                };
            }
        }
        panic!("no free test network slot in /tmp/berth-test-net-*.lock");
    }

    fn args(&self) -> [String; 4] {
        [
            "--vpc-cidr".into(),
            format!("10.{}.0.0/16", self.number),
            "--bridge".into(),
            self.bridge(),
        ]
    }

    fn bridge(&self) -> String {
        format!("berthtest{}", self.number)
    }
}

impl Berth {
    /// Starts `berth up` (the binary at `binary`, usually `env!("CARGO_BIN_EXE_berth")`) on a
    /// free loopback port with a fresh data directory, and waits until it serves.
    pub fn start(binary: &str) -> Self {
        Self::start_with(binary, &[])
    }

    /// Like `start`, with more `berth up` flags.
    pub fn start_with(binary: &str, args: &[&str]) -> Self {
        Self::start_with_env(binary, args, &[])
    }

    /// Like `start`, with more `berth up` flags and environment variables.
    pub fn start_with_env(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let network = NetworkSlot::claim();
        let mut berth = Self {
            binary: PathBuf::from(binary),
            extra_args: network
                .args()
                .into_iter()
                .chain(args.iter().map(|a| a.to_string()))
                .collect(),
            extra_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data_dir,
            child: None,
            endpoint: String::new(),
            network,
        };
        berth.launch();
        berth
    }

    fn launch(&mut self) {
        let (child, endpoint) = spawn_up_with(
            &self.binary,
            self.data_dir.path(),
            "127.0.0.1:0",
            &self.extra_args,
            &self.extra_env,
        )
        .unwrap_or_else(|message| panic!("berth up did not start: {message}"));
        self.child = Some(child);
        self.endpoint = endpoint;
    }

    /// The bridge this server's tasks join.
    pub fn bridge(&self) -> String {
        self.network.bridge()
    }

    /// This server's network slot: its VPC is `10.N.0.0/16`.
    pub fn network_slot(&self) -> u32 {
        self.network.number
    }

    /// The pid of task `id`'s supervisor, whose network namespace is the task's.
    pub fn supervisor_pid(&self, id: &str) -> Option<u32> {
        let state = std::fs::read(
            self.data_dir()
                .join("run/tasks")
                .join(id)
                .join("state.json"),
        )
        .ok()?;
        let state: serde_json::Value = serde_json::from_slice(&state).ok()?;
        state["shimPid"].as_u64().map(|pid| pid as u32)
    }

    /// The server's administrator key (`DATA_DIR/credentials`, profile `berth`), or a
    /// throwaway key when it wrote none (`--auth none` accepts any).
    pub fn credentials(&self) -> TestCredentials {
        let text = std::fs::read_to_string(self.credentials_file()).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .filter_map(|line| line.split_once('='))
                .find(|(key, _)| key.trim() == name)
                .map(|(_, value)| value.trim().to_owned())
        };
        match (field("aws_access_key_id"), field("aws_secret_access_key")) {
            (Some(access_key_id), Some(secret_access_key)) => TestCredentials {
                access_key_id,
                secret_access_key,
            },
            _ => TestCredentials {
                access_key_id: "AKIDBERTHTEST".into(),
                secret_access_key: "secret".into(),
            },
        }
    }

    /// `DATA_DIR/credentials`, as `berth up` writes it.
    pub fn credentials_file(&self) -> PathBuf {
        self.data_dir().join("credentials")
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// The binary under test.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to die.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // The shell's builtin `kill`: no dependency on procps, no unsafe libc call.
        let _ = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", child.id())])
            .status();
        child.wait().ok()?.code()
    }

    /// Starts the server again on the same data directory (and a new port).
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// Starts another `berth up` on this server's data directory with its flags (bridge and
    /// VPC range included, so that no other server on the machine is in its way); returns it
    /// with its endpoint, or what it said before exiting.
    pub fn spawn_again(&self) -> Result<(Child, String), String> {
        spawn_up_with(
            &self.binary,
            self.data_dir.path(),
            "127.0.0.1:0",
            &self.extra_args,
            &self.extra_env,
        )
    }

    /// Runs a `berth` client command against this server, signing as the aws CLI would
    /// with its credentials file and profile; returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run berth")
    }

    /// The `berth` binary set up as `cli` runs it — endpoint, credentials file and profile —
    /// for a test that spawns it its own way.
    pub fn cli_command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env("BERTH_ENDPOINT", &self.endpoint)
            .env("AWS_SHARED_CREDENTIALS_FILE", self.credentials_file())
            .env("AWS_PROFILE", "berth")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN");
        command
    }

    /// An ECS client from the AWS SDK for Rust pointed at this server, in `region`.
    pub fn ecs_in(&self, region: &str) -> aws_sdk_ecs::Client {
        let key = self.credentials();
        self.ecs_as(region, &key.access_key_id, &key.secret_access_key, None)
    }

    /// An ECS client signing with the given key (and session token), in `region`.
    pub fn ecs_as(
        &self,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> aws_sdk_ecs::Client {
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(Credentials::new(
                access_key_id,
                secret_access_key,
                session_token.map(str::to_owned),
                None,
                "tests",
            ))
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_ecs::Client::from_conf(config)
    }

    /// An ECS client in `us-east-1`.
    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        self.ecs_in("us-east-1")
    }

    /// Runs the `aws` CLI against this server, in `dir`, with the server's administrator key.
    pub fn aws(&self, dir: &Path, args: &[&str]) -> Output {
        let key = self.credentials();
        self.aws_with(
            dir,
            args,
            &[
                ("AWS_ACCESS_KEY_ID", &key.access_key_id),
                ("AWS_SECRET_ACCESS_KEY", &key.secret_access_key),
            ],
        )
    }

    /// Runs the `aws` CLI against this server, in `dir`, with these environment variables
    /// (credentials among them) over the defaults.
    pub fn aws_with(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(aws_cli())
            .args(args)
            .current_dir(dir)
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_PAGER", "")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run the aws CLI ({}): run scripts/test, which installs it: {e}",
                    aws_cli().display()
                )
            })
    }

    /// Runs the `aws` CLI and parses its JSON output, panicking with its stderr on failure.
    pub fn aws_json(&self, dir: &Path, args: &[&str]) -> serde_json::Value {
        let output = self.aws(dir, args);
        assert!(
            output.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("aws CLI printed JSON")
    }

    /// Sends one raw HTTP/1.1 request and returns (status, body).
    pub fn raw_request(
        &self,
        method: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        self.raw_request_to(method, "/", headers, body)
    }

    /// Like `raw_request`, to `path`, signed with the server's administrator key (for the
    /// service its headers or path name: `ecs` for `X-Amz-Target`, `berth` for
    /// `/berth/...`, else `ec2`).
    pub fn raw_request_to(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let service = if path.starts_with("/berth/") {
            "berth"
        } else if headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-target"))
        {
            "ecs"
        } else {
            "ec2"
        };
        let signed = self.sign(method, path, headers, body, service);
        let signed: Vec<(&str, &str)> = signed
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.raw_unsigned_to(method, path, &signed, body)
    }

    /// `headers` and the SigV4 headers that sign `method path` with `body` for `service`,
    /// with the server's administrator key, now.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        service: &str,
    ) -> Vec<(String, String)> {
        let key = self.credentials();
        sign_with(
            &self.endpoint,
            method,
            path,
            headers,
            body,
            service,
            &berth_sigv4::sign::Credentials {
                access_key_id: key.access_key_id,
                secret_access_key: key.secret_access_key,
                session_token: None,
            },
            berth_sigv4::AmzDate::now(),
        )
    }

    /// Like `raw_request_as`, signed (for `service`) with the server's administrator key as
    /// a client that reached the server as `host` would sign it; `None` sends no Host at all
    /// (signed as if to the server's address).
    pub fn raw_signed_as(
        &self,
        host: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        service: &str,
    ) -> (u16, String, String) {
        let key = self.credentials();
        let endpoint = format!("http://{}", host.unwrap_or(self.authority()));
        let signed = sign_with(
            &endpoint,
            method,
            path,
            headers,
            body,
            service,
            &berth_sigv4::sign::Credentials {
                access_key_id: key.access_key_id,
                secret_access_key: key.secret_access_key,
                session_token: None,
            },
            berth_sigv4::AmzDate::now(),
        );
        let signed: Vec<(&str, &str)> = signed
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.raw_request_as(host, method, path, &signed, body)
    }

    /// Sends one raw HTTP/1.1 request exactly as given (no signature added) to `path`.
    pub fn raw_unsigned_to(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let (status, _, body) =
            self.raw_request_as(Some(self.authority()), method, path, headers, body);
        (status, body)
    }

    /// Sends one raw HTTP/1.1 request as given (no signature added), with `host` as the Host
    /// header (none at all when `None`); returns (status, head, body), the head being the
    /// status line and headers.
    pub fn raw_request_as(
        &self,
        host: Option<&str>,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String, String) {
        let mut connection = self.connect();
        let mut request = format!("{method} {path} HTTP/1.1\r\n");
        if let Some(host) = host {
            request.push_str(&format!("Host: {host}\r\n"));
        }
        request.push_str(&format!(
            "Connection: close\r\nContent-Length: {}\r\n",
            body.len()
        ));
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("host") {
                continue;
            }
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        connection.send(request.as_bytes()).expect("send request");
        // A server may answer (413) before reading a large body and close: ignore write errors.
        let _ = connection.send(body);
        // As long as the server keeps sending, with at most 10 s of silence.
        let mut response = Vec::new();
        let stream = &mut connection.stream;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        (status, head.to_owned(), body.to_owned())
    }

    /// `127.0.0.1:PORT`, as dialled and as the Host header of raw requests.
    pub fn authority(&self) -> &str {
        self.endpoint.trim_start_matches("http://")
    }

    /// A raw TCP connection to the server, for requests written piece by piece.
    pub fn connect(&self) -> RawConnection {
        RawConnection {
            stream: TcpStream::connect(self.authority()).expect("connect to berth"),
        }
    }

    /// An ECS JSON request over raw HTTP: (status, parsed body).
    pub fn raw_ecs(&self, operation: &str, body: &[u8]) -> (u16, serde_json::Value) {
        let target = format!("AmazonEC2ContainerServiceV20141113.{operation}");
        let (status, body) = self.raw_request(
            "POST",
            &[
                ("X-Amz-Target", &target),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            body,
        );
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// A TCP connection to berth driven byte by byte: requests left unfinished, dripped, or
/// followed by silence. Every read is bounded by the time it is given.
pub struct RawConnection {
    stream: TcpStream,
}

impl RawConnection {
    /// Writes `bytes` (all of them, or the error that stopped it: the server closed).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Reads until the server closes the connection or `within` passes; returns how long it
    /// took to close (`None`: still open) and everything read.
    pub fn read_to_close(&mut self, within: Duration) -> (Option<Duration>, Vec<u8>) {
        let start = std::time::Instant::now();
        let mut read = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let Some(left) = within.checked_sub(start.elapsed()).filter(|d| !d.is_zero()) else {
                return (None, read);
            };
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut buffer) {
                Ok(0) => return (Some(start.elapsed()), read),
                Ok(n) => read.extend_from_slice(&buffer[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return (None, read);
                }
                // A reset is a close too (the server dropped what it had not read).
                Err(_) => return (Some(start.elapsed()), read),
            }
        }
    }

    /// Reads one response with a `Content-Length` body, leaving the connection open; returns
    /// (status, body), or `None` if none is complete within `within`.
    pub fn read_response(&mut self, within: Duration) -> Option<(u16, String)> {
        let start = std::time::Instant::now();
        let mut read = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let text = String::from_utf8_lossy(&read).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    let status = head.split(' ').nth(1)?.parse().ok()?;
                    return Some((status, body.to_owned()));
                }
            }
            let left = within
                .checked_sub(start.elapsed())
                .filter(|d| !d.is_zero())?;
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut buffer) {
                Ok(0) | Err(_) => return None,
                Ok(n) => read.extend_from_slice(&buffer[..n]),
            }
        }
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        self.kill9();
        reap_tasks(self.data_dir.path());
        let bridge = self.network.bridge();
        let _ = Command::new("ip")
            .args(["link", "delete", &bridge])
            .stderr(Stdio::null())
            .status();
        for backend in [Backend::Nftables, Backend::Iptables] {
            if firewall::present(backend, &bridge) {
                let _ = firewall::remove(backend, &bridge);
            }
        }
    }
}

/// Tasks outlive `berth up` by design: once a test's server is gone, this kills what is left
/// of its tasks (supervisors and containers) and removes their cgroups, network namespaces and
/// mounts, so that no test leaves anything running on the machine.
fn reap_tasks(data_dir: &Path) {
    let Ok(tasks) = std::fs::read_dir(data_dir.join("tasks")) else {
        return;
    };
    for task in tasks.flatten() {
        let id = task.file_name().to_string_lossy().into_owned();
        let shim_pid = std::fs::read(data_dir.join("run/tasks").join(&id).join("state.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|state| state["shimPid"].as_u64());
        if let Some(pid) = shim_pid {
            // Only if that pid is still this task's supervisor, not a recycled one.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&id) {
                let _ = Command::new("sh")
                    .args(["-c", &format!("kill -KILL {pid}")])
                    .status();
            }
        }
        berth_runtime::cgroups::kill_and_remove(
            Path::new(berth_runtime::cgroups::CGROUP_ROOT),
            &format!("berth/{id}"),
        );
        let _ = Command::new("ip")
            .args(["netns", "delete", &format!("berth-{id}")])
            .stderr(Stdio::null())
            .status();
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = data_dir.to_string_lossy().into_owned();
    let mut mounts: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&prefix))
        .collect();
    mounts.reverse();
    for point in mounts {
        let _ = Command::new("umount").args(["-l", point]).status();
    }
}

/// `headers` plus the SigV4 headers (`x-amz-date`, `authorization`, a session token) that
/// sign `method path` with `body` for `service` in us-east-1 at `now`, as sent to `endpoint`.
#[allow(clippy::too_many_arguments)]
pub fn sign_with(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    credentials: &berth_sigv4::sign::Credentials,
    now: berth_sigv4::AmzDate,
) -> Vec<(String, String)> {
    let mut map = http::HeaderMap::new();
    map.insert(
        "host",
        endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("host header"),
    );
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    // A declared payload hash (UNSIGNED-PAYLOAD for a stream) is what the signature covers.
    let payload = map
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| berth_sigv4::sha256_hex(body), str::to_owned);
    berth_sigv4::sign::sign_request(
        method,
        path,
        query,
        &mut map,
        &berth_sigv4::PayloadHash(payload),
        credentials,
        "us-east-1",
        service,
        now,
    );
    map.iter()
        .filter(|(name, _)| name.as_str() != "host")
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The Fargate guide's task definition in `family` — awsvpc, FARGATE, 256 CPU / 512 MiB, one
/// essential `my-container` running `nginx` on port 80 — ready to send or to change first.
pub fn register_fargate(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
) -> RegisterTaskDefinitionFluentBuilder {
    register_fargate_with(
        ecs,
        family,
        ContainerDefinition::builder()
            .name("my-container")
            .image("nginx")
            .port_mappings(PortMapping::builder().container_port(80).build())
            .build(),
    )
}

/// A Fargate task definition (awsvpc, 256 CPU / 512 MiB) in `family` with `container`.
pub fn register_fargate_with(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    container: ContainerDefinition,
) -> RegisterTaskDefinitionFluentBuilder {
    ecs.register_task_definition()
        .family(family)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(container)
}

/// Starts `berth up` on `listen` with `data_dir` and returns it with its endpoint once it has
/// printed its ready line, or what it said before exiting.
pub fn spawn_up(binary: &Path, data_dir: &Path, listen: &str) -> Result<(Child, String), String> {
    spawn_up_with(binary, data_dir, listen, &[], &[])
}

/// Like `spawn_up`, with more `berth up` flags (a second server's `--bridge` and
/// `--vpc-cidr`, which `spawn_up` leaves at their defaults).
pub fn spawn_up_with_args(
    binary: &Path,
    data_dir: &Path,
    listen: &str,
    args: &[&str],
) -> Result<(Child, String), String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    spawn_up_with(binary, data_dir, listen, &args, &[])
}

fn spawn_up_with(
    binary: &Path,
    data_dir: &Path,
    listen: &str,
    args: &[String],
    env: &[(String, String)],
) -> Result<(Child, String), String> {
    let mut child = Command::new(binary)
        .args(["up", "--listen", listen, "--data-dir"])
        .arg(data_dir)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(endpoint) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
            return Ok((child, endpoint.to_owned()));
        }
    }
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    let _ = child.wait();
    Err(stderr)
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Fargate guide's folder in `shared/` (beside the repository), or the copy in `tests/`.
pub fn fargate_guide_dir() -> PathBuf {
    let shared = repo_root().join("../shared/examples/fargate-guide");
    if shared.join("task-definition.json").exists() {
        shared
    } else {
        repo_root().join("tests/fixtures/fargate-guide")
    }
}

/// The Python beside the aws CLI (the project's virtualenv, with botocore and boto3).
pub fn python() -> PathBuf {
    let aws = aws_cli();
    match aws.parent() {
        Some(dir) if dir.join("python").exists() => dir.join("python"),
        _ => PathBuf::from("python3"),
    }
}

/// The aws CLI: `$BERTH_TEST_AWS`, else the project's virtualenv, else `aws` on PATH.
pub fn aws_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("BERTH_TEST_AWS") {
        return PathBuf::from(path);
    }
    let venv = repo_root().join(".venv/bin/aws");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("aws")
    }
}
