//! The node's firewall as the agent keeps it: the tasks on the bridge (address, security
//! groups, whether they may leave the host) and every group's ingress rules, applied by one
//! background loop (`berth_firewall::Applier`: the whole state swapped in, or — when only
//! tasks came and went — the address sets changed in place).
//!
//! Changes made while an apply runs are folded into the next one, so a burst of starting
//! tasks costs a few applies, not one each. Each change gets a generation number; a task
//! waits for the generation that added it (and for its groups' rules) before it is reported
//! RUNNING, so RUNNING means its ingress rules are in force. Nothing is applied until the
//! agent has registered the tasks it adopts: the first apply is the reconciliation that
//! removes rules of tasks that are gone.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use berth_firewall::Backend;
use berth_firewall::{self as firewall, Applied, Applier, FirewallState, GuardedTask};
use berth_model::ResourceArn;
use berth_model::network::TaskNetwork;
use berth_model::security_groups::{GroupIngress, security_group_arn};
use tokio::sync::{Notify, watch};

/// How long a starting task waits for its groups' rules to arrive before it runs anyway
/// (closed to everyone but the host until they do).
const GROUPS_WAIT: Duration = Duration::from_secs(2);

/// The firewall of one bridge.
pub struct Firewall {
    shared: Mutex<Desired>,
    changed: Notify,
    applied: watch::Sender<u64>,
}

#[derive(Default)]
struct Desired {
    tasks: BTreeMap<String, GuardedTask>,
    groups: Vec<GroupIngress>,
    generation: u64,
    /// Set once the tasks at start-up are registered.
    ready: bool,
}

impl Firewall {
    /// Starts the loop applying `bridge`'s rules with `backend`.
    pub fn start(backend: Backend, bridge: String) -> Arc<Self> {
        let (applied, _) = watch::channel(0);
        let firewall = Arc::new(Self {
            shared: Mutex::new(Desired::default()),
            changed: Notify::new(),
            applied,
        });
        let looping = firewall.clone();
        tokio::spawn(async move { looping.apply_loop(backend, bridge).await });
        firewall
    }

    /// Guards task `key`; returns the generation to wait for.
    pub fn add_task(&self, key: &str, task_arn: &str, network: &TaskNetwork) -> u64 {
        let (region, account) = ResourceArn::parse(task_arn)
            .map(|arn| (arn.scope().region.clone(), arn.scope().account_id.clone()))
            .unwrap_or_default();
        let task = GuardedTask {
            address: network.address,
            groups: network
                .security_groups
                .iter()
                .map(|id| security_group_arn(&region, &account, id))
                .collect(),
            egress: network.assign_public_ip,
        };
        self.change(|desired| {
            desired.tasks.insert(key.to_owned(), task);
        })
    }

    /// Stops guarding task `key` (its address may go to another task next); returns the
    /// generation to wait for.
    pub fn remove_task(&self, key: &str) -> u64 {
        self.change(|desired| {
            desired.tasks.remove(key);
        })
    }

    /// Every group's rules, as the control plane has them now.
    pub fn set_groups(&self, groups: Vec<GroupIngress>) {
        self.change(|desired| desired.groups = groups);
    }

    /// Allows applying: the tasks found at start-up are registered.
    pub fn ready(&self) {
        self.change(|desired| desired.ready = true);
    }

    fn change(&self, edit: impl FnOnce(&mut Desired)) -> u64 {
        let generation = {
            let mut desired = self.shared.lock().unwrap_or_else(|e| e.into_inner());
            edit(&mut desired);
            desired.generation += 1;
            desired.generation
        };
        self.changed.notify_one();
        generation
    }

    /// Waits until `generation` is applied and the rules of task `key`'s groups are known
    /// (or [`GROUPS_WAIT`] has passed).
    pub async fn in_force(&self, key: &str, generation: u64) {
        let mut applied = self.applied.subscribe();
        let deadline = tokio::time::Instant::now() + GROUPS_WAIT;
        loop {
            if *applied.borrow_and_update() >= generation && self.groups_known(key) {
                return;
            }
            match tokio::time::timeout_at(deadline, applied.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    tracing::warn!(task = %key, generation, "the firewall has not applied this change yet; going on");
                    return;
                }
            }
        }
    }

    fn groups_known(&self, key: &str) -> bool {
        let desired = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        let known: HashSet<&str> = desired
            .groups
            .iter()
            .map(|g| g.group_arn.as_str())
            .collect();
        desired
            .tasks
            .get(key)
            .is_none_or(|task| task.groups.iter().all(|g| known.contains(g.as_str())))
    }

    async fn apply_loop(self: Arc<Self>, backend: Backend, bridge: String) {
        let mut applier = Some(Applier::new(backend, &bridge));
        loop {
            self.changed.notified().await;
            let (state, generation) = {
                let desired = self.shared.lock().unwrap_or_else(|e| e.into_inner());
                if !desired.ready {
                    continue;
                }
                (
                    FirewallState {
                        tasks: desired.tasks.values().cloned().collect(),
                        groups: desired.groups.clone(),
                    },
                    desired.generation,
                )
            };
            let tasks = state.tasks.len();
            let started = std::time::Instant::now();
            let mut taken = applier
                .take()
                .unwrap_or_else(|| Applier::new(backend, &bridge));
            let result = tokio::task::spawn_blocking(move || {
                let result = taken.apply(&state);
                (taken, result)
            })
            .await;
            let took_ms = started.elapsed().as_secs_f64() * 1e3;
            match result {
                Ok((taken, result)) => {
                    applier = Some(taken);
                    match result {
                        Ok(Applied::SwappedAfter(error)) => tracing::warn!(
                            %error,
                            "cannot change the firewall's address sets; swapped the whole ruleset in"
                        ),
                        Ok(how) => {
                            tracing::debug!(tasks, generation, took_ms, ?how, "firewall applied");
                        }
                        // Tasks are not held back: they stay closed to all but the host (or
                        // keep the last rules that applied) and the next change tries again.
                        Err(error) => tracing::error!(%error, "cannot apply the firewall rules"),
                    }
                }
                // A new applier (a whole swap next) replaces the lost one.
                Err(error) => tracing::error!(%error, "the firewall apply panicked"),
            }
            self.applied.send_replace(generation);
        }
    }
}

/// Removes the rules of `bridge`, and the bridge itself if `delete_bridge`, when no task is
/// left on the node (berth stopping cleanly leaves nothing behind; tasks that outlive it keep
/// both). The rules are always this node's: it swaps in the whole table while it holds the
/// bridge. The bridge may not be: one the node found rather than made (an operator's, one
/// another berth left) stays.
pub fn release(backend: Option<Backend>, bridge: &str, delete_bridge: bool) {
    if let Some(backend) = backend
        && let Err(error) = firewall::remove(backend, bridge)
    {
        tracing::warn!(%error, "cannot remove the firewall rules");
    }
    if delete_bridge && let Err(error) = berth_net::delete_bridge(bridge) {
        tracing::warn!(%error, bridge, "cannot delete the bridge");
    }
}
