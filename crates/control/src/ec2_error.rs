//! What can go wrong in the EC2 operations berth serves (VPCs, subnets, security groups,
//! network interfaces). EC2 names its client errors by dotted codes
//! (`InvalidGroup.NotFound`); `Ec2Code` lists the ones berth answers with, and the API layer
//! turns each into its code string.

use berth_store::StoreError;

use crate::ids::RandomError;
use crate::records::CorruptRecord;

/// An EC2 client error's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Code {
    /// A parameter's value is wrong.
    InvalidParameterValue,
    /// Parameters that cannot go together.
    InvalidParameterCombination,
    /// A required parameter is missing.
    MissingParameter,
    /// No such VPC.
    VpcNotFound,
    /// No such subnet.
    SubnetNotFound,
    /// No such security group.
    GroupNotFound,
    /// The group name is taken in that VPC.
    GroupDuplicate,
    /// The group name is reserved (`default`).
    GroupReserved,
    /// The rule is already there.
    PermissionDuplicate,
    /// None of the rules to revoke is there.
    PermissionNotFound,
    /// No such security group rule id.
    RuleIdNotFound,
    /// No such network interface.
    NetworkInterfaceNotFound,
    /// A subnet's block overlaps another's.
    SubnetConflict,
    /// A subnet's block is not inside its VPC or has a bad size.
    SubnetRange,
    /// A VPC's block has a bad size.
    VpcRange,
    /// Something still uses the resource.
    DependencyViolation,
    /// The resource may not be deleted (the default group).
    CannotDelete,
}

/// Why an EC2 operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// The caller's request cannot be served; the message says why.
    #[error("{message}")]
    Client {
        /// Which EC2 error.
        code: Ec2Code,
        /// What to tell the caller.
        message: String,
    },
    /// The record kept changing under concurrent updates.
    #[error("The resource is being updated by other requests; try again.")]
    Contended,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record is unreadable.
    #[error(transparent)]
    Corrupt(#[from] CorruptRecord),
    /// The system could not provide randomness for ids.
    #[error("cannot generate a resource id")]
    Random(#[from] RandomError),
}

impl Ec2Error {
    /// A client error.
    pub fn client(code: Ec2Code, message: impl Into<String>) -> Self {
        Self::Client {
            code,
            message: message.into(),
        }
    }
}
