//! The VPC that tasks' network interfaces live in: berth's default VPC and its subnets, made
//! when first needed, and the private addresses handed out from them — each claimed by its
//! own store key in the transaction that places the task, so no address is handed out twice
//! (not even across a crash), and freed in the one that records the task STOPPED.
//!
//! A subnet berth has never seen is made on first use in the default VPC (the next free /20),
//! so that the Fargate guide's commands work as written — unless the network is strict, when
//! it is an `InvalidParameterException`, as in AWS. Security groups work the same way
//! (`security_groups.rs`).

use std::net::Ipv4Addr;

use berth_model::AccountRegion;
use berth_model::network::Ipv4Network;
use berth_store::{Compare, KeyRange, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::Ecs;
use crate::cas::{Attempt, retry_cas};
use crate::ec2_error::{Ec2Code, Ec2Error};
use crate::ids::new_id;
use crate::keys;
use crate::records::{self, SecurityGroupRecord};

/// The size AWS gives default subnets.
pub(crate) const SUBNET_PREFIX: u8 = 20;

/// How the VPC is set up.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The default VPC's CIDR block.
    pub vpc_cidr: Ipv4Network,
    /// Refuse subnets and security groups berth has not seen.
    pub strict: bool,
}

impl Default for NetworkConfig {
    /// AWS's own default-VPC block, 172.31.0.0/16: outside the ranges home and office LANs
    /// use (192.168/16, 10/8's low blocks) and Docker's first networks (172.17–172.20).
    fn default() -> Self {
        Self {
            vpc_cidr: Ipv4Network {
                network: Ipv4Addr::new(172, 31, 0, 0),
                prefix_len: 16,
            },
            strict: false,
        }
    }
}

/// A VPC, as EC2's `Vpc` names its fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VpcRecord {
    pub vpc_id: String,
    pub cidr_block: String,
    pub is_default: bool,
    /// The group made with the VPC, named `default`: what tasks naming no group get.
    pub default_group_id: String,
}

/// A subnet, as EC2's `Subnet` names its fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetRecord {
    pub subnet_id: String,
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    pub default_for_az: bool,
    /// Default subnets give instances public addresses, as in AWS (tasks follow
    /// `assignPublicIp` alone).
    #[serde(default)]
    pub map_public_ip_on_launch: bool,
}

impl SubnetRecord {
    /// Its block.
    pub fn network(&self) -> Result<Ipv4Network, Ec2Error> {
        Ipv4Network::parse(&self.cidr_block)
            .map_err(|m| Ec2Error::client(Ec2Code::InvalidParameterValue, m))
    }
}

impl Ecs {
    /// Subnet `id`, made in the default VPC if it is new (and the network is not strict).
    pub(crate) async fn subnet(
        &self,
        scope: &AccountRegion,
        id: &str,
    ) -> Result<SubnetRecord, Ec2Error> {
        retry_cas(
            || async {
                if let Some(found) = self.read::<SubnetRecord>(&keys::subnet(scope, id)).await? {
                    return Ok(Attempt::Done(found));
                }
                if self.network.strict {
                    return Err(Ec2Error::client(
                        Ec2Code::SubnetNotFound,
                        format!("The subnet ID '{id}' does not exist"),
                    ));
                }
                let vpc = self.default_vpc(scope).await?;
                let vpc_network = Ipv4Network::parse(&vpc.cidr_block)
                    .map_err(|m| Ec2Error::client(Ec2Code::InvalidParameterValue, m))?;
                let taken = self.subnet_blocks(scope).await?;
                let block = free_block(vpc_network, &taken).ok_or_else(|| {
                    Ec2Error::client(
                        Ec2Code::SubnetRange,
                        format!(
                            "The default VPC {} ({}) has no room left for subnet {id}",
                            vpc.vpc_id, vpc.cidr_block
                        ),
                    )
                })?;
                let subnet = SubnetRecord {
                    subnet_id: id.to_owned(),
                    vpc_id: vpc.vpc_id.clone(),
                    cidr_block: block.to_string(),
                    availability_zone: format!("{}a", scope.region),
                    default_for_az: false,
                    map_public_ip_on_launch: false,
                };
                // Blocks are claimed by key too, so two new subnets never share one.
                let block_key = keys::subnet_block(scope, &subnet.cidr_block);
                let key = keys::subnet(scope, id);
                let txn = Txn {
                    compares: vec![
                        Compare::absent(key.as_str()),
                        Compare::absent(block_key.as_str()),
                    ],
                    success: vec![
                        Op::put(key.as_str(), records::encode(&subnet)),
                        Op::put(block_key.as_str(), id.as_bytes().to_vec()),
                    ],
                    failure: vec![],
                };
                if !self.store.txn(txn).await?.succeeded {
                    return Ok(Attempt::Lost);
                }
                tracing::info!(subnet = %id, cidr = %subnet.cidr_block, vpc = %vpc.vpc_id, "made a subnet on first use");
                Ok(Attempt::Done(subnet))
            },
            Ec2Error::Contended,
        )
        .await
    }

