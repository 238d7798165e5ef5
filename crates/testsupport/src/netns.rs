//! Network checks from inside tasks and from a stand-in for "outside the host": connecting
//! from a task's network namespace (its supervisor's) and a namespace of the test's own,
//! reached through the host as the internet would be. All traffic stays in namespaces on this
//! machine.

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A task command: an HTTP server on port 8080 answering with the task's hostname; it exits
/// on SIGTERM.
pub const HTTP_SERVER: &str = "mkdir -p /www && hostname > /www/index.html && \
    trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait";

/// Whether a TCP connection from the network namespace of process `pid` to `address:port`
/// is accepted within a second.
pub fn connects_from(pid: u32, address: Ipv4Addr, port: u16) -> bool {
    Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["timeout", "1", "bash", "-c"])
        .arg(format!("exec 3<>/dev/tcp/{address}/{port}"))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// GET / from `address:port`, retried for up to 10 s while the server starts; the answer.
pub fn http_get(address: Ipv4Addr, port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer =
            std::net::TcpStream::connect_timeout(&(address, port).into(), Duration::from_secs(2))
                .and_then(|mut stream| {
                    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                    stream.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                    let mut text = String::new();
                    stream.read_to_string(&mut text)?;
                    Ok(text)
                });
        match answer {
            Ok(text) if text.contains("200") => return text,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("no answer from {address}:{port}: {other:?}"),
        }
    }
}

/// Polls `check` until it holds or `within` has passed; whether it held.
pub fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A network namespace standing in for the world beyond the host: `198.18.N.2/24`, reached
/// from the host through a veth whose host end is `198.18.N.1`, with a TCP server on port
/// 9000 that records each peer's address.
pub struct Outside {
    name: String,
    server: Child,
    peers: tempfile::NamedTempFile,
    /// The server's address.
    pub address: Ipv4Addr,
}

impl Outside {
    /// Makes namespace number `slot`'s outside world.
    pub fn create(slot: u32) -> Self {
        let name = format!("berth-out-{slot}");
        let host_end = format!("bto{slot}");
        let ip = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {args:?} failed");
        };
        let _ = Command::new("ip")
            .args(["netns", "delete", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", "eth0", "netns", &name,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("198.18.{slot}.1/24"),
            "dev",
            &host_end,
        ]);
        ip(&["link", "set", &host_end, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["addr", "add", &format!("198.18.{slot}.2/24"), "dev", "eth0"]);
        inside(&["link", "set", "eth0", "up"]);
        inside(&["link", "set", "lo", "up"]);
        let peers = tempfile::NamedTempFile::new().unwrap();
        let server = Command::new("ip")
            .args(["netns", "exec", &name, "python3", "-c"])
            .arg(format!(
                "import socket\n\
                 s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                 s.bind(('0.0.0.0', 9000)); s.listen(16)\n\
                 while True:\n\
                 \x20   c, peer = s.accept()\n\
                 \x20   open('{}', 'a').write(peer[0] + '\\n'); c.close()\n",
                peers.path().display()
            ))
            .spawn()
            .unwrap();
        let address = Ipv4Addr::new(198, 18, slot as u8, 2);
        let outside = Self {
            name,
            server,
            peers,
            address,
        };
        // Ready once it listens (asked without connecting, which it would record).
        let listening = || {
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &outside.name,
                    "ss",
                    "-Hltn",
                    "sport = :9000",
                ])
                .output()
                .is_ok_and(|o| !o.stdout.is_empty())
        };
        assert!(
            eventually(Duration::from_secs(10), listening),
            "the outside server did not start"
        );
        outside
    }

    /// The addresses connections came from, in order.
    pub fn peers(&self) -> Vec<String> {
        std::fs::read_to_string(self.peers.path())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        // The veth goes with the namespace.
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}
