//! What the supervisor's decisions do to the world, behind one trait so that the decisions —
//! the loop's `step` and `handle` — run in unit tests without root: the kernel seams of
//! `berth-sys` (overlay mounts, signals) and the supervisor's own (wiring the sandbox's network
//! interface, starting a container's thread). [`Host`] is the real thing; `RecordingEffects`
//! (tests only, as youki's `syscall/test.rs`) records every call and starts nothing.

use std::path::PathBuf;
use std::sync::mpsc::Sender;

use berth_logs::LogLimits;
use berth_runtime::spec::join_sandbox;
use berth_sys::{LinuxMounter, LinuxSignaller, Mounter, Signaller};

use crate::ShimError;
use crate::events::Event;
use crate::plan::{PlannedContainer, PlannedNetwork, TaskPlan};
use crate::sandbox::Sandbox;
use crate::worker::{self, Job, Worker};

/// The supervisor's effects.
pub(crate) trait Effects {
    /// Mounts the containers' root filesystems (in the supervisor's mount namespace).
    fn mounter(&self) -> &dyn Mounter;

    /// Signals the containers' init processes.
    fn signaller(&self) -> &dyn Signaller;

    /// Gives the sandbox the task's network interface.
    fn wire_network(&mut self, network: &PlannedNetwork, task_id: &str) -> Result<(), ShimError>;

    /// Starts the thread of container `index` — create, then start (at once, or on the
    /// worker's go when `held`), wait, delete when told — and returns once its creation is
    /// over. What the thread observes comes to the loop as events; an error here means there
    /// is no thread at all.
    fn start_container(
        &mut self,
        index: usize,
        container: &PlannedContainer,
        held: bool,
    ) -> std::io::Result<Worker>;
}

/// The real kernel, sandbox and containers.
pub(crate) struct Host {
    sandbox: Sandbox,
    state_root: PathBuf,
    limits: LogLimits,
    /// For the containers' threads.
    events: Sender<Event>,
}

impl Host {
    /// The effects of supervising `plan` in `sandbox`; container threads report to `events`.
    pub(crate) fn new(sandbox: Sandbox, plan: &TaskPlan, events: Sender<Event>) -> Self {
        Self {
            sandbox,
            state_root: plan.state_root.clone(),
            limits: LogLimits {
                max_bytes: plan.log_max_bytes,
                max_files: plan.log_max_files,
            },
            events,
        }
    }
}

impl Effects for Host {
    fn mounter(&self) -> &dyn Mounter {
        &LinuxMounter
    }

    fn signaller(&self) -> &dyn Signaller {
        &LinuxSignaller
    }

    fn wire_network(&mut self, network: &PlannedNetwork, task_id: &str) -> Result<(), ShimError> {
        self.sandbox.wire(network, task_id)
    }

    fn start_container(
        &mut self,
        index: usize,
        container: &PlannedContainer,
        held: bool,
    ) -> std::io::Result<Worker> {
        let mut spec = container.spec.clone();
        let sysctls = join_sandbox(
            &mut spec,
            &self.sandbox.net,
            &self.sandbox.uts,
            &self.sandbox.ipc,
        );
        let job = Job {
            index,
            container: container.clone(),
            spec,
            sysctls,
            state_root: self.state_root.clone(),
            limits: self.limits,
            events: self.events.clone(),
        };
        worker::spawn(job, held)
    }
}

#[cfg(test)]
pub(crate) use recording::{Order, Recorded, RecordingEffects};

#[cfg(test)]
mod recording {
    use berth_sys::{RecordingMounter, RecordingSignaller};

    use super::*;
    use crate::worker::Orders;

    /// A call a [`RecordingEffects`] saw, besides mounts and signals (its mounter and
    /// signaller record those).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) enum Recorded {
        /// `wire_network` for the task.
        WireNetwork { task_id: String },
        /// `start_container`, for the container named so.
        Start { name: String, held: bool },
    }

    /// An order a container's thread received through its [`Worker`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Order {
        /// Start the held container (`true`), or delete it unstarted.
        Go(bool),
        /// Delete the exited container.
        Delete,
    }

    /// Records every effect; starts no thread, mounts and signals nothing. The threads' ends of
    /// the workers it hands out are kept, so a test can read what each was told.
    #[derive(Default)]
    pub(crate) struct RecordingEffects {
        /// Mounts and unmounts.
        pub(crate) mounter: RecordingMounter,
        /// Signals sent.
        pub(crate) signaller: RecordingSignaller,
        /// Everything else, in order.
        pub(crate) calls: Vec<Recorded>,
        /// The threads' ends of the workers, by container index.
        orders: Vec<(usize, Orders)>,
        /// Wiring the network fails.
        fail_network: bool,
        /// No container thread can be spawned.
        fail_spawn: bool,
    }

    impl RecordingEffects {
        /// A recorder whose network wiring fails.
        pub(crate) fn failing_network() -> Self {
            Self {
                fail_network: true,
                ..Self::default()
            }
        }

        /// A recorder whose mounts fail.
        pub(crate) fn failing_mounts() -> Self {
            Self {
                mounter: RecordingMounter::failing(),
                ..Self::default()
            }
        }

        /// A recorder that cannot spawn container threads.
        pub(crate) fn failing_spawn() -> Self {
            Self {
                fail_spawn: true,
                ..Self::default()
            }
        }

        /// What container `index`'s thread has been told since last asked.
        pub(crate) fn orders(&mut self, index: usize) -> Vec<Order> {
            let mut orders = Vec::new();
            for (_, thread) in self.orders.iter().filter(|(i, _)| *i == index) {
                if let Some(go) = &thread.go {
                    orders.extend(std::iter::from_fn(|| go.try_recv().ok()).map(Order::Go));
                }
                orders.extend(
                    std::iter::from_fn(|| thread.deletion.try_recv().ok()).map(|()| Order::Delete),
                );
            }
            orders
        }

        /// The containers started, by name, in order.
        pub(crate) fn started(&self) -> Vec<String> {
            self.calls
                .iter()
                .filter_map(|call| match call {
                    Recorded::Start { name, .. } => Some(name.clone()),
                    Recorded::WireNetwork { .. } => None,
                })
                .collect()
        }
    }

    impl Effects for RecordingEffects {
        fn mounter(&self) -> &dyn Mounter {
            &self.mounter
        }

        fn signaller(&self) -> &dyn Signaller {
            &self.signaller
        }

        fn wire_network(
            &mut self,
            _network: &PlannedNetwork,
            task_id: &str,
        ) -> Result<(), ShimError> {
            self.calls.push(Recorded::WireNetwork {
                task_id: task_id.to_owned(),
            });
            if self.fail_network {
                return Err(ShimError::Sandbox("recorded failure".into()));
            }
            Ok(())
        }

        fn start_container(
            &mut self,
            index: usize,
            container: &PlannedContainer,
            held: bool,
        ) -> std::io::Result<Worker> {
            self.calls.push(Recorded::Start {
                name: container.name.clone(),
                held,
            });
            if self.fail_spawn {
                return Err(std::io::Error::other("recorded failure"));
            }
            let (worker, thread) = Worker::channels(held);
            self.orders.push((index, thread));
            Ok(worker)
        }
    }
}
