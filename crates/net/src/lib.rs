//! Task networking on the node. Today: each task's network namespace is made by its
//! supervisor (an `unshare` of its own, so the namespace lives exactly as long as the task and
//! needs no cleanup), and this crate brings its loopback interface up — so the task's
//! containers reach each other on localhost. The awsvpc issue adds the veth, the address,
//! routes and firewall rules here.

mod loopback;

pub use loopback::loopback_up;
