//! CreateVpc, DescribeVpcs, CreateSubnet, DescribeSubnets, DeleteSubnet.

use berth_control::{Ecs, SubnetView, VpcRecord};
use berth_model::AccountRegion;

use super::params::Ec2Params;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;

pub async fn create_vpc(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let vpc = ecs.create_vpc(scope, params.get("CidrBlock")).await?;
    out.element("vpc", |xml| vpc_xml(xml, scope, &vpc));
    Ok(())
}

pub async fn describe_vpcs(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let vpcs = ecs
        .describe_vpcs(scope, &params.list("VpcId"), &params.filters())
        .await?;
    out.set("vpcSet", &vpcs, |xml, vpc| vpc_xml(xml, scope, vpc));
    Ok(())
}

pub async fn create_subnet(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let subnet = ecs
        .create_subnet(
            scope,
            params.required("VpcId")?,
            params.get("CidrBlock"),
            params.get("AvailabilityZone"),
        )
        .await?;
    let network = subnet.network()?;
    let view = SubnetView {
        available_ip_address_count: network.assignable().count() as u32,
        subnet,
    };
    out.element("subnet", |xml| subnet_xml(xml, scope, &view));
    Ok(())
}

pub async fn describe_subnets(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let subnets = ecs
        .describe_subnets(scope, &params.list("SubnetId"), &params.filters())
        .await?;
    out.set("subnetSet", &subnets, |xml, view| {
        subnet_xml(xml, scope, view)
    });
    Ok(())
}

pub async fn delete_subnet(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    ecs.delete_subnet(scope, params.required("SubnetId")?)
        .await?;
    out.boolean("return", true);
    Ok(())
}

fn vpc_xml(xml: &mut Xml, scope: &AccountRegion, vpc: &VpcRecord) {
    xml.text("vpcId", &vpc.vpc_id)
        .text("ownerId", &scope.account_id)
        .text("state", "available")
        .text("cidrBlock", &vpc.cidr_block)
        .set("cidrBlockAssociationSet", [&vpc.cidr_block], |xml, cidr| {
            xml.text("cidrBlock", cidr)
                .element("cidrBlockState", |xml| {
                    xml.text("state", "associated");
                });
        })
        .text("instanceTenancy", "default")
        .boolean("isDefault", vpc.is_default);
}

fn subnet_xml(xml: &mut Xml, scope: &AccountRegion, view: &SubnetView) {
    let subnet = &view.subnet;
    xml.text("subnetId", &subnet.subnet_id)
        .text(
            "subnetArn",
            &format!(
                "arn:aws:ec2:{}:{}:subnet/{}",
                scope.region, scope.account_id, subnet.subnet_id
            ),
        )
        .text("ownerId", &scope.account_id)
        .text("state", "available")
        .text("vpcId", &subnet.vpc_id)
        .text("cidrBlock", &subnet.cidr_block)
        .text(
            "availableIpAddressCount",
            &view.available_ip_address_count.to_string(),
        )
        .text("availabilityZone", &subnet.availability_zone)
        .boolean("defaultForAz", subnet.default_for_az)
        .boolean("mapPublicIpOnLaunch", subnet.map_public_ip_on_launch);
}
