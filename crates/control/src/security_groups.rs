//! Security groups: CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
//! Authorize/RevokeSecurityGroupIngress, the groups RunTask puts a task in, and every
//! group's ingress rules as nodes enforce them.
//!
//! A group's name is claimed by its own key in its VPC, so two groups never share one. Rules
//! are kept one by one (a protocol, a port range, a source), as EC2 keeps them; a new group —
//! one made by CreateSecurityGroup, a VPC's `default` group, or a group RunTask names that
//! berth has never seen (made on first use unless the network is strict) — allows all egress
//! and ingress only from its own members, as AWS's default group does.
//!
//! A group in use — a task holding an address is in it, or another group's rule names it —
//! cannot be deleted. Whatever comes to depend on a group writes the group's usage key
//! (`keys::group_usage`) in the transaction that makes it depend, and compares that the group
//! still exists; DeleteSecurityGroup reads the usage key before it looks for dependents and
//! compares on it when it deletes, so no task or rule can slip in between its check and its
//! write.

use std::collections::BTreeSet;

use berth_model::AccountRegion;
use berth_model::security_groups::{
    self, GroupIngress, IngressRule, RuleSource, SecurityGroupRule,
};
use berth_store::{
    Compare, CompareOp, CompareTarget, KeyRange, Op, Revision, StoreError, Txn, Watcher,
};

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::ec2_error::{Ec2Code, Ec2Error};
use crate::ec2_filters::{Filter, passes};
use crate::ids::new_id;
use crate::keys;
use crate::network::VpcRecord;
use crate::records::{self, SecurityGroupRecord, TaskRecord};

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
        retry_cas(
            || async {
                let (found, revision) = self.group_for_update(scope, group).await?;
                if found.group_name == "default" {
                    return Err(Ec2Error::client(
                        Ec2Code::CannotDelete,
                        format!(
                            "the specified group: \"{}\" name: \"default\" cannot be deleted by a user",
                            found.group_id
                        ),
                    ));
                }
                // Read before looking for dependents: one that commits after this read has
                // written the usage key, and the compare below fails.
                let usage_key = keys::group_usage(scope, &found.group_id);
                let usage = self.mod_revision(&usage_key).await?;
                if self.group_in_use(scope, &found.group_id).await? {
                    return Err(Ec2Error::client(
                        Ec2Code::DependencyViolation,
                        format!("resource {} has a dependent object", found.group_id),
                    ));
                }
                let key = keys::security_group(scope, &found.group_id);
                let txn = Txn {
                    compares: vec![
                        Compare::unchanged_since(key.as_str(), revision),
                        Compare::unchanged_since(usage_key.as_str(), usage),
                    ],
                    success: vec![
                        Op::Delete {
                            key: key.into_bytes(),
                        },
                        Op::Delete {
                            key: keys::group_name(scope, &found.vpc_id, &found.group_name)
                                .into_bytes(),
                        },
                        Op::Delete {
                            key: usage_key.into_bytes(),
                        },
                    ],
                    failure: vec![],
                };
                if !self.store.txn(txn).await?.succeeded {
                    return Ok(Attempt::Lost);
                }
                tracing::info!(group = %found.group_id, "security group deleted");
                Ok(Attempt::Done(found.group_id))
            },
            Ec2Error::Contended,
        )
        .await
    }

    /// Whether a task holding an address is in group `id`, or another group's rule names it.
    async fn group_in_use(&self, scope: &AccountRegion, id: &str) -> Result<bool, Ec2Error> {
        let in_a_task = self
            .tasks_holding_addresses()
            .await?
            .iter()
            .any(|(task_scope, record)| {
                *task_scope == *scope
                    && record
                        .network
                        .as_ref()
                        .is_some_and(|n| n.security_groups.iter().any(|g| g == id))
            });
        if in_a_task {
            return Ok(true);
        }
        let everyone = self
            .describe_security_groups(scope, &SecurityGroupQuery::default())
            .await?;
        Ok(everyone.iter().any(|other| {
            other.group_id != id
                && other
                    .ingress
                    .iter()
                    .any(|rule| matches!(&rule.source, RuleSource::ReferencedGroupId(g) if g == id))
        }))
    }

    /// The revision `key` was last written at; 0 when it does not exist.
    async fn mod_revision(&self, key: &str) -> Result<Revision, StoreError> {
        let found = self.store.range(KeyRange::key(key), None).await?;
        Ok(found.kvs.first().map_or(0, |kv| kv.mod_revision))
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
        retry_cas(
            || async {
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
                // The other groups the new rules name now have a dependent.
                let named: Vec<String> = rules
                    .iter()
                    .filter_map(|rule| match &rule.source {
                        RuleSource::ReferencedGroupId(id) if *id != found.group_id => {
                            Some(id.clone())
                        }
                        _ => None,
                    })
                    .collect();
                let key = keys::security_group(scope, &found.group_id);
                let dependency = depend_on_groups(scope, &named, &key);
                let committed = self
                    .replace_group(scope, &found, revision, dependency)
                    .await?;
                Ok(Attempt::committed(committed, (found.group_id, rules)))
            },
            Ec2Error::Contended,
        )
        .await
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
        retry_cas(
            || async {
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
                // Removing rules makes nothing depend on a group: no usage key to write.
                let committed = self
                    .replace_group(scope, &found, revision, Dependency::default())
                    .await?;
                Ok(Attempt::committed(committed, outcome))
            },
            Ec2Error::Contended,
        )
        .await
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

    /// Writes `group` if it is unchanged since `revision` (and `dependency` holds); whether
    /// it was written.
    async fn replace_group(
        &self,
        scope: &AccountRegion,
        group: &SecurityGroupRecord,
        revision: Revision,
        dependency: Dependency,
    ) -> Result<bool, StoreError> {
        let key = keys::security_group(scope, &group.group_id);
        let mut txn = Txn {
            compares: vec![Compare::unchanged_since(key.as_str(), revision)],
            success: vec![Op::put(key.as_str(), records::encode(group))],
            failure: vec![],
        };
        dependency.add_to(&mut txn);
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
            for description in permission
                .ip_ranges
                .iter()
                .map(|(_, d)| d)
                .chain(permission.groups.iter().map(|(_, d)| d))
                .flatten()
            {
                check_characters("Description", description)?;
            }
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
            let group = retry_cas(
                || async {
                    if let Some(group) = self
                        .read::<SecurityGroupRecord>(&keys::security_group(scope, id))
                        .await?
                    {
                        return Ok(Attempt::Done(group));
                    }
                    if self.network.strict {
                        return Err(group_not_found(id));
                    }
                    let group = SecurityGroupRecord::new(
                        id,
                        id,
                        "made by berth on first use",
                        &vpc.vpc_id,
                    )?;
                    match self.put_new_group(scope, &group).await {
                        Ok(true) => {
                            tracing::info!(group = %id, vpc = %vpc.vpc_id, "made a security group on first use");
                            Ok(Attempt::Done(group))
                        }
                        // Made (or its name taken) meanwhile: read it again.
                        Ok(false) | Err(Ec2Error::Client { .. }) => Ok(Attempt::Lost),
                        Err(other) => Err(other),
                    }
                },
                Ec2Error::Contended,
            )
            .await?;
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
        let found = self.store.range(keys::ec2_scopes(), None).await?;
        let mut groups = Vec::new();
        for kv in &found.kvs {
            let key = String::from_utf8_lossy(&kv.key);
            let Some((group_scope, _)) = keys::security_group_of(&key) else {
                continue;
            };
            let (account, region) = (&group_scope.account_id, &group_scope.region);
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
        self.store.watch(keys::ec2_scopes(), from)
    }

    /// Whether a change is to a security group (what nodes re-read their rules for).
    pub fn is_security_group_change(event: &berth_store::Event) -> bool {
        let key = match event {
            berth_store::Event::Put(kv) => &kv.key,
            berth_store::Event::Delete(kv) => &kv.key,
        };
        keys::security_group_of(&String::from_utf8_lossy(key)).is_some()
    }

    /// The records of every task holding an address, with their scopes.
    pub(crate) async fn tasks_holding_addresses(
        &self,
    ) -> Result<Vec<(AccountRegion, TaskRecord)>, Ec2Error> {
        let mut tasks = Vec::new();
        for task_key in self.claimed_addresses().await?.into_values() {
            if let Some(record) = self.read::<TaskRecord>(&task_key).await? {
                tasks.push((keys::scope_of_task(&task_key), record));
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
    check_characters(parameter, value)
}

/// EC2's character set for names and descriptions; a description given with a rule is held to
/// it too. (Answers are XML: what XML cannot carry must never be stored.)
fn check_characters(parameter: &str, value: &str) -> Result<(), Ec2Error> {
    match security_groups::disallowed_character(value) {
        None => Ok(()),
        Some(c) => Err(Ec2Error::client(
            Ec2Code::InvalidParameterValue,
            format!(
                "Invalid {parameter}: the character {c:?} is not allowed (use a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{{}}!$*)"
            ),
        )),
    }
}

/// What a transaction that makes something depend on security groups must also hold and
/// write (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Dependency {
    compares: Vec<Compare>,
    writes: Vec<Op>,
}

impl Dependency {
    /// Adds the compares and writes to `txn`.
    pub(crate) fn add_to(self, txn: &mut Txn) {
        txn.compares.extend(self.compares);
        txn.success.extend(self.writes);
    }
}

/// What makes `dependent` (a task's or a group's key) depend on `groups`: each group must
/// still exist — else the groups are resolved again, and a deleted one is not found or made
/// anew — and each group's usage key is written, so that a DeleteSecurityGroup that found
/// the group unused before this commits fails its compare and looks again.
pub(crate) fn depend_on_groups(
    scope: &AccountRegion,
    groups: &[String],
    dependent: &str,
) -> Dependency {
    // One write per key: a transaction names each key once.
    let groups: BTreeSet<&String> = groups.iter().collect();
    let mut dependency = Dependency::default();
    for group in groups {
        dependency.compares.push(Compare {
            key: keys::security_group(scope, group).into_bytes(),
            op: CompareOp::Greater,
            target: CompareTarget::Version(0),
        });
        dependency.writes.push(Op::put(
            keys::group_usage(scope, group),
            dependent.as_bytes().to_vec(),
        ));
    }
    dependency
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

#[cfg(test)]
mod tests {
    use berth_model::lifecycle::{TaskReport, TaskStatus};

    use super::*;
    use crate::network::NetworkConfig;
    use crate::paging::PageRequest;
    use crate::placement::LOCAL_NODE;
    use crate::tasks::{ListTasksQuery, TaskError};
    use crate::testing::{cluster_and_definition, run_web, scope, two_planes};

    fn refused_in_use(result: Result<String, Ec2Error>) -> bool {
        matches!(
            result,
            Err(Ec2Error::Client {
                code: Ec2Code::DependencyViolation,
                ..
            })
        )
    }

    fn deletes(txn: &Txn, key: &str) -> bool {
        txn.success
            .iter()
            .any(|op| matches!(op, Op::Delete { key: k } if k == key.as_bytes()))
    }

    fn from_group(id: &str) -> IpPermission {
        IpPermission {
            ip_protocol: Some("tcp".into()),
            from_port: Some(80),
            to_port: Some(80),
            groups: vec![(GroupRef::Id(id.to_owned()), None)],
            ..IpPermission::default()
        }
    }

    #[tokio::test]
    async fn a_group_is_deleted_once_its_last_task_has_stopped() {
        let planes = two_planes(NetworkConfig::default());
        let (ecs, scope) = (&planes.outer, scope());
        cluster_and_definition(ecs).await;
        let group = ecs
            .create_security_group(&scope, "web", "web servers", None)
            .await
            .unwrap();
        let id = GroupRef::Id(group.group_id.clone());
        ecs.run_task(&scope, run_web("subnet-1", &[&group.group_id]))
            .await
            .unwrap();
        assert!(refused_in_use(ecs.delete_security_group(&scope, &id).await));

        let (assignments, _) = ecs.node_assignments(LOCAL_NODE).await.unwrap();
        let stopped = TaskReport {
            status: Some(TaskStatus::Stopped),
            ..TaskReport::default()
        };
        ecs.report_task(&assignments[0].key, &[stopped])
            .await
            .unwrap();
        assert_eq!(
            ecs.delete_security_group(&scope, &id).await.unwrap(),
            group.group_id
        );
        assert!(ecs.security_group(&scope, &id).await.is_err());
    }

    #[tokio::test]
    async fn a_group_another_group_names_is_not_deleted() {
        let planes = two_planes(NetworkConfig::default());
        let (ecs, scope) = (&planes.outer, scope());
        let db = ecs
            .create_security_group(&scope, "db", "databases", None)
            .await
            .unwrap();
        let web = ecs
            .create_security_group(&scope, "web", "web servers", None)
            .await
            .unwrap();
        let (db_ref, web_ref) = (
            GroupRef::Id(db.group_id.clone()),
            GroupRef::Id(web.group_id.clone()),
        );
        ecs.authorize_ingress(&scope, &db_ref, &[from_group(&web.group_id)])
            .await
            .unwrap();
        assert!(refused_in_use(
            ecs.delete_security_group(&scope, &web_ref).await
        ));
        ecs.revoke_ingress(&scope, &db_ref, &[from_group(&web.group_id)], &[])
            .await
            .unwrap();
        ecs.delete_security_group(&scope, &web_ref).await.unwrap();
    }

    /// RunTask puts a task in the group after DeleteSecurityGroup found it unused, before
    /// its transaction: the delete must look again, and refuse.
    #[tokio::test]
    async fn a_task_started_during_a_delete_keeps_its_group() {
        let planes = two_planes(NetworkConfig::default());
        let scope = scope();
        cluster_and_definition(&planes.inner).await;
        let group = planes
            .inner
            .create_security_group(&scope, "web", "web servers", None)
            .await
            .unwrap();
        let group_key = keys::security_group(&scope, &group.group_id);
        let (inner, id) = (planes.inner.clone(), group.group_id.clone());
        planes.between.before(
            move |txn| deletes(txn, &group_key),
            move || {
                Box::pin(async move {
                    inner
                        .run_task(&crate::testing::scope(), run_web("subnet-1", &[&id]))
                        .await
                        .expect("RunTask in between");
                })
            },
        );
        let id = GroupRef::Id(group.group_id.clone());
        assert!(refused_in_use(
            planes.outer.delete_security_group(&scope, &id).await
        ));
        assert!(planes.between.ran());
        planes.outer.security_group(&scope, &id).await.unwrap();
    }

    /// AuthorizeSecurityGroupIngress names the group in another group's rule after
    /// DeleteSecurityGroup found it unused, before its transaction: the delete must refuse.
    #[tokio::test]
    async fn a_rule_added_during_a_delete_keeps_the_group_it_names() {
        let planes = two_planes(NetworkConfig::default());
        let scope = scope();
        let db = planes
            .inner
            .create_security_group(&scope, "db", "databases", None)
            .await
            .unwrap();
        let web = planes
            .inner
            .create_security_group(&scope, "web", "web servers", None)
            .await
            .unwrap();
        let web_key = keys::security_group(&scope, &web.group_id);
        let (inner, db_id, web_id) = (
            planes.inner.clone(),
            db.group_id.clone(),
            web.group_id.clone(),
        );
        planes.between.before(
            move |txn| deletes(txn, &web_key),
            move || {
                Box::pin(async move {
                    inner
                        .authorize_ingress(
                            &crate::testing::scope(),
                            &GroupRef::Id(db_id),
                            &[from_group(&web_id)],
                        )
                        .await
                        .expect("AuthorizeSecurityGroupIngress in between");
                })
            },
        );
        let web_ref = GroupRef::Id(web.group_id.clone());
        assert!(refused_in_use(
            planes.outer.delete_security_group(&scope, &web_ref).await
        ));
        assert!(planes.between.ran());
    }

    /// DeleteSecurityGroup removes the group after RunTask resolved it, before RunTask's
    /// transaction: with a strict network the task must not start in a group that is gone.
    #[tokio::test]
    async fn a_task_does_not_start_in_a_group_deleted_meanwhile() {
        let planes = two_planes(NetworkConfig {
            strict: true,
            ..NetworkConfig::default()
        });
        let scope = scope();
        cluster_and_definition(&planes.inner).await;
        let group = planes
            .inner
            .create_security_group(&scope, "web", "web servers", None)
            .await
            .unwrap();
        let subnets = planes
            .inner
            .describe_subnets(&scope, &[], &[])
            .await
            .unwrap();
        let subnet = subnets[0].subnet.subnet_id.clone();
        let tasks = keys::tasks(&scope, "default");
        let (inner, id) = (planes.inner.clone(), group.group_id.clone());
        planes.between.before(
            move |txn| {
                txn.success
                    .iter()
                    .any(|op| op.key().starts_with(tasks.as_bytes()))
            },
            move || {
                Box::pin(async move {
                    inner
                        .delete_security_group(&crate::testing::scope(), &GroupRef::Id(id))
                        .await
                        .expect("DeleteSecurityGroup in between");
                })
            },
        );
        let run = planes
            .outer
            .run_task(&scope, run_web(&subnet, &[&group.group_id]))
            .await;
        assert!(
            matches!(&run, Err(TaskError::Invalid(m)) if m.contains("does not exist")),
            "{run:?}"
        );
        assert!(planes.between.ran());
        let listed = planes
            .inner
            .list_tasks(&scope, &ListTasksQuery::default(), &PageRequest::default())
            .await
            .unwrap();
        assert!(listed.items.is_empty());
    }
}
