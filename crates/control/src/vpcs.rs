//! VPCs and subnets as EC2's API serves them: CreateVpc, DescribeVpcs, CreateSubnet,
//! DescribeSubnets, DeleteSubnet — and DescribeNetworkInterfaces, which lists the interfaces
//! of the tasks holding addresses.
//!
//! A subnet's block is claimed by its own key (`keys::subnet_block`) in the transaction that
//! creates it, so two subnets of a scope never overlap; a subnet with tasks in it cannot be
//! deleted.

use berth_model::AccountRegion;
use berth_model::network::{Ipv4Network, TaskNetwork};
use berth_store::{Compare, Op, Txn};

use crate::Ecs;
use crate::ec2_error::{Ec2Code, Ec2Error};
use crate::ec2_filters::{Filter, passes};
use crate::ids::new_id;
use crate::keys;
use crate::network::{SubnetRecord, VpcRecord, vpc_puts};
use crate::records::{self, SecurityGroupRecord};

/// A subnet and how many of its addresses are free.
#[derive(Debug, Clone)]
pub struct SubnetView {
    pub subnet: SubnetRecord,
    pub available_ip_address_count: u32,
}

/// A task's network interface as DescribeNetworkInterfaces shows it.
#[derive(Debug, Clone)]
pub struct NetworkInterfaceView {
    pub interface: TaskNetwork,
    pub vpc_id: String,
    pub availability_zone: String,
    /// The groups, with their names.
    pub groups: Vec<(String, String)>,
    /// The ECS attachment the interface belongs to (its ARN).
    pub attachment_arn: String,
}

impl Ecs {
    /// CreateVpc.
    pub async fn create_vpc(
        &self,
        scope: &AccountRegion,
        cidr_block: Option<&str>,
    ) -> Result<VpcRecord, Ec2Error> {
        let cidr = cidr_block.ok_or_else(|| {
            Ec2Error::client(
                Ec2Code::MissingParameter,
                "The request must contain the parameter CidrBlock",
            )
        })?;
        let network = Ipv4Network::parse(cidr).map_err(|m| {
            Ec2Error::client(
                Ec2Code::VpcRange,
                format!("The CIDR '{cidr}' is invalid: {m}"),
            )
        })?;
        // The default VPC is made first, so it always exists beside the user's.
        self.default_vpc(scope).await?;
        let group = SecurityGroupRecord::default_group(&new_id("sg")?, &new_id("vpc")?)?;
        let vpc = VpcRecord {
            vpc_id: group.vpc_id.clone(),
            cidr_block: network.to_string(),
            is_default: false,
            default_group_id: group.group_id.clone(),
        };
        let txn = Txn {
            compares: vec![],
            success: vpc_puts(scope, &vpc, &group),
            failure: vec![],
        };
        self.store.txn(txn).await?;
        tracing::info!(vpc = %vpc.vpc_id, cidr = %vpc.cidr_block, "VPC created");
        Ok(vpc)
    }

    /// One VPC.
    pub async fn vpc(&self, scope: &AccountRegion, id: &str) -> Result<VpcRecord, Ec2Error> {
        self.read::<VpcRecord>(&keys::vpc(scope, id))
            .await?
            .ok_or_else(|| vpc_not_found(id))
    }

