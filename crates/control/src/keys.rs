//! Where each resource lives in the store. One function per kind of key, so the layout can be
//! read in one place:
//!
//! ```text
//! /ecs/{account}/{region}/clusters/{name}                    cluster record
//! /ecs/{account}/{region}/taskdefs/{family}#{revision:010}   task definition record
//! /ecs/{account}/{region}/tasks/{cluster}/{task id}          task record: desired state
//! /observed/ecs/{account}/{region}/tasks/{cluster}/{task id}  observed task state
//! /nodes/{node}/tasks/{account}/{region}/{cluster}/{task id}  → task key: a node's work
//! /ec2/{account}/{region}/default-vpc                         → the default VPC's id
//! /ec2/{account}/{region}/vpcs/{vpc id}                       VPC record
//! /ec2/{account}/{region}/subnets/{subnet id}                 subnet record
//! /ec2/{account}/{region}/blocks/{a.b.c.d_n}                  → subnet id: a claimed block
//! /ec2/{account}/{region}/security-groups/{group id}          security group record
//! /ec2/{account}/{region}/group-names/{vpc id}/{name}         → group id: a claimed name
//! /ec2/addresses/{a.b.c.d}                                    → task key: a claimed address
//! /ec2/group-usage/{account}/{region}/{group id}              → what last came to depend on it
//! /iam/accounts/{account}                                     account record
//! /iam/access-keys/{access key id}                            access key record (secret sealed)
//! /iam/{account}/users/{user name, lower case}                IAM user record
//! /iam/{account}/principal-keys/{principal}/{access key id}   → access key id: a principal's keys
//! /iam/{account}/user-policies/{user, lower case}/{policy}    inline user policy
//! ```
//!
//! IAM names are unique regardless of case, so a user's keys use its lower-cased name; the
//! record keeps the name as given. A principal is `user:{name}` or `!root` (`!` is in no IAM
//! name, so no user can be taken for the account's root).
//!
//! A task is two records. What users and controllers want — the task as RunTask made it,
//! `desiredStatus`, a user's stop reason, tags — is the task record, written by RunTask,
//! StopTask, TagResource and controllers. What its node reports — `lastStatus`, the
//! containers' states, the times ECS stamps — is the observed record, written by
//! `report_task` alone and named by the task key under `/observed`, so that the two kinds of
//! writer never contend for one compare-and-swap. Outside `/ecs/`, observed records never
//! wake the nodes' watch of task records (`ALL_ECS`): a node is woken by what is asked of it,
//! not by its own reports.
//!
//! Addresses are claimed node-wide, not per VPC: every task on a node shares one bridge, so
//! two VPCs (say, two regions' default VPCs, both 172.31.0.0/16) must not hand out one
//! address twice.
//!
//! A group's usage key is written whenever something comes to depend on the group (a task put
//! in it, a rule naming it), so DeleteSecurityGroup can compare on it. Like the addresses it
//! changes with every task, so it sorts after them, outside the range nodes' firewalls watch.
//!
//! Keys are also read back here (`scope_of_task`, `security_group_of`, ...): whoever parses a
//! key should not need to know its layout either.
//!
//! `#` sorts before every character a family may contain, so keys sort by family name first
//! (`a` before `a-b`) and the zero-padded revision keeps revisions in numeric order.

use std::net::Ipv4Addr;

use berth_model::AccountRegion;
use berth_store::KeyRange;

/// Every IAM record: what the authenticator's cache watches.
pub const ALL_IAM: &str = "/iam/";

/// Every account.
pub const ACCOUNTS: &str = "/iam/accounts/";

/// One account.
pub fn account(account_id: &str) -> String {
    format!("{ACCOUNTS}{account_id}")
}

/// One access key, found by its id alone (a request names nothing else).
pub fn access_key(access_key_id: &str) -> String {
    format!("/iam/access-keys/{access_key_id}")
}

/// All IAM users of an account.
pub fn users(account_id: &str) -> String {
    format!("/iam/{account_id}/users/")
}

/// One IAM user.
pub fn user(account_id: &str, user_name: &str) -> String {
    format!("{}{}", users(account_id), user_name.to_lowercase())
}

/// How a principal is spelt inside keys: `!root` or `user:{lower-case name}`.
pub fn principal_segment(user_name: Option<&str>) -> String {
    match user_name {
        None => "!root".to_owned(),
        Some(name) => format!("user:{}", name.to_lowercase()),
    }
}

/// A principal's access keys.
pub fn principal_keys(account_id: &str, user_name: Option<&str>) -> String {
    format!(
        "/iam/{account_id}/principal-keys/{}/",
        principal_segment(user_name)
    )
}

/// One of a principal's access keys.
pub fn principal_key(account_id: &str, user_name: Option<&str>, access_key_id: &str) -> String {
    format!("{}{access_key_id}", principal_keys(account_id, user_name))
}

