//! Security groups: CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
//! Authorize/RevokeSecurityGroupIngress, the groups RunTask puts a task in, and every
//! group's ingress rules as nodes enforce them.
//!
//! A group's name is claimed by its own key in its VPC, so two groups never share one. Rules
//! are kept one by one (a protocol, a port range, a source), as EC2 keeps them; a new group —
//! one made by CreateSecurityGroup, a VPC's `default` group, or a group RunTask names that
//! berth has never seen (made on first use unless the network is strict) — allows all egress
//! and ingress only from its own members, as AWS's default group does.

use berth_model::AccountRegion;
use berth_model::security_groups::{
    self, GroupIngress, IngressRule, RuleSource, SecurityGroupRule,
};
use berth_store::{Compare, KeyRange, Op, Revision, StoreError, Txn, Watcher};
use serde::{Deserialize, Serialize};

use crate::ec2_error::{Ec2Code, Ec2Error};
use crate::ec2_filters::{Filter, passes};
use crate::network::{CAS_ATTEMPTS, VpcRecord, new_id};
use crate::records::TaskRecord;
use crate::{Ecs, keys, records};

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
    pub(crate) fn default_group(group_id: &str, vpc_id: &str) -> Result<Self, Ec2Error> {
        Self::new(group_id, "default", "default VPC security group", vpc_id)
    }

    /// A new group: ingress only from its own members (all egress is implied).
    fn new(group_id: &str, name: &str, description: &str, vpc_id: &str) -> Result<Self, Ec2Error> {
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

/// A group named by id or (in the default VPC) by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRef {
    /// `sg-...`.
    Id(String),
    /// A name in the default VPC.
    Name(String),
}

/// What DescribeSecurityGroups asks for.
#[derive(Debug, Clone, Default)]
pub struct SecurityGroupQuery {
    pub group_ids: Vec<String>,
    /// Names of groups in the default VPC.
    pub group_names: Vec<String>,
    pub filters: Vec<Filter>,
}

/// An `IpPermission` as a request states it, before it is checked and split into rules.
#[derive(Debug, Clone, Default)]
pub struct IpPermission {
    pub ip_protocol: Option<String>,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    /// Source blocks and their descriptions.
    pub ip_ranges: Vec<(String, Option<String>)>,
    /// Source groups (by id, or by name in the target group's VPC) and their descriptions.
    pub groups: Vec<(GroupRef, Option<String>)>,
}

/// What RevokeSecurityGroupIngress did.
#[derive(Debug, Clone, Default)]
pub struct Revoked {
    /// The rules removed.
    pub revoked: Vec<SecurityGroupRule>,
    /// The requested rules the group did not have.
    pub unknown: Vec<SecurityGroupRule>,
}

impl Ecs {
    /// CreateSecurityGroup. Without `vpc_id` the group goes in the default VPC.
    pub async fn create_security_group(
        &self,
        scope: &AccountRegion,
        name: &str,
        description: &str,
        vpc_id: Option<&str>,
    ) -> Result<SecurityGroupRecord, Ec2Error> {
        check_text("GroupName", name)?;
        check_text("GroupDescription", description)?;
        if name.starts_with("sg-") {
            return Err(Ec2Error::client(
                Ec2Code::InvalidParameterValue,
                "Group names may not be in the format sg-*.",
            ));
        }
        if name == "default" {
            return Err(Ec2Error::client(
                Ec2Code::GroupReserved,
                "The security group 'default' is reserved",
            ));
        }
        let vpc = match vpc_id {
            Some(id) => self.vpc(scope, id).await?,
            None => self.default_vpc(scope).await?,
        };
        let group = SecurityGroupRecord::new(&new_id("sg")?, name, description, &vpc.vpc_id)?;
        self.put_new_group(scope, &group).await?;
        tracing::info!(group = %group.group_id, name, vpc = %vpc.vpc_id, "security group created");
        Ok(group)
    }