    /// DescribeVpcs.
    pub async fn describe_vpcs(
        &self,
        scope: &AccountRegion,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<VpcRecord>, Ec2Error> {
        self.default_vpc(scope).await?;
        let vpcs: Vec<VpcRecord> = self
            .all_or_named(
                keys::vpcs(scope),
                ids,
                |id| keys::vpc(scope, id),
                vpc_not_found,
            )
            .await?;
        let mut passed = Vec::new();
        for vpc in vpcs {
            let values = |name: &str| {
                Some(match name {
                    "vpc-id" => vec![vpc.vpc_id.clone()],
                    "cidr" | "cidr-block-association.cidr-block" => vec![vpc.cidr_block.clone()],
                    "is-default" => vec![vpc.is_default.to_string()],
                    "state" => vec!["available".into()],
                    "owner-id" => vec![scope.account_id.clone()],
                    _ => return None,
                })
            };
            if passes(filters, values)? {
                passed.push(vpc);
            }
        }
        Ok(passed)
    }

    /// CreateSubnet: a block inside its VPC (/16–/28) that overlaps no other subnet's.
    pub async fn create_subnet(
        &self,
        scope: &AccountRegion,
        vpc_id: &str,
        cidr_block: Option<&str>,
        availability_zone: Option<&str>,
    ) -> Result<SubnetRecord, Ec2Error> {
        let vpc = self.vpc(scope, vpc_id).await?;
        let cidr = cidr_block.ok_or_else(|| {
            Ec2Error::client(
                Ec2Code::MissingParameter,
                "The request must contain the parameter CidrBlock",
            )
        })?;
        let block = Ipv4Network::parse(cidr).map_err(|m| {
            Ec2Error::client(
                Ec2Code::SubnetRange,
                format!("The CIDR '{cidr}' is invalid: {m}"),
            )
        })?;
        let vpc_block = Ipv4Network::parse(&vpc.cidr_block)
            .map_err(|m| Ec2Error::client(Ec2Code::InvalidParameterValue, m))?;
        if block.prefix_len < vpc_block.prefix_len || !vpc_block.overlaps(&block) {
            return Err(Ec2Error::client(
                Ec2Code::SubnetRange,
                format!(
                    "The CIDR '{cidr}' is invalid: it is not inside VPC {vpc_id} ({}).",
                    vpc.cidr_block
                ),
            ));
        }
        let conflict = || {
            Ec2Error::client(
                Ec2Code::SubnetConflict,
                format!("The CIDR '{cidr}' conflicts with another subnet"),
            )
        };
        // Blocks are claimed per scope, and a VPC's blocks all lie inside it, so an overlap
        // with any claimed block inside this VPC is a conflict.
        let taken = self.subnet_blocks(scope).await?;
        if taken
            .iter()
            .any(|t| t.overlaps(&block) && vpc_block.overlaps(t))
        {
            return Err(conflict());
        }
        let subnet = SubnetRecord {
            subnet_id: new_id("subnet")?,
            vpc_id: vpc.vpc_id.clone(),
            cidr_block: block.to_string(),
            availability_zone: availability_zone
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{}a", scope.region)),
            default_for_az: false,
            map_public_ip_on_launch: false,
        };
        let block_key = keys::subnet_block(scope, &subnet.cidr_block);
        let txn = Txn {
            compares: vec![Compare::absent(block_key.as_str())],
            success: vec![
                Op::put(
                    keys::subnet(scope, &subnet.subnet_id),
                    records::encode(&subnet),
                ),
                Op::put(block_key.as_str(), subnet.subnet_id.as_bytes().to_vec()),
            ],
            failure: vec![],
        };
        if !self.store.txn(txn).await?.succeeded {
            return Err(conflict());
        }
        tracing::info!(subnet = %subnet.subnet_id, cidr = %subnet.cidr_block, vpc = %vpc_id, "subnet created");
        Ok(subnet)
    }

    /// DescribeSubnets.
    pub async fn describe_subnets(
        &self,
        scope: &AccountRegion,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<SubnetView>, Ec2Error> {
        self.default_vpc(scope).await?;
        let subnets: Vec<SubnetRecord> = self
            .all_or_named(
                keys::subnets(scope),
                ids,
                |id| keys::subnet(scope, id),
                subnet_not_found,
            )
            .await?;
        let claimed = self.claimed_addresses().await?;
        let mut passed = Vec::new();
        for subnet in subnets {
            let values = |name: &str| {
                Some(match name {
                    "subnet-id" => vec![subnet.subnet_id.clone()],
                    "vpc-id" => vec![subnet.vpc_id.clone()],
                    "cidr-block" | "cidr" | "cidrBlock" => vec![subnet.cidr_block.clone()],
                    "availability-zone" | "availabilityZone" => {
                        vec![subnet.availability_zone.clone()]
                    }
                    "default-for-az" | "defaultForAz" => vec![subnet.default_for_az.to_string()],
                    "map-public-ip-on-launch" => {
                        vec![subnet.map_public_ip_on_launch.to_string()]
                    }
                    "state" => vec!["available".into()],
                    "owner-id" => vec![scope.account_id.clone()],
                    _ => return None,
                })
            };
            if !passes(filters, values)? {
                continue;
            }
            let block = subnet.network()?;
            let assignable = block.assignable().count() as u32;
            let used = claimed
                .keys()
                .filter(|address| block.contains(**address))
                .count() as u32;
            passed.push(SubnetView {
                available_ip_address_count: assignable.saturating_sub(used),
                subnet,
            });
        }
        Ok(passed)
    }

    /// DeleteSubnet: refused while a task holds one of its addresses.
    pub async fn delete_subnet(&self, scope: &AccountRegion, id: &str) -> Result<(), Ec2Error> {
        let subnet = self
            .read::<SubnetRecord>(&keys::subnet(scope, id))
            .await?
            .ok_or_else(|| subnet_not_found(id))?;
        let in_use = self
            .tasks_holding_addresses()
            .await?
            .iter()
            .any(|(task_scope, record)| {
                *task_scope == *scope && record.network.as_ref().is_some_and(|n| n.subnet_id == id)
            });
        if in_use {
            return Err(Ec2Error::client(
                Ec2Code::DependencyViolation,
                format!("The subnet '{id}' has dependencies and cannot be deleted."),
            ));
        }
        let txn = Txn {
            compares: vec![],
            success: vec![
                Op::Delete {
                    key: keys::subnet(scope, id).into_bytes(),
                },
                Op::Delete {
                    key: keys::subnet_block(scope, &subnet.cidr_block).into_bytes(),
                },
            ],
            failure: vec![],
        };
        self.store.txn(txn).await?;
        tracing::info!(subnet = %id, "subnet deleted");
        Ok(())
    }

    /// DescribeNetworkInterfaces: the interfaces of the scope's tasks that hold addresses.
    pub async fn describe_network_interfaces(
        &self,
        scope: &AccountRegion,
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<NetworkInterfaceView>, Ec2Error> {
        let mut views = Vec::new();
        for (task_scope, record) in self.tasks_holding_addresses().await? {
            let Some(interface) = record.network else {
                continue;
            };
            if task_scope != *scope {
                continue;
            }
            let subnet = self
                .read::<SubnetRecord>(&keys::subnet(scope, &interface.subnet_id))
                .await?;
            let (vpc_id, availability_zone) = subnet
                .map(|s| (s.vpc_id, s.availability_zone))
                .unwrap_or_default();
            let mut groups = Vec::new();
            for id in &interface.security_groups {
                let name = self
                    .read::<SecurityGroupRecord>(&keys::security_group(scope, id))
                    .await?
                    .map(|g| g.group_name)
                    .unwrap_or_default();
                groups.push((id.clone(), name));
            }
            let attachment_arn = format!(
                "arn:aws:ecs:{}:{}:attachment/{}",
                scope.region, scope.account_id, interface.attachment_id
            );
            views.push(NetworkInterfaceView {
                interface,
                vpc_id,
                availability_zone,
                groups,
                attachment_arn,
            });
        }
        for id in ids {
            if !views
                .iter()
                .any(|v| &v.interface.network_interface_id == id)
            {
                return Err(Ec2Error::client(
                    Ec2Code::NetworkInterfaceNotFound,
                    format!("The networkInterface ID '{id}' does not exist"),
                ));
            }
        }
        let mut passed = Vec::new();
        for view in views {
            if !ids.is_empty() && !ids.contains(&view.interface.network_interface_id) {
                continue;
            }
            let values = |name: &str| {
                let interface = &view.interface;
                Some(match name {
                    "network-interface-id" => vec![interface.network_interface_id.clone()],
                    "subnet-id" => vec![interface.subnet_id.clone()],
                    "vpc-id" => vec![view.vpc_id.clone()],
                    "private-ip-address" | "addresses.private-ip-address" => {
                        vec![interface.address.to_string()]
                    }
                    "private-dns-name" => vec![interface.private_dns_name.clone()],
                    "mac-address" => vec![interface.mac_address.clone()],
                    "group-id" => view.groups.iter().map(|(id, _)| id.clone()).collect(),
                    "group-name" => view.groups.iter().map(|(_, name)| name.clone()).collect(),
                    "status" => vec!["in-use".into()],
                    "interface-type" => vec!["interface".into()],
                    "description" => vec![view.attachment_arn.clone()],
                    "requester-managed" => vec!["true".into()],
                    "availability-zone" => vec![view.availability_zone.clone()],
                    "owner-id" => vec![scope.account_id.clone()],
                    _ => return None,
                })
            };
            if passes(filters, values)? {
                passed.push(view);
            }
        }
        Ok(passed)
    }
}

fn vpc_not_found(id: &str) -> Ec2Error {
    Ec2Error::client(
        Ec2Code::VpcNotFound,
        format!("The vpc ID '{id}' does not exist"),
    )
}

fn subnet_not_found(id: &str) -> Ec2Error {
    Ec2Error::client(
        Ec2Code::SubnetNotFound,
        format!("The subnet ID '{id}' does not exist"),
    )
}