/// A user's inline policies.
pub fn user_policies(account_id: &str, user_name: &str) -> String {
    format!(
        "/iam/{account_id}/user-policies/{}/",
        user_name.to_lowercase()
    )
}

/// One inline user policy.
pub fn user_policy(account_id: &str, user_name: &str, policy_name: &str) -> String {
    format!("{}{policy_name}", user_policies(account_id, user_name))
}

/// Where every scope's ECS resources begin: clusters, task definitions, tasks.
pub const ALL_ECS: &str = "/ecs/";

fn scope_prefix(scope: &AccountRegion) -> String {
    format!("/ecs/{}/{}/", scope.account_id, scope.region)
}

/// All clusters of a scope.
pub fn clusters(scope: &AccountRegion) -> String {
    format!("{}clusters/", scope_prefix(scope))
}

/// One cluster.
pub fn cluster(scope: &AccountRegion, name: &str) -> String {
    format!("{}{name}", clusters(scope))
}

/// All task definitions of a scope.
pub fn task_definitions(scope: &AccountRegion) -> String {
    format!("{}taskdefs/", scope_prefix(scope))
}

/// Every revision of one family.
pub fn family(scope: &AccountRegion, family: &str) -> String {
    format!("{}{family}#", task_definitions(scope))
}

/// One revision.
pub fn task_definition(scope: &AccountRegion, family_name: &str, revision: u32) -> String {
    format!("{}{revision:010}", family(scope, family_name))
}

/// All tasks of a cluster.
pub fn tasks(scope: &AccountRegion, cluster: &str) -> String {
    format!("{}tasks/{cluster}/", scope_prefix(scope))
}

/// One task.
pub fn task(scope: &AccountRegion, cluster: &str, id: &str) -> String {
    format!("{}{id}", tasks(scope, cluster))
}

/// Whether `key` is a task's (`/ecs/{account}/{region}/tasks/{cluster}/{id}`).
pub fn is_task(key: &str) -> bool {
    matches!(parts(key).as_slice(), ["ecs", _, _, "tasks", _, _])
}

/// The account and region of task key `/ecs/{account}/{region}/tasks/...` (empty parts for
/// a key of another shape).
pub fn scope_of_task(key: &str) -> AccountRegion {
    let mut parts = key.trim_start_matches('/').split('/').skip(1);
    AccountRegion {
        account_id: parts.next().unwrap_or_default().to_owned(),
        region: parts.next().unwrap_or_default().to_owned(),
    }
}

/// Where every task's observed record lives (see the module docs).
const OBSERVED: &str = "/observed";

/// The observed record of the task at `task_key`.
pub fn observed_task(task_key: &str) -> String {
    format!("{OBSERVED}{task_key}")
}

/// The observed records of all tasks of a cluster.
pub fn observed_tasks(scope: &AccountRegion, cluster: &str) -> String {
    observed_task(&tasks(scope, cluster))
}

/// The task key whose observed record is at `key` (`None` for any other key).
pub fn task_of_observed(key: &str) -> Option<&str> {
    key.strip_prefix(OBSERVED)
        .filter(|task_key| is_task(task_key))
}

/// Task definitions of a scope whose family starts with `prefix`.
pub fn families_starting_with(scope: &AccountRegion, prefix: &str) -> String {
    format!("{}{prefix}", task_definitions(scope))
}

/// Every task assigned to `node`: what its agent watches.
pub fn node_tasks(node: &str) -> String {
    format!("/nodes/{node}/tasks/")
}

/// One task's assignment to `node`.
pub fn node_task(node: &str, scope: &AccountRegion, cluster: &str, id: &str) -> String {
    format!(
        "{}{}/{}/{cluster}/{id}",
        node_tasks(node),
        scope.account_id,
        scope.region
    )
}

fn ec2_prefix(scope: &AccountRegion) -> String {
    format!("/ec2/{}/{}/", scope.account_id, scope.region)
}

/// Which VPC is the default one.
pub fn default_vpc(scope: &AccountRegion) -> String {
    format!("{}default-vpc", ec2_prefix(scope))
}

/// One VPC.
pub fn vpc(scope: &AccountRegion, id: &str) -> String {
    format!("{}{id}", vpcs(scope))
}

/// One subnet.
pub fn subnet(scope: &AccountRegion, id: &str) -> String {
    format!("{}{id}", subnets(scope))
}

/// Every claimed subnet block.
pub fn subnet_blocks(scope: &AccountRegion) -> String {
    format!("{}blocks/", ec2_prefix(scope))
}

/// One claimed block, `a.b.c.d/n` written `a.b.c.d_n`.
pub fn subnet_block(scope: &AccountRegion, cidr: &str) -> String {
    format!("{}{}", subnet_blocks(scope), cidr.replace('/', "_"))
}

/// The block (`a.b.c.d/n`) a block key claims.
pub fn block_of(key: &str) -> Option<String> {
    Some(key.rsplit_once("/blocks/")?.1.replace('_', "/"))
}

