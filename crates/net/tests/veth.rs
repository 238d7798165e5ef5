//! As root, in network namespaces the test makes (threads that unshare their own): a bridge
//! with a gateway address in one, a veth pair into the other, the peer addressed, up and
//! routed — then a TCP connection across, so every request is shown to do its part.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc;

use berth_net::{
    LinkChange, Netlink, add_address, add_default_route, change_link, create_bridge, create_veth,
    link_index, loopback_up_with, mac_address,
};

/// A thread in a network namespace of its own, running the closures it is sent.
struct NamespaceThread {
    jobs: mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl NamespaceThread {
    fn start() -> Self {
        let (jobs, receiver) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let (ready, started) = mpsc::channel();
        std::thread::spawn(move || {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            ready.send(()).unwrap();
            for job in receiver {
                job();
            }
        });
        started.recv().unwrap();
        Self { jobs }
    }

    fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> T {
        let (answer, result) = mpsc::channel();
        self.jobs
            .send(Box::new(move || answer.send(job()).unwrap()))
            .unwrap();
        result.recv().unwrap()
    }
}

fn namespace_fd() -> OwnedFd {
    std::fs::File::open("/proc/thread-self/ns/net")
        .unwrap()
        .into()
}

#[test]
fn a_veth_into_a_bridge_carries_tcp_between_two_namespaces() {
    let host = NamespaceThread::start();
    let task = NamespaceThread::start();
    let task_namespace = task.run(namespace_fd);
    let gateway = Ipv4Addr::new(10, 99, 0, 1);
    let address = Ipv4Addr::new(10, 99, 0, 5);
    let mac = [0x0a, 0x58, 10, 99, 0, 5];

    let port = host.run(move || {
        let netlink = Netlink::open().unwrap();
        loopback_up_with(&netlink).unwrap();
        create_bridge(&netlink, "berth-test0").unwrap();
        let bridge = link_index(&netlink, "berth-test0").unwrap();
        let up = LinkChange {
            up: true,
            ..LinkChange::default()
        };
        change_link(&netlink, bridge, up).unwrap();
        add_address(&netlink, bridge, gateway, 24).unwrap();
        // A second add of the same address says so.
        let again = add_address(&netlink, bridge, gateway, 24).unwrap_err();
        assert_eq!(again.raw_os_error(), Some(17));
        create_veth(&netlink, "vtest0", "eth0", task_namespace.as_fd()).unwrap();
        let veth = link_index(&netlink, "vtest0").unwrap();
        change_link(
            &netlink,
            veth,
            LinkChange {
                up: true,
                master: Some(bridge),
                mac: None,
            },
        )
        .unwrap();
        assert_eq!(
            link_index(&netlink, "eth0").unwrap_err().raw_os_error(),
            Some(19),
            "the peer is in the task's namespace"
        );
        let listener = TcpListener::bind((gateway, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let _ = listener.accept();
        });
        port
    });

    task.run(move || {
        let netlink = Netlink::open().unwrap();
        loopback_up_with(&netlink).unwrap();
        let eth0 = link_index(&netlink, "eth0").unwrap();
        change_link(
            &netlink,
            eth0,
            LinkChange {
                up: true,
                master: None,
                mac: Some(mac),
            },
        )
        .unwrap();
        assert_eq!(mac_address(&netlink, eth0).unwrap(), mac);
        add_address(&netlink, eth0, address, 24).unwrap();
        add_default_route(&netlink, eth0, gateway).unwrap();
        // Across the bridge to the other namespace.
        let stream = TcpStream::connect((gateway, port)).unwrap();
        assert_eq!(stream.local_addr().unwrap().ip(), address);
    });
}
