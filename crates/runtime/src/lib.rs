//! Containers on berth's node side: what runs in a container (Docker's rules for command,
//! environment and user), the OCI runtime spec berth generates for it (with the capabilities
//! and the seccomp filter it holds), and youki's `libcontainer` to run it. Knows nothing of
//! images or HTTP.

pub mod capabilities;
pub mod cgroups;
pub mod executor;
pub mod process;
pub mod seccomp;
pub mod spec;
pub mod workload;
