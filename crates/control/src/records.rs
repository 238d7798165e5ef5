//! What is stored under each key: the ECS document plus what ECS keeps beside it, as JSON —
//! and the EC2 security group, which both the network (a VPC's default group) and the
//! security groups' own operations make.

use berth_model::security_groups::{RuleSource, SecurityGroupRule};
use berth_model::shapes::{Cluster, Tag, TaskDefinition};
use berth_store::KeyValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::ids::{RandomError, new_id};

/// A cluster as stored (its tags live inside the document, as ECS returns them).
pub type ClusterRecord = Cluster;

/// A task definition revision and its tags (tags are not part of the TaskDefinition shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDefinitionRecord {
    pub definition: TaskDefinition,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A task: the ECS document, the task definition it was started from (so later changes to
/// the definition do not change a running task), and the node it is placed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task: berth_model::shapes::Task,
    pub definition: TaskDefinition,
    pub node: String,
    /// Its network interface (awsvpc), its address claimed under `keys::address`.
    #[serde(default)]
    pub network: Option<berth_model::network::TaskNetwork>,
}

/// A security group, as EC2's `SecurityGroup` names its fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRecord {
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub vpc_id: String,
    /// Ingress rules, one protocol, port range and source each.
    pub ingress: Vec<SecurityGroupRule>,
}

impl SecurityGroupRecord {
    /// A VPC's `default` group.
    pub(crate) fn default_group(group_id: &str, vpc_id: &str) -> Result<Self, RandomError> {
        Self::new(group_id, "default", "default VPC security group", vpc_id)
    }

    /// A new group: ingress only from its own members (all egress is implied), as AWS's
    /// default group has.
    pub(crate) fn new(
        group_id: &str,
        name: &str,
        description: &str,
        vpc_id: &str,
    ) -> Result<Self, RandomError> {
        Ok(Self {
            group_id: group_id.to_owned(),
            group_name: name.to_owned(),
            description: description.to_owned(),
            vpc_id: vpc_id.to_owned(),
            ingress: vec![SecurityGroupRule {
                security_group_rule_id: new_id("sgr")?,
                ip_protocol: "-1".into(),
                from_port: None,
                to_port: None,
                source: RuleSource::ReferencedGroupId(group_id.to_owned()),
                description: None,
            }],
        })
    }
}

/// A stored record that does not decode: the store holds bytes this version did not write.
#[derive(Debug, Clone, thiserror::Error)]
#[error("stored record {key} cannot be decoded")]
pub struct CorruptRecord {
    pub key: String,
}

pub fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T, CorruptRecord> {
    serde_json::from_slice(&kv.value).map_err(|_| CorruptRecord {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
    })
}

pub fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    // Cannot fail for these types: every map has string keys and no serializer returns an
    // error (non-finite floats become null). Writing an empty record instead would corrupt
    // state, so a broken invariant must stop the request rather than be papered over.
    serde_json::to_vec(record).expect("records serialize to JSON")
}