    /// Stores a new group and claims its name, refusing a name already taken in its VPC.
    async fn put_new_group(
        &self,
        scope: &AccountRegion,
        group: &SecurityGroupRecord,
    ) -> Result<bool, Ec2Error> {
        let key = keys::security_group(scope, &group.group_id);
        let name_key = keys::group_name(scope, &group.vpc_id, &group.group_name);
        let txn = Txn {
            compares: vec![
                Compare::absent(key.as_str()),
                Compare::absent(name_key.as_str()),
            ],
            success: vec![
                Op::put(key.as_str(), records::encode(group)),
                Op::put(name_key.as_str(), group.group_id.as_bytes().to_vec()),
            ],
            failure: vec![],
        };
        if self.store.txn(txn).await?.succeeded {
            return Ok(true);
        }
        if self.read_raw(&name_key).await?.is_some() {
            return Err(Ec2Error::client(
                Ec2Code::GroupDuplicate,
                format!(
                    "The security group '{}' already exists for VPC '{}'",
                    group.group_name, group.vpc_id
                ),
            ));
        }
        Ok(false)
    }

    /// DescribeSecurityGroups.
    pub async fn describe_security_groups(
        &self,
        scope: &AccountRegion,
        query: &SecurityGroupQuery,
    ) -> Result<Vec<SecurityGroupRecord>, Ec2Error> {
        // Listing makes the default VPC and its group exist, as they always do in AWS.
        let default_vpc = self.default_vpc(scope).await?;
        let mut wanted_ids = query.group_ids.clone();
        for name in &query.group_names {
            let id = self
                .read_raw(&keys::group_name(scope, &default_vpc.vpc_id, name))
                .await?
                .ok_or_else(|| group_not_found(name))?;
            wanted_ids.push(id);
        }
        // (Names given resolve to ids above, or fail: no ids means no names either.)
        let groups: Vec<SecurityGroupRecord> = self
            .all_or_named(
                keys::security_groups(scope),
                &wanted_ids,
                |id| keys::security_group(scope, id),
                group_not_found,
            )
            .await?;
        let mut passed = Vec::new();
        for group in groups {
            if passes(&query.filters, |name| group_filter_values(&group, name))? {
                passed.push(group);
            }
        }
        Ok(passed)
    }

    /// One group.
    pub async fn security_group(
        &self,
        scope: &AccountRegion,
        group: &GroupRef,
    ) -> Result<SecurityGroupRecord, Ec2Error> {
        let id = match group {
            GroupRef::Id(id) => id.clone(),
            GroupRef::Name(name) => {
                let vpc = self.default_vpc(scope).await?;
                self.read_raw(&keys::group_name(scope, &vpc.vpc_id, name))
                    .await?
                    .ok_or_else(|| group_not_found(name))?
            }
        };
        self.read::<SecurityGroupRecord>(&keys::security_group(scope, &id))
            .await?
            .ok_or_else(|| group_not_found(&id))
    }

    /// DeleteSecurityGroup: refused for a VPC's default group, a group a running task is in,
    /// or one another group's rules name.
    pub async fn delete_security_group(
        &self,
        scope: &AccountRegion,
        group: &GroupRef,
    ) -> Result<String, Ec2Error> {
        let found = self.security_group(scope, group).await?;
        if found.group_name == "default" {
            return Err(Ec2Error::client(
                Ec2Code::CannotDelete,
                format!(
                    "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
                    found.group_id
                ),
            ));
        }
        let in_use = self
            .tasks_holding_addresses()
            .await?
            .iter()
            .any(|(task_scope, record)| {
                *task_scope == *scope
                    && record
                        .network
                        .as_ref()
                        .is_some_and(|n| n.security_groups.contains(&found.group_id))
            });
        let everyone = self
            .describe_security_groups(scope, &SecurityGroupQuery::default())
            .await?;
        let referenced = everyone.iter().any(|other| {
            other.group_id != found.group_id
                && other.ingress.iter().any(|rule| {
                    rule.source == RuleSource::ReferencedGroupId(found.group_id.clone())
                })
        });
        if in_use || referenced {
            return Err(Ec2Error::client(
                Ec2Code::DependencyViolation,
                format!("resource {} has a dependent object", found.group_id),
            ));
        }
        let txn = Txn {
            compares: vec![],
            success: vec![
                Op::Delete {
                    key: keys::security_group(scope, &found.group_id).into_bytes(),
                },
                Op::Delete {
                    key: keys::group_name(scope, &found.vpc_id, &found.group_name).into_bytes(),
                },
            ],
            failure: vec![],
        };
        self.store.txn(txn).await?;
        tracing::info!(group = %found.group_id, "security group deleted");
        Ok(found.group_id)
    }