    /// The default VPC, made with its default subnet and group when first asked for.
    pub(crate) async fn default_vpc(&self, scope: &AccountRegion) -> Result<VpcRecord, Ec2Error> {
        retry_cas(
            || async {
                if let Some(id) = self.read_raw(&keys::default_vpc(scope)).await? {
                    return match self.read::<VpcRecord>(&keys::vpc(scope, &id)).await? {
                        Some(vpc) => Ok(Attempt::Done(vpc)),
                        None => Err(Ec2Error::client(
                            Ec2Code::VpcNotFound,
                            format!("the default VPC {id} is missing"),
                        )),
                    };
                }
                let group = SecurityGroupRecord::default_group(&new_id("sg")?, &new_id("vpc")?)?;
                let vpc = VpcRecord {
                    vpc_id: group.vpc_id.clone(),
                    cidr_block: self.network.vpc_cidr.to_string(),
                    is_default: true,
                    default_group_id: group.group_id.clone(),
                };
                let block = Ipv4Network {
                    network: self.network.vpc_cidr.network,
                    prefix_len: SUBNET_PREFIX.max(self.network.vpc_cidr.prefix_len),
                };
                let subnet = SubnetRecord {
                    subnet_id: new_id("subnet")?,
                    vpc_id: vpc.vpc_id.clone(),
                    cidr_block: block.to_string(),
                    availability_zone: format!("{}a", scope.region),
                    default_for_az: true,
                    map_public_ip_on_launch: true,
                };
                let marker = keys::default_vpc(scope);
                let mut success = vec![
                    Op::put(marker.as_str(), vpc.vpc_id.as_bytes().to_vec()),
                    Op::put(
                        keys::subnet(scope, &subnet.subnet_id),
                        records::encode(&subnet),
                    ),
                    Op::put(
                        keys::subnet_block(scope, &subnet.cidr_block),
                        subnet.subnet_id.as_bytes().to_vec(),
                    ),
                ];
                success.extend(vpc_puts(scope, &vpc, &group));
                let txn = Txn {
                    compares: vec![Compare::absent(marker.as_str())],
                    success,
                    failure: vec![],
                };
                if !self.store.txn(txn).await?.succeeded {
                    return Ok(Attempt::Lost);
                }
                tracing::info!(vpc = %vpc.vpc_id, cidr = %vpc.cidr_block, subnet = %subnet.subnet_id, "made the default VPC");
                Ok(Attempt::Done(vpc))
            },
            Ec2Error::Contended,
        )
        .await
    }

    /// The blocks of every subnet in the scope.
    pub(crate) async fn subnet_blocks(
        &self,
        scope: &AccountRegion,
    ) -> Result<Vec<Ipv4Network>, Ec2Error> {
        let found = self
            .store
            .range(KeyRange::prefix(keys::subnet_blocks(scope)), None)
            .await?;
        Ok(found
            .kvs
            .iter()
            .filter_map(|kv| {
                let block = keys::block_of(&String::from_utf8_lossy(&kv.key))?;
                Ipv4Network::parse(&block).ok()
            })
            .collect())
    }

