//! Where each resource lives in the store. One function per kind of key, so the layout can be
//! read in one place:
//!
//! ```text
//! /ecs/{account}/{region}/clusters/{name}                    cluster record
//! /ecs/{account}/{region}/taskdefs/{family}#{revision:010}   task definition record
//! /ecs/{account}/{region}/tasks/{cluster}/{task id}          task record
//! /nodes/{node}/tasks/{account}/{region}/{cluster}/{task id}  → task key: a node's work
//! /ec2/{account}/{region}/default-vpc                         → the default VPC's id
//! /ec2/{account}/{region}/vpcs/{vpc id}                       VPC record
//! /ec2/{account}/{region}/subnets/{subnet id}                 subnet record
//! /ec2/{account}/{region}/blocks/{a.b.c.d_n}                  → subnet id: a claimed block
//! /ec2/{account}/{region}/security-groups/{group id}          security group record
//! /ec2/{account}/{region}/group-names/{vpc id}/{name}         → group id: a claimed name
//! /ec2/addresses/{a.b.c.d}                                    → task key: a claimed address
//! ```
//!
//! Addresses are claimed node-wide, not per VPC: every task on a node shares one bridge, so
//! two VPCs (say, two regions' default VPCs, both 172.31.0.0/16) must not hand out one
//! address twice.
//!
//! `#` sorts before every character a family may contain, so keys sort by family name first
//! (`a` before `a-b`) and the zero-padded revision keeps revisions in numeric order.

use berth_model::AccountRegion;

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

/// One security group.
pub fn security_group(scope: &AccountRegion, id: &str) -> String {
    format!("{}{id}", security_groups(scope))
}

/// Every security group of a scope.
pub fn security_groups(scope: &AccountRegion) -> String {
    format!("{}security-groups/", ec2_prefix(scope))
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

/// One claimed address.
pub fn address(address: std::net::Ipv4Addr) -> String {
    format!("{ADDRESSES}{address}")
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
        assert!(!inside(&address(std::net::Ipv4Addr::new(10, 0, 0, 1))));
    }
}
