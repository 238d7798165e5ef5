//! Task networking on the node. Today: one network namespace per task, with loopback up, which
//! every container of the task joins — so they reach each other on localhost. The awsvpc issue
//! adds the veth, the address, routes and firewall rules here.
//!
//! Namespaces are made with iproute2's `ip netns` (they live as bind mounts under
//! `/run/netns`, so they outlive any one container and are found again after a restart).

mod netns;

pub use netns::{NetnsError, NetworkNamespace};