    /// AuthorizeSecurityGroupIngress: adds each rule the permissions spell out; a rule the
    /// group already has is an error and nothing is added. Returns the group's id and the
    /// rules added.
    pub async fn authorize_ingress(
        &self,
        scope: &AccountRegion,
        group: &GroupRef,
        permissions: &[IpPermission],
    ) -> Result<(String, Vec<SecurityGroupRule>), Ec2Error> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut found, revision) = self.group_for_update(scope, group).await?;
            let rules = self.rules_of(scope, &found, permissions).await?;
            for rule in &rules {
                if found.ingress.iter().any(|r| r.same_traffic(rule)) {
                    return Err(Ec2Error::client(
                        Ec2Code::PermissionDuplicate,
                        format!(
                            "the specified rule \"{}\" already exists",
                            describe_rule(rule)
                        ),
                    ));
                }
            }
            found.ingress.extend(rules.iter().cloned());
            if self.replace_group(scope, &found, revision).await? {
                return Ok((found.group_id, rules));
            }
        }
        Err(Ec2Error::Contended)
    }

    /// RevokeSecurityGroupIngress: removes the rules the permissions spell out, or those
    /// with the ids given. As in EC2, requested rules the group does not have are reported
    /// back when others were removed, and an error when none was; an unknown rule id is an
    /// error and removes nothing.
    pub async fn revoke_ingress(
        &self,
        scope: &AccountRegion,
        group: &GroupRef,
        permissions: &[IpPermission],
        rule_ids: &[String],
    ) -> Result<Revoked, Ec2Error> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut found, revision) = self.group_for_update(scope, group).await?;
            let wanted = self.rules_of(scope, &found, permissions).await?;
            let mut outcome = Revoked::default();
            for rule in wanted {
                match found.ingress.iter().position(|r| r.same_traffic(&rule)) {
                    Some(at) => outcome.revoked.push(found.ingress.remove(at)),
                    None => outcome.unknown.push(rule),
                }
            }
            for id in rule_ids {
                match found
                    .ingress
                    .iter()
                    .position(|r| &r.security_group_rule_id == id)
                {
                    Some(at) => outcome.revoked.push(found.ingress.remove(at)),
                    None => {
                        return Err(Ec2Error::client(
                            Ec2Code::RuleIdNotFound,
                            format!("The security group rule ID '{id}' does not exist"),
                        ));
                    }
                }
            }
            if outcome.revoked.is_empty() {
                return Err(Ec2Error::client(
                    Ec2Code::PermissionNotFound,
                    "The specified rule does not exist in this security group.",
                ));
            }
            if self.replace_group(scope, &found, revision).await? {
                return Ok(outcome);
            }
        }
        Err(Ec2Error::Contended)
    }

    async fn group_for_update(
        &self,
        scope: &AccountRegion,
        group: &GroupRef,
    ) -> Result<(SecurityGroupRecord, Revision), Ec2Error> {
        let id = self.security_group(scope, group).await?.group_id;
        let found = self
            .store
            .range(KeyRange::key(keys::security_group(scope, &id)), None)
            .await?;
        let kv = found.kvs.first().ok_or_else(|| group_not_found(&id))?;
        Ok((records::decode(kv)?, kv.mod_revision))
    }

    async fn replace_group(
        &self,
        scope: &AccountRegion,
        group: &SecurityGroupRecord,
        revision: Revision,
    ) -> Result<bool, StoreError> {
        let key = keys::security_group(scope, &group.group_id);
        let txn = Txn {
            compares: vec![Compare::unchanged_since(key.as_str(), revision)],
            success: vec![Op::put(key.as_str(), records::encode(group))],
            failure: vec![],
        };
        Ok(self.store.txn(txn).await?.succeeded)
    }

    /// Checks permissions and splits them into single rules (new ids) for `group`.
    async fn rules_of(
        &self,
        scope: &AccountRegion,
        group: &SecurityGroupRecord,
        permissions: &[IpPermission],
    ) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
        let invalid = |m: String| Ec2Error::client(Ec2Code::InvalidParameterValue, m);
        let mut rules = Vec::new();
        for permission in permissions {
            let protocol = permission.ip_protocol.as_deref().ok_or_else(|| {
                Ec2Error::client(
                    Ec2Code::MissingParameter,
                    "The request must contain the parameter ipProtocol",
                )
            })?;
            let protocol = security_groups::normalize_protocol(protocol).map_err(invalid)?;
            let (from_port, to_port) = security_groups::normalize_ports(
                &protocol,
                permission.from_port,
                permission.to_port,
            )
            .map_err(invalid)?;
            let mut sources = Vec::new();
            for (cidr, description) in &permission.ip_ranges {
                security_groups::parse_source_cidr(cidr).map_err(invalid)?;
                sources.push((RuleSource::CidrIpv4(cidr.clone()), description.clone()));
            }
            for (source, description) in &permission.groups {
                let id = match source {
                    GroupRef::Id(id) => {
                        self.security_group(scope, source).await.map(|_| id.clone())
                    }
                    GroupRef::Name(name) => self
                        .read_raw(&keys::group_name(scope, &group.vpc_id, name))
                        .await?
                        .ok_or_else(|| group_not_found(name)),
                }?;
                sources.push((RuleSource::ReferencedGroupId(id), description.clone()));
            }
            if sources.is_empty() {
                return Err(Ec2Error::client(
                    Ec2Code::MissingParameter,
                    "A rule needs a source: an IP range (CidrIp) or a security group.",
                ));
            }
            for (source, description) in sources {
                rules.push(SecurityGroupRule {
                    security_group_rule_id: new_id("sgr")?,
                    ip_protocol: protocol.clone(),
                    from_port,
                    to_port,
                    source,
                    description,
                });
            }
        }
        if rules.is_empty() {
            return Err(Ec2Error::client(
                Ec2Code::MissingParameter,
                "The request must contain the parameter ipPermissions",
            ));
        }
        Ok(rules)
    }

    /// The groups a task in `vpc` is put in: those named (made on first use in that VPC,
    /// unless the network is strict), or the VPC's default group when none are.
    pub(crate) async fn task_security_groups(
        &self,
        scope: &AccountRegion,
        named: &[String],
        vpc: &VpcRecord,
    ) -> Result<Vec<String>, Ec2Error> {
        if named.is_empty() {
            return Ok(vec![vpc.default_group_id.clone()]);
        }
        if named.len() > 5 {
            return Err(Ec2Error::client(
                Ec2Code::InvalidParameterValue,
                "A task's network interface may be in at most 5 security groups.",
            ));
        }
        for id in named {
            let mut found = None;
            for _ in 0..CAS_ATTEMPTS {
                if let Some(group) = self
                    .read::<SecurityGroupRecord>(&keys::security_group(scope, id))
                    .await?
                {
                    found = Some(group);
                    break;
                }
                if self.network.strict {
                    return Err(group_not_found(id));
                }
                let group =
                    SecurityGroupRecord::new(id, id, "made by berth on first use", &vpc.vpc_id)?;
                match self.put_new_group(scope, &group).await {
                    Ok(true) => {
                        tracing::info!(group = %id, vpc = %vpc.vpc_id, "made a security group on first use");
                        found = Some(group);
                        break;
                    }
                    Ok(false) | Err(Ec2Error::Client { .. }) => continue,
                    Err(other) => return Err(other),
                }
            }
            let group = found.ok_or(Ec2Error::Contended)?;
            if group.vpc_id != vpc.vpc_id {
                return Err(Ec2Error::client(
                    Ec2Code::InvalidParameterValue,
                    format!(
                        "Security group {id} and the subnet belong to different networks ({} and {}).",
                        group.vpc_id, vpc.vpc_id
                    ),
                ));
            }
        }
        Ok(named.to_vec())
    }

    /// Every group's ingress rules in every scope, as nodes enforce them, and the store
    /// revision they were read at.
    pub async fn all_group_ingress(&self) -> Result<(Vec<GroupIngress>, Revision), Ec2Error> {
        let found = self.store.range(every_scope(), None).await?;
        let mut groups = Vec::new();
        for kv in &found.kvs {
            let key = String::from_utf8_lossy(&kv.key);
            // /ec2/{account}/{region}/security-groups/{id}
            let parts: Vec<&str> = key.split('/').collect();
            let [_, "ec2", account, region, "security-groups", _] = parts.as_slice() else {
                continue;
            };
            let group: SecurityGroupRecord = records::decode(kv)?;
            groups.push(GroupIngress {
                group_arn: security_groups::security_group_arn(region, account, &group.group_id),
                rules: group
                    .ingress
                    .iter()
                    .filter_map(|rule| IngressRule::from_rule(rule, region, account))
                    .collect(),
            });
        }
        Ok((groups, found.revision))
    }

    /// Every change to EC2 resources from `from` on (security groups among them).
    pub fn watch_ec2(&self, from: Revision) -> Result<Watcher, StoreError> {
        self.store.watch(every_scope(), from)
    }

    /// Whether a change is to a security group (what nodes re-read their rules for).
    pub fn is_security_group_change(event: &berth_store::Event) -> bool {
        let key = match event {
            berth_store::Event::Put(kv) => &kv.key,
            berth_store::Event::Delete(kv) => &kv.key,
        };
        String::from_utf8_lossy(key).contains("/security-groups/")
    }

    /// The records of every task holding an address, with their scopes.
    pub(crate) async fn tasks_holding_addresses(
        &self,
    ) -> Result<Vec<(AccountRegion, TaskRecord)>, Ec2Error> {
        let mut tasks = Vec::new();
        for task_key in self.claimed_addresses().await?.into_values() {
            if let Some(record) = self.read::<TaskRecord>(&task_key).await? {
                tasks.push((crate::node::scope_of(&task_key), record));
            }
        }
        Ok(tasks)
    }
}

