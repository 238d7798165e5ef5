//! The VPC that tasks' network interfaces live in: berth's default VPC and its subnets, made
//! when first needed, and the private addresses handed out from them — each claimed by its
//! own store key in the transaction that places the task, so no address is handed out twice
//! (not even across a crash), and freed in the one that records the task STOPPED.
//!
//! A subnet berth has never seen is made on first use in the default VPC (the next free /20),
//! so that the Fargate guide's commands work as written — unless the network is strict, when
//! it is an `InvalidParameterException`, as in AWS.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use berth_model::AccountRegion;
use berth_model::network::Ipv4Network;
use berth_store::{Compare, KeyRange, Op, Txn};
use serde::{Deserialize, Serialize};

use crate::tasks::{TaskError, random_hex};
use crate::{Ecs, keys, records};

/// The size AWS gives default subnets.
const SUBNET_PREFIX: u8 = 20;
const CAS_ATTEMPTS: usize = 16;

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
}

impl SubnetRecord {
    /// Its block.
    pub fn network(&self) -> Result<Ipv4Network, TaskError> {
        Ipv4Network::parse(&self.cidr_block).map_err(TaskError::Invalid)
    }
}

impl Ecs {
    /// Subnet `id`, made in the default VPC if it is new (and the network is not strict).
    pub(crate) async fn subnet(
        &self,
        scope: &AccountRegion,
        id: &str,
    ) -> Result<SubnetRecord, TaskError> {
        for _ in 0..CAS_ATTEMPTS {
            if let Some(found) = self.read::<SubnetRecord>(&keys::subnet(scope, id)).await? {
                return Ok(found);
            }
            if self.network.strict {
                return Err(TaskError::Invalid(format!(
                    "The subnet ID '{id}' does not exist"
                )));
            }
            let vpc = self.default_vpc(scope).await?;
            let vpc_network = Ipv4Network::parse(&vpc.cidr_block).map_err(TaskError::Invalid)?;
            let taken = self.subnet_blocks(scope).await?;
            let block = free_block(vpc_network, &taken).ok_or_else(|| {
                TaskError::Invalid(format!(
                    "The default VPC {} ({}) has no room left for subnet {id}",
                    vpc.vpc_id, vpc.cidr_block
                ))
            })?;
            let subnet = SubnetRecord {
                subnet_id: id.to_owned(),
                vpc_id: vpc.vpc_id.clone(),
                cidr_block: block.to_string(),
                availability_zone: format!("{}a", scope.region),
                default_for_az: false,
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
            if self.store.txn(txn).await?.succeeded {
                tracing::info!(subnet = %id, cidr = %subnet.cidr_block, vpc = %vpc.vpc_id, "made a subnet on first use");
                return Ok(subnet);
            }
        }
        Err(TaskError::Contended)
    }

    /// The default VPC, made with its default subnet when first asked for.
    pub(crate) async fn default_vpc(&self, scope: &AccountRegion) -> Result<VpcRecord, TaskError> {
        for _ in 0..CAS_ATTEMPTS {
            if let Some(id) = self.read_raw(&keys::default_vpc(scope)).await? {
                if let Some(vpc) = self.read::<VpcRecord>(&keys::vpc(scope, &id)).await? {
                    return Ok(vpc);
                }
                return Err(TaskError::Invalid(format!(
                    "the default VPC {id} is missing"
                )));
            }
            let vpc = VpcRecord {
                vpc_id: format!("vpc-{}", &random_hex(9)?[..17]),
                cidr_block: self.network.vpc_cidr.to_string(),
                is_default: true,
            };
            let block = Ipv4Network {
                network: self.network.vpc_cidr.network,
                prefix_len: SUBNET_PREFIX.max(self.network.vpc_cidr.prefix_len),
            };
            let subnet = SubnetRecord {
                subnet_id: format!("subnet-{}", &random_hex(9)?[..17]),
                vpc_id: vpc.vpc_id.clone(),
                cidr_block: block.to_string(),
                availability_zone: format!("{}a", scope.region),
                default_for_az: true,
            };
            let marker = keys::default_vpc(scope);
            let txn = Txn {
                compares: vec![Compare::absent(marker.as_str())],
                success: vec![
                    Op::put(marker.as_str(), vpc.vpc_id.as_bytes().to_vec()),
                    Op::put(keys::vpc(scope, &vpc.vpc_id), records::encode(&vpc)),
                    Op::put(
                        keys::subnet(scope, &subnet.subnet_id),
                        records::encode(&subnet),
                    ),
                    Op::put(
                        keys::subnet_block(scope, &subnet.cidr_block),
                        subnet.subnet_id.as_bytes().to_vec(),
                    ),
                ],
                failure: vec![],
            };
            if self.store.txn(txn).await?.succeeded {
                tracing::info!(vpc = %vpc.vpc_id, cidr = %vpc.cidr_block, subnet = %subnet.subnet_id, "made the default VPC");
                return Ok(vpc);
            }
        }
        Err(TaskError::Contended)
    }

    /// The blocks of every subnet in the scope.
    async fn subnet_blocks(&self, scope: &AccountRegion) -> Result<Vec<Ipv4Network>, TaskError> {
        let found = self
            .store
            .range(KeyRange::prefix(keys::subnet_blocks(scope)), None)
            .await?;
        Ok(found
            .kvs
            .iter()
            .filter_map(|kv| {
                let key = String::from_utf8_lossy(&kv.key);
                let block = key.rsplit_once("/blocks/")?.1.replace('_', "/");
                Ipv4Network::parse(&block).ok()
            })
            .collect())
    }

    /// Up to `count` addresses of `subnet` no task holds, lowest first.
    pub(crate) async fn free_addresses(
        &self,
        scope: &AccountRegion,
        subnet: &SubnetRecord,
        count: usize,
    ) -> Result<Vec<Ipv4Addr>, TaskError> {
        let network = subnet.network()?;
        let found = self
            .store
            .range(
                KeyRange::prefix(keys::subnet_addresses(scope, &subnet.subnet_id)),
                None,
            )
            .await?;
        let taken: HashSet<Ipv4Addr> = found
            .kvs
            .iter()
            .filter_map(|kv| {
                String::from_utf8_lossy(&kv.key)
                    .rsplit('/')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        let free: Vec<Ipv4Addr> = network
            .assignable()
            .filter(|a| !taken.contains(a))
            .take(count)
            .collect();
        if free.len() < count {
            return Err(TaskError::Invalid(format!(
                "There are not enough free addresses in subnet {} ({}) for {count} more tasks",
                subnet.subnet_id, subnet.cidr_block
            )));
        }
        Ok(free)
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, TaskError> {
        let found = self.store.range(KeyRange::key(key), None).await?;
        match found.kvs.first() {
            Some(kv) => Ok(Some(records::decode(kv)?)),
            None => Ok(None),
        }
    }

    async fn read_raw(&self, key: &str) -> Result<Option<String>, TaskError> {
        let found = self.store.range(KeyRange::key(key), None).await?;
        Ok(found
            .kvs
            .first()
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
    }
}

/// The lowest /20 (or the VPC itself, if smaller) of `vpc` that overlaps none of `taken`.
fn free_block(vpc: Ipv4Network, taken: &[Ipv4Network]) -> Option<Ipv4Network> {
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