/// One security group.
pub fn security_group(scope: &AccountRegion, id: &str) -> String {
    format!("{}{id}", security_groups(scope))
}

/// Every security group of a scope.
pub fn security_groups(scope: &AccountRegion) -> String {
    format!("{}security-groups/", ec2_prefix(scope))
}

/// The scope and id of security group key `/ec2/{account}/{region}/security-groups/{id}`;
/// `None` for any other key.
pub fn security_group_of(key: &str) -> Option<(AccountRegion, &str)> {
    match parts(key).as_slice() {
        ["ec2", account, region, "security-groups", id] => Some((
            AccountRegion {
                account_id: (*account).to_owned(),
                region: (*region).to_owned(),
            },
            id,
        )),
        _ => None,
    }
}

/// What a security group's dependents touch (see the module docs).
pub fn group_usage(scope: &AccountRegion, group: &str) -> String {
    format!("{GROUP_USAGE}{}/{}/{group}", scope.account_id, scope.region)
}

/// A security group's name, claimed in its VPC.
pub fn group_name(scope: &AccountRegion, vpc: &str, name: &str) -> String {
    format!("{}group-names/{vpc}/{name}", ec2_prefix(scope))
}

/// Every VPC of a scope.
pub fn vpcs(scope: &AccountRegion) -> String {
    format!("{}vpcs/", ec2_prefix(scope))
}

/// Every subnet of a scope.
pub fn subnets(scope: &AccountRegion) -> String {
    format!("{}subnets/", ec2_prefix(scope))
}

/// Where every scope's EC2 resources begin (what a node's firewall watches)...
pub const ALL_EC2: &str = "/ec2/";

/// ...and where they end: account ids are 12 digits, which sort before the node-wide
/// `addresses/`, so `ALL_EC2..SCOPES_END` holds every scope's VPCs, subnets and groups and
/// none of the addresses that change with every task.
pub const SCOPES_END: &str = ADDRESSES;

/// Every claimed address, node-wide.
pub const ADDRESSES: &str = "/ec2/addresses/";

/// Every group's usage key, node-wide like the addresses (and after them).
const GROUP_USAGE: &str = "/ec2/group-usage/";

/// One claimed address.
pub fn address(address: Ipv4Addr) -> String {
    format!("{ADDRESSES}{address}")
}

/// The address an address key claims.
pub fn address_of(key: &str) -> Option<Ipv4Addr> {
    key.rsplit('/').next()?.parse().ok()
}

/// Every scope's VPCs, subnets and groups, without the node-wide keys.
pub fn ec2_scopes() -> KeyRange {
    KeyRange {
        start: ALL_EC2.into(),
        end: Some(SCOPES_END.into()),
    }
}

/// A key's `/`-separated parts after the leading `/`.
fn parts(key: &str) -> Vec<&str> {
    key.strip_prefix('/').unwrap_or(key).split('/').collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_lies_between_all_ec2_and_the_addresses() {
        let scope = AccountRegion {
            account_id: "999999999999".into(),
            region: "us-east-1".into(),
        };
        let inside = |key: &str| (ALL_EC2..SCOPES_END).contains(&key);
        assert!(inside(&security_group(&scope, "sg-1")));
        assert!(inside(&subnet(&scope, "subnet-1")));
        assert!(!inside(&address(Ipv4Addr::new(10, 0, 0, 1))));
        assert!(!inside(&group_usage(&scope, "sg-1")));
    }

    #[test]
    fn keys_read_back_as_written() {
        let scope = AccountRegion {
            account_id: "999999999999".into(),
            region: "us-east-1".into(),
        };
        let task_key = task(&scope, "default", "abc");
        assert!(is_task(&task_key));
        let observed = observed_task(&task_key);
        assert!(!is_task(&observed));
        assert_eq!(task_of_observed(&observed), Some(task_key.as_str()));
        assert_eq!(task_of_observed(&task_key), None);
        assert!(observed.starts_with(&observed_tasks(&scope, "default")));
        // Outside what nodes watch for their assignments.
        assert!(!observed.starts_with(ALL_ECS));
        assert!(!is_task(&cluster(&scope, "default")));
        assert!(!is_task(&task_definition(&scope, "web", 1)));
        assert_eq!(scope_of_task(&task_key), scope);
        assert_eq!(
            security_group_of(&security_group(&scope, "sg-1")),
            Some((scope.clone(), "sg-1"))
        );
        assert_eq!(security_group_of(&group_name(&scope, "vpc-1", "web")), None);
        assert_eq!(
            block_of(&subnet_block(&scope, "172.31.0.0/20")).as_deref(),
            Some("172.31.0.0/20")
        );
        let ip = Ipv4Addr::new(172, 31, 0, 2);
        assert_eq!(address_of(&address(ip)), Some(ip));
    }
}
