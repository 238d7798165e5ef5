//! CreateSecurityGroup, DescribeSecurityGroups, DeleteSecurityGroup,
//! AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress. Groups keep single rules;
//! described groups show them grouped back into `IpPermission`s, as EC2 does.

use berth_control::{Ecs, SecurityGroupQuery, SecurityGroupRecord};
use berth_model::AccountRegion;
use berth_model::security_groups::{RuleSource, SecurityGroupRule, security_group_arn};

use super::params::Ec2Params;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;

pub async fn create(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let group = ecs
        .create_security_group(
            scope,
            params.required("GroupName")?,
            params.required("GroupDescription")?,
            params.get("VpcId"),
        )
        .await?;
    out.boolean("return", true)
        .text("groupId", &group.group_id)
        .text(
            "securityGroupArn",
            &security_group_arn(&scope.region, &scope.account_id, &group.group_id),
        );
    Ok(())
}

pub async fn describe(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let query = SecurityGroupQuery {
        group_ids: params.list("GroupId"),
        group_names: params.list("GroupName"),
        filters: params.filters(),
    };
    let groups = ecs.describe_security_groups(scope, &query).await?;
    out.set("securityGroupInfo", &groups, |xml, group| {
        group_xml(xml, scope, group)
    });
    Ok(())
}

pub async fn delete(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let id = ecs.delete_security_group(scope, &params.group()?).await?;
    out.boolean("return", true).text("groupId", &id);
    Ok(())
}

pub async fn authorize_ingress(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let group = params.group()?;
    let (group_id, rules) = ecs
        .authorize_ingress(scope, &group, &params.permissions()?)
        .await?;
    out.boolean("return", true)
        .set("securityGroupRuleSet", &rules, |xml, rule| {
            xml.text("securityGroupRuleId", &rule.security_group_rule_id)
                .text("groupId", &group_id)
                .text("groupOwnerId", &scope.account_id)
                .boolean("isEgress", false);
            rule_fields(xml, rule);
            match &rule.source {
                RuleSource::CidrIpv4(cidr) => {
                    xml.text("cidrIpv4", cidr);
                }
                RuleSource::ReferencedGroupId(id) => {
                    xml.element("referencedGroupInfo", |xml| {
                        xml.text("groupId", id).text("userId", &scope.account_id);
                    });
                }
            }
            xml.optional("description", rule.description.as_deref());
        });
    Ok(())
}

pub async fn revoke_ingress(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let outcome = ecs
        .revoke_ingress(
            scope,
            &params.group()?,
            &params.permissions()?,
            &params.list("SecurityGroupRuleId"),
        )
        .await?;
    out.boolean("return", true);
    if !outcome.unknown.is_empty() {
        permissions_xml(out, "unknownIpPermissionSet", &outcome.unknown, scope);
    }
    out.set(
        "revokedSecurityGroupRuleSet",
        &outcome.revoked,
        |xml, rule| {
            xml.text("securityGroupRuleId", &rule.security_group_rule_id)
                .boolean("isEgress", false);
            rule_fields(xml, rule);
            match &rule.source {
                RuleSource::CidrIpv4(cidr) => xml.text("cidrIpv4", cidr),
                RuleSource::ReferencedGroupId(id) => xml.text("referencedGroupId", id),
            };
        },
    );
    Ok(())
}

fn rule_fields(xml: &mut Xml, rule: &SecurityGroupRule) {
    xml.text("ipProtocol", &rule.ip_protocol)
        .optional("fromPort", rule.from_port.map(|p| p.to_string()).as_deref())
        .optional("toPort", rule.to_port.map(|p| p.to_string()).as_deref());
}

fn group_xml(xml: &mut Xml, scope: &AccountRegion, group: &SecurityGroupRecord) {
    xml.text("ownerId", &scope.account_id)
        .text("groupId", &group.group_id)
        .text("groupName", &group.group_name)
        .text("groupDescription", &group.description)
        .text("vpcId", &group.vpc_id)
        .text(
            "securityGroupArn",
            &security_group_arn(&scope.region, &scope.account_id, &group.group_id),
        );
    permissions_xml(xml, "ipPermissions", &group.ingress, scope);
    // Every group allows all egress (berth does not narrow egress by group).
    xml.set("ipPermissionsEgress", [()], |xml, ()| {
        xml.text("ipProtocol", "-1")
            .set("groups", [(); 0], |_, ()| {})
            .set("ipRanges", ["0.0.0.0/0"], |xml, cidr| {
                xml.text("cidrIp", cidr);
            });
    });
}

/// One `IpPermission`: protocol, ports, and the rules sharing them.
type Permission<'a> = (
    &'a str,
    Option<i32>,
    Option<i32>,
    Vec<&'a SecurityGroupRule>,
);

/// Single rules grouped into `IpPermission`s by protocol and ports, in first-seen order.
fn permissions_xml(xml: &mut Xml, name: &str, rules: &[SecurityGroupRule], scope: &AccountRegion) {
    let mut permissions: Vec<Permission> = Vec::new();
    for rule in rules {
        let key = (rule.ip_protocol.as_str(), rule.from_port, rule.to_port);
        match permissions
            .iter_mut()
            .find(|(p, f, t, _)| (*p, *f, *t) == key)
        {
            Some((.., members)) => members.push(rule),
            None => permissions.push((key.0, key.1, key.2, vec![rule])),
        }
    }
    xml.set(name, &permissions, |xml, (protocol, from, to, members)| {
        xml.text("ipProtocol", protocol)
            .optional("fromPort", from.map(|p| p.to_string()).as_deref())
            .optional("toPort", to.map(|p| p.to_string()).as_deref());
        xml.set(
            "groups",
            members.iter().filter_map(|r| match &r.source {
                RuleSource::ReferencedGroupId(id) => Some((id, &r.description)),
                RuleSource::CidrIpv4(_) => None,
            }),
            |xml, (id, description)| {
                xml.text("userId", &scope.account_id)
                    .text("groupId", id)
                    .optional("description", description.as_deref());
            },
        );
        xml.set(
            "ipRanges",
            members.iter().filter_map(|r| match &r.source {
                RuleSource::CidrIpv4(cidr) => Some((cidr, &r.description)),
                RuleSource::ReferencedGroupId(_) => None,
            }),
            |xml, (cidr, description)| {
                xml.text("cidrIp", cidr)
                    .optional("description", description.as_deref());
            },
        );
    });
}
