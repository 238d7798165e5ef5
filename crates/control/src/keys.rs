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
//! /ec2/{account}/{region}/addresses/{subnet id}/{a.b.c.d}     → task key: a claimed address
//! ```
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
    format!("{}vpcs/{id}", ec2_prefix(scope))
}

/// One subnet.
pub fn subnet(scope: &AccountRegion, id: &str) -> String {
    format!("{}subnets/{id}", ec2_prefix(scope))
}

/// Every claimed subnet block.
pub fn subnet_blocks(scope: &AccountRegion) -> String {
    format!("{}blocks/", ec2_prefix(scope))
}

/// One claimed block, `a.b.c.d/n` written `a.b.c.d_n`.
pub fn subnet_block(scope: &AccountRegion, cidr: &str) -> String {
    format!("{}{}", subnet_blocks(scope), cidr.replace('/', "_"))
}

/// Every claimed address of a subnet.
pub fn subnet_addresses(scope: &AccountRegion, subnet: &str) -> String {
    format!("{}addresses/{subnet}/", ec2_prefix(scope))
}

/// One claimed address.
pub fn address(scope: &AccountRegion, subnet: &str, address: std::net::Ipv4Addr) -> String {
    format!("{}{address}", subnet_addresses(scope, subnet))
}