fn check_text(parameter: &str, value: &str) -> Result<(), Ec2Error> {
    if value.is_empty() {
        return Err(Ec2Error::client(
            Ec2Code::MissingParameter,
            format!("The request must contain the parameter {parameter}"),
        ));
    }
    if value.len() > 255 {
        return Err(Ec2Error::client(
            Ec2Code::InvalidParameterValue,
            format!("{parameter} may be at most 255 characters long"),
        ));
    }
    Ok(())
}

/// Every scope's EC2 resources, without the node-wide addresses.
fn every_scope() -> KeyRange {
    KeyRange {
        start: keys::ALL_EC2.into(),
        end: Some(keys::SCOPES_END.into()),
    }
}

fn group_not_found(id: &str) -> Ec2Error {
    Ec2Error::client(
        Ec2Code::GroupNotFound,
        format!("The security group '{id}' does not exist"),
    )
}

fn group_filter_values(group: &SecurityGroupRecord, name: &str) -> Option<Vec<String>> {
    Some(match name {
        "group-id" => vec![group.group_id.clone()],
        "group-name" => vec![group.group_name.clone()],
        "description" => vec![group.description.clone()],
        "vpc-id" => vec![group.vpc_id.clone()],
        "ip-permission.protocol" => group
            .ingress
            .iter()
            .map(|r| r.ip_protocol.clone())
            .collect(),
        "ip-permission.cidr" => group
            .ingress
            .iter()
            .filter_map(|r| match &r.source {
                RuleSource::CidrIpv4(cidr) => Some(cidr.clone()),
                RuleSource::ReferencedGroupId(_) => None,
            })
            .collect(),
        "ip-permission.group-id" => group
            .ingress
            .iter()
            .filter_map(|r| match &r.source {
                RuleSource::ReferencedGroupId(id) => Some(id.clone()),
                RuleSource::CidrIpv4(_) => None,
            })
            .collect(),
        _ => return None,
    })
}

/// A rule as EC2 words it in errors: `peer: 0.0.0.0/0, TCP, from port: 80, to port: 80, ALLOW`.
fn describe_rule(rule: &SecurityGroupRule) -> String {
    let peer = match &rule.source {
        RuleSource::CidrIpv4(cidr) => cidr.clone(),
        RuleSource::ReferencedGroupId(id) => id.clone(),
    };
    let protocol = match rule.ip_protocol.as_str() {
        "-1" => "ALL".to_owned(),
        other => other.to_ascii_uppercase(),
    };
    match (rule.from_port, rule.to_port) {
        (Some(from), Some(to)) => {
            format!("peer: {peer}, {protocol}, from port: {from}, to port: {to}, ALLOW")
        }
        _ => format!("peer: {peer}, {protocol}, ALLOW"),
    }
}
