//! Control-plane decisions for the ECS API (and the slice of EC2 that tasks' networks need):
//! what CreateCluster, RegisterTaskDefinition and
//! their siblings mean, enforced on top of the revisioned store.
//!
//! The API layer hands this crate decoded requests in model types and gets model types or a
//! per-area error enum back; this crate never sees HTTP and never touches a kernel. RunTask
//! places tasks (`placement.rs`) by writing desired state into the store, which node agents
//! watch; services and what else keeps converging will run on the controller runtime
//! (`controller.rs`) and write desired state the same way. What nodes observe comes back
//! through `report_task` into records of its own, apart from the desired state (`keys.rs`).
//!
//! With the `simulated-node` feature, `simulated_node` is a fake node agent whose containers
//! follow scripts: the crate's own tests, and those of features built on it, run the whole
//! task lifecycle in milliseconds without root or containers.

mod cas;
mod clusters;
mod controller;
mod ec2_error;
mod ec2_filters;
pub mod iam;
mod ids;
mod keys;
mod network;
mod node;
mod paging;
mod placement;
mod records;
pub mod sealing;
mod security_groups;
#[cfg(feature = "simulated-node")]
pub mod simulated_node;
mod tagging;
mod task_definitions;
mod tasks;
#[cfg(test)]
mod testing;
mod vpcs;

use std::sync::Arc;

use berth_model::restrictions::RegistrationPolicy;
use berth_store::Store;

pub use clusters::{CAPACITY_PROVIDERS, ClusterError, ClusterInclude, ClusterUpdate, NewCluster};
pub use controller::{Action, Controller};
pub use ec2_error::{Ec2Code, Ec2Error};
pub use ec2_filters::Filter;
pub use ids::RandomError;
pub use network::{NetworkConfig, SubnetRecord, VpcRecord};
pub use node::Assignment;
pub use paging::{Page, PageError, PageRequest};
pub use placement::LOCAL_NODE;
pub use records::SecurityGroupRecord;
pub use security_groups::{GroupRef, IpPermission, Revoked, SecurityGroupQuery};
pub use tagging::TaggingError;
pub use task_definitions::{
    DeleteOutcome, FamilyStatusFilter, ListTaskDefinitionsQuery, Registered, TaskDefinitionOpError,
};
pub use tasks::{ListTasksQuery, RunTaskInput, TaskError};
pub use vpcs::{NetworkInterfaceView, SubnetView};

/// The ECS control plane for every account and region served by this process.
pub struct Ecs {
    store: Arc<dyn Store>,
    revisions: task_definitions::RevisionAllocator,
    network: NetworkConfig,
    registration: RegistrationPolicy,
}

impl Ecs {
    /// A control plane keeping its state in `store`, with the default network.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_network(store, NetworkConfig::default())
    }

    /// A control plane keeping its state in `store`, its VPC as `network` says.
    pub fn with_network(store: Arc<dyn Store>, network: NetworkConfig) -> Self {
        Self {
            store,
            revisions: task_definitions::RevisionAllocator::default(),
            network,
            registration: RegistrationPolicy::default(),
        }
    }

    /// This control plane, registering task definitions as `policy` allows (`berth up
    /// --allow-privileged`); Fargate's rules alone by default.
    pub fn with_registration(mut self, policy: RegistrationPolicy) -> Self {
        self.registration = policy;
        self
    }
}
