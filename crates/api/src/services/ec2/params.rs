//! EC2's own structures in a Query request: `Filter.N.Name`/`Filter.N.Value.M`, the
//! permissions of Authorize/Revoke (nested `IpPermissions.N.*` or the one-rule shorthand) and
//! the group an action names.

use berth_control::{Filter, GroupRef, IpPermission};

use crate::protocol::query::{Params, QueryError};

/// EC2's accessors over a request's parameters.
pub trait Ec2Params {
    /// `Filter.N.Name` / `Filter.N.Value.M`.
    fn filters(&self) -> Vec<Filter>;
    /// The permissions of an Authorize/Revoke request.
    fn permissions(&self) -> Result<Vec<IpPermission>, QueryError>;
    /// The group an operation acts on: `GroupId`, or `GroupName` in the default VPC.
    fn group(&self) -> Result<GroupRef, QueryError>;
}

impl Ec2Params for Params {
    /// `Filter.N.Name` / `Filter.N.Value.M`.
    fn filters(&self) -> Vec<Filter> {
        self.indexes("Filter")
            .into_iter()
            .map(|n| Filter {
                name: self
                    .get(&format!("Filter.{n}.Name"))
                    .unwrap_or_default()
                    .to_owned(),
                values: self.list(&format!("Filter.{n}.Value")),
            })
            .collect()
    }

    /// The permissions of an Authorize/Revoke request: `IpPermissions.N.*`, or the
    /// one-rule shorthand (`IpProtocol`, `FromPort`, `ToPort`, `CidrIp`,
    /// `SourceSecurityGroupName`).
    fn permissions(&self) -> Result<Vec<IpPermission>, QueryError> {
        let mut permissions = Vec::new();
        for n in self.indexes("IpPermissions") {
            let at = format!("IpPermissions.{n}");
            let mut permission = IpPermission {
                ip_protocol: self.get(&format!("{at}.IpProtocol")).map(str::to_owned),
                from_port: self.integer(&format!("{at}.FromPort"))?,
                to_port: self.integer(&format!("{at}.ToPort"))?,
                ..IpPermission::default()
            };
            for m in self.indexes(&format!("{at}.IpRanges")) {
                let range = format!("{at}.IpRanges.{m}");
                if let Some(cidr) = self.get(&format!("{range}.CidrIp")) {
                    let description = self.get(&format!("{range}.Description"));
                    permission
                        .ip_ranges
                        .push((cidr.to_owned(), description.map(str::to_owned)));
                }
            }
            for m in self.indexes(&format!("{at}.Groups")) {
                let pair = format!("{at}.Groups.{m}");
                let description = self.get(&format!("{pair}.Description")).map(str::to_owned);
                let group = match (
                    self.get(&format!("{pair}.GroupId")),
                    self.get(&format!("{pair}.GroupName")),
                ) {
                    (Some(id), _) => GroupRef::Id(id.to_owned()),
                    (None, Some(name)) => GroupRef::Name(name.to_owned()),
                    (None, None) => {
                        return Err(QueryError::missing(&format!("{pair}.GroupId")));
                    }
                };
                permission.groups.push((group, description));
            }
            permissions.push(permission);
        }
        let shorthand = ["IpProtocol", "CidrIp", "SourceSecurityGroupName"]
            .iter()
            .any(|name| self.get(name).is_some());
        if shorthand {
            let mut permission = IpPermission {
                ip_protocol: Some(self.get("IpProtocol").unwrap_or("-1").to_owned()),
                from_port: self.integer("FromPort")?,
                to_port: self.integer("ToPort")?,
                ..IpPermission::default()
            };
            if let Some(cidr) = self.get("CidrIp") {
                permission.ip_ranges.push((cidr.to_owned(), None));
            }
            if let Some(name) = self.get("SourceSecurityGroupName") {
                permission
                    .groups
                    .push((GroupRef::Name(name.to_owned()), None));
            }
            permissions.push(permission);
        }
        Ok(permissions)
    }

    /// The group an operation acts on: `GroupId`, or `GroupName` in the default VPC.
    fn group(&self) -> Result<GroupRef, QueryError> {
        match (self.get("GroupId"), self.get("GroupName")) {
            (Some(id), _) => Ok(GroupRef::Id(id.to_owned())),
            (None, Some(name)) => Ok(GroupRef::Name(name.to_owned())),
            (None, None) => Err(QueryError::missing("GroupId")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_come_nested_or_as_the_shorthand() {
        let params = Params::parse(
            b"GroupId=sg-1&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80\
              &IpPermissions.1.ToPort=81&IpPermissions.1.IpRanges.1.CidrIp=10.0.0.0%2F8\
              &IpPermissions.1.Groups.1.GroupId=sg-2&IpPermissions.1.Groups.1.Description=peers",
        );
        let permissions = params.permissions().unwrap();
        assert_eq!(permissions.len(), 1);
        let p = &permissions[0];
        assert_eq!(p.ip_protocol.as_deref(), Some("tcp"));
        assert_eq!((p.from_port, p.to_port), (Some(80), Some(81)));
        assert_eq!(p.ip_ranges, [("10.0.0.0/8".to_owned(), None)]);
        assert_eq!(
            p.groups,
            [(GroupRef::Id("sg-2".into()), Some("peers".to_owned()))]
        );
        assert_eq!(params.group().unwrap(), GroupRef::Id("sg-1".into()));

        let shorthand =
            Params::parse(b"GroupName=web&IpProtocol=udp&FromPort=53&ToPort=53&CidrIp=0.0.0.0/0");
        let permissions = shorthand.permissions().unwrap();
        assert_eq!(permissions[0].ip_protocol.as_deref(), Some("udp"));
        assert_eq!(shorthand.group().unwrap(), GroupRef::Name("web".into()));
        assert!(
            Params::parse(b"FromPort=x&IpProtocol=tcp")
                .permissions()
                .is_err()
        );
    }
}
