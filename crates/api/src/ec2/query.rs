//! EC2's Query protocol, reading side: a form-encoded body (`Action=DescribeVpcs&
//! Version=2016-11-15&VpcId.1=vpc-1&Filter.1.Name=...&Filter.1.Value.1=...`) as a map from
//! parameter name to value, with the accessors EC2's flattened lists and structures need.

use std::collections::BTreeMap;

use berth_control::{Filter, GroupRef, IpPermission};

use super::Ec2Failure;

/// A request's parameters.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Decodes a form body; a parameter given twice keeps its last value.
    pub fn parse(body: &[u8]) -> Self {
        Self {
            values: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    /// One value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required value.
    pub fn required(&self, name: &str) -> Result<&str, Ec2Failure> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Ec2Failure::missing(name))
    }

    /// An integer value.
    pub fn integer(&self, name: &str) -> Result<Option<i32>, Ec2Failure> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    Ec2Failure::invalid(format!("Invalid value '{v}' for {name}: not an integer"))
                })
            })
            .transpose()
    }

    /// A flattened list: `NAME.1`, `NAME.2`, ... in index order.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.indexes(name)
            .into_iter()
            .filter_map(|n| self.get(&format!("{name}.{n}")).map(str::to_owned))
            .collect()
    }

    /// The indexes `N` for which some `NAME.N` or `NAME.N.*` is present, ascending.
    fn indexes(&self, name: &str) -> Vec<u32> {
        let prefix = format!("{name}.");
        let mut found: Vec<u32> = self
            .values
            .keys()
            .filter_map(|key| {
                let rest = key.strip_prefix(&prefix)?;
                rest.split('.').next()?.parse().ok()
            })
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// `Filter.N.Name` / `Filter.N.Value.M`.
    pub fn filters(&self) -> Vec<Filter> {
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
    pub fn permissions(&self) -> Result<Vec<IpPermission>, Ec2Failure> {
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
                        return Err(Ec2Failure::missing(&format!("{pair}.GroupId")));
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
    pub fn group(&self) -> Result<GroupRef, Ec2Failure> {
        match (self.get("GroupId"), self.get("GroupName")) {
            (Some(id), _) => Ok(GroupRef::Id(id.to_owned())),
            (None, Some(name)) => Ok(GroupRef::Name(name.to_owned())),
            (None, None) => Err(Ec2Failure::missing("GroupId")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_filters_are_read_in_index_order() {
        let params = Params::parse(
            b"Action=DescribeVpcs&VpcId.2=vpc-b&VpcId.1=vpc-a&VpcId.10=vpc-j\
              &Filter.1.Name=vpc-id&Filter.1.Value.1=x&Filter.1.Value.2=y&Filter.2.Name=state",
        );
        assert_eq!(params.list("VpcId"), ["vpc-a", "vpc-b", "vpc-j"]);
        let filters = params.filters();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0].name, "vpc-id");
        assert_eq!(filters[0].values, ["x", "y"]);
        assert!(filters[1].values.is_empty());
    }

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