    /// Up to `count` addresses of `subnet` no task holds, lowest first.
    pub(crate) async fn free_addresses(
        &self,
        subnet: &SubnetRecord,
        count: usize,
    ) -> Result<Vec<Ipv4Addr>, Ec2Error> {
        let network = subnet.network()?;
        let taken = self.claimed_addresses().await?;
        let free: Vec<Ipv4Addr> = network
            .assignable()
            .filter(|a| !taken.contains_key(a))
            .take(count)
            .collect();
        if free.len() < count {
            return Err(Ec2Error::client(
                Ec2Code::InvalidParameterValue,
                format!(
                    "There are not enough free addresses in subnet {} ({}) for {count} more tasks",
                    subnet.subnet_id, subnet.cidr_block
                ),
            ));
        }
        Ok(free)
    }

    /// Every claimed address and the key of the task holding it.
    pub(crate) async fn claimed_addresses(
        &self,
    ) -> Result<std::collections::BTreeMap<Ipv4Addr, String>, Ec2Error> {
        let found = self
            .store
            .range(KeyRange::prefix(keys::ADDRESSES), None)
            .await?;
        Ok(found
            .kvs
            .iter()
            .filter_map(|kv| {
                let address = keys::address_of(&String::from_utf8_lossy(&kv.key))?;
                Some((address, String::from_utf8_lossy(&kv.value).into_owned()))
            })
            .collect())
    }

    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, Ec2Error> {
        let found = self.store.range(KeyRange::key(key), None).await?;
        match found.kvs.first() {
            Some(kv) => Ok(Some(records::decode(kv)?)),
            None => Ok(None),
        }
    }

    /// EC2's Describe* listing: every record under `prefix`, or — given `ids` — exactly the
    /// record at `key(id)` for each, in order, failing with `missing(id)` for one that is not
    /// there.
    pub(crate) async fn all_or_named<T: serde::de::DeserializeOwned>(
        &self,
        prefix: String,
        ids: &[String],
        key: impl Fn(&str) -> String,
        missing: impl Fn(&str) -> Ec2Error,
    ) -> Result<Vec<T>, Ec2Error> {
        if ids.is_empty() {
            let found = self.store.range(KeyRange::prefix(prefix), None).await?;
            return Ok(found
                .kvs
                .iter()
                .map(records::decode)
                .collect::<Result<_, _>>()?);
        }
        let mut named = Vec::with_capacity(ids.len());
        for id in ids {
            named.push(self.read(&key(id)).await?.ok_or_else(|| missing(id))?);
        }
        Ok(named)
    }

    pub(crate) async fn read_raw(&self, key: &str) -> Result<Option<String>, Ec2Error> {
        let found = self.store.range(KeyRange::key(key), None).await?;
        Ok(found
            .kvs
            .first()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
    }
}

/// The writes that store a new VPC with its default group.
pub(crate) fn vpc_puts(
    scope: &AccountRegion,
    vpc: &VpcRecord,
    group: &SecurityGroupRecord,
) -> Vec<Op> {
    vec![
        Op::put(keys::vpc(scope, &vpc.vpc_id), records::encode(vpc)),
        Op::put(
            keys::security_group(scope, &group.group_id),
            records::encode(group),
        ),
        Op::put(
            keys::group_name(scope, &vpc.vpc_id, &group.group_name),
            group.group_id.as_bytes().to_vec(),
        ),
    ]
}

/// The lowest /20 (or the VPC itself, if smaller) of `vpc` that overlaps none of `taken`.
pub(crate) fn free_block(vpc: Ipv4Network, taken: &[Ipv4Network]) -> Option<Ipv4Network> {
    let prefix_len = SUBNET_PREFIX.max(vpc.prefix_len);
    let step = 1u32 << (32 - u32::from(prefix_len));
    (0..vpc.size() / step)
        .map(|n| Ipv4Network {
            network: vpc.nth(n * step),
            prefix_len,
        })
        .find(|block| !taken.iter().any(|t| t.overlaps(block)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_subnets_take_the_lowest_free_block() {
        let vpc = Ipv4Network::parse("172.31.0.0/16").unwrap();
        let first = free_block(vpc, &[]).unwrap();
        assert_eq!(first.to_string(), "172.31.0.0/20");
        let second = free_block(vpc, &[first]).unwrap();
        assert_eq!(second.to_string(), "172.31.16.0/20");
        let all: Vec<Ipv4Network> = (0..16)
            .map(|n| Ipv4Network {
                network: vpc.nth(n * 4096),
                prefix_len: 20,
            })
            .collect();
        assert_eq!(free_block(vpc, &all), None);
    }
}
