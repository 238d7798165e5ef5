//! DescribeNetworkInterfaces: the interfaces of running tasks, as Fargate's ENIs look
//! (requester-managed, described by their ECS attachment).

use berth_control::{Ecs, NetworkInterfaceView};
use berth_model::AccountRegion;

use super::params::Ec2Params;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;

pub async fn describe(
    ecs: &Ecs,
    scope: &AccountRegion,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let interfaces = ecs
        .describe_network_interfaces(scope, &params.list("NetworkInterfaceId"), &params.filters())
        .await?;
    out.set("networkInterfaceSet", &interfaces, |xml, view| {
        interface_xml(xml, scope, view)
    });
    Ok(())
}

fn interface_xml(xml: &mut Xml, scope: &AccountRegion, view: &NetworkInterfaceView) {
    let interface = &view.interface;
    let address = interface.address.to_string();
    xml.text("networkInterfaceId", &interface.network_interface_id)
        .text("subnetId", &interface.subnet_id)
        .text("vpcId", &view.vpc_id)
        .text("availabilityZone", &view.availability_zone)
        .text("description", &view.attachment_arn)
        .text("ownerId", &scope.account_id)
        .text("requesterId", "berth")
        .boolean("requesterManaged", true)
        .text("status", "in-use")
        .text("macAddress", &interface.mac_address)
        .text("privateIpAddress", &address)
        .text("privateDnsName", &interface.private_dns_name)
        .boolean("sourceDestCheck", true)
        .text("interfaceType", "interface")
        .set("groupSet", &view.groups, |xml, (id, name)| {
            xml.text("groupId", id).text("groupName", name);
        })
        .set("privateIpAddressesSet", [&address], |xml, address| {
            xml.text("privateIpAddress", address)
                .text("privateDnsName", &interface.private_dns_name)
                .boolean("primary", true);
        });
}
