//! berth's domain model: the ECS nouns, their ARNs and names, and Fargate's rules.
//!
//! Pure types and validation only — no I/O, no async, no other berth crate — so the control
//! plane, the API and (later) the node agent can all agree on them. The ECS resource documents
//! themselves are generated from botocore's service model (`shapes`); the modules beside it
//! parse the parts berth reasons about into typed values.

pub mod arn;
pub mod capabilities;
pub mod fargate;
pub mod fields;
pub mod images;
pub mod lifecycle;
pub mod names;
pub mod network;
pub mod policy;
pub mod regions;
pub mod restrictions;
pub mod security_groups;
#[allow(missing_docs, clippy::doc_lazy_continuation)] // generated from the service model
pub mod shapes;
pub mod sysctls;
pub mod tags;
pub mod task_definition;
mod timestamp;

pub use arn::{AccountRegion, ResourceArn};
pub use timestamp::Timestamp;
