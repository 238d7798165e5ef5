//! Users and their inline policies.

use berth_control::iam::{Iam, Principal, UserRecord};

use super::{date, max_items};
use crate::auth::Caller;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;

fn user_xml(xml: &mut Xml, user: &UserRecord) {
    xml.text("Path", &user.path)
        .text("UserName", &user.user_name)
        .text("UserId", &user.user_id)
        .text("Arn", &user.arn)
        .text("CreateDate", &date(user.create_date));
}

pub async fn create(
    iam: &Iam,
    account: &str,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let user = iam
        .create_user(account, params.required("UserName")?, params.get("Path"))
        .await?;
    out.element("User", |xml| user_xml(xml, &user));
    Ok(())
}

/// GetUser: the named user, else the caller (root answers as itself, as IAM does).
pub async fn get(
    iam: &Iam,
    caller: &Caller,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let account = caller.scope.account_id.as_str();
    let named = params.get("UserName").filter(|n| !n.is_empty());
    let own = caller.identity.as_deref();
    let user = match (named, own.map(|i| &i.principal)) {
        (Some(name), _) => iam.user(account, name).await?,
        (None, Some(Principal::User(name))) => iam.user(account, name).await?,
        (None, _) => {
            out.element("User", |xml| {
                xml.text("UserId", account)
                    .text("Arn", &format!("arn:aws:iam::{account}:root"))
                    .text("CreateDate", &date(berth_model::Timestamp::from_millis(0)));
            });
            return Ok(());
        }
    };
    out.element("User", |xml| user_xml(xml, &user));
    Ok(())
}

pub async fn delete(iam: &Iam, account: &str, params: &Params) -> Result<(), QueryError> {
    iam.delete_user(account, params.required("UserName")?)
        .await?;
    Ok(())
}

pub async fn list(
    iam: &Iam,
    account: &str,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let page = iam
        .list_users(
            account,
            params.get("PathPrefix"),
            params.get("Marker"),
            max_items(params)?,
        )
        .await?;
    out.members("Users", &page.users, user_xml);
    out.boolean("IsTruncated", page.marker.is_some());
    out.optional("Marker", page.marker.as_deref());
    Ok(())
}

pub async fn put_policy(iam: &Iam, account: &str, params: &Params) -> Result<(), QueryError> {
    iam.put_user_policy(
        account,
        params.required("UserName")?,
        params.required("PolicyName")?,
        params.required("PolicyDocument")?,
    )
    .await?;
    Ok(())
}

/// GetUserPolicy: the document URL-encoded, as IAM returns policy documents (botocore decodes
/// them back).
pub async fn get_policy(
    iam: &Iam,
    account: &str,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let user = params.required("UserName")?;
    let policy = params.required("PolicyName")?;
    let document = iam.user_policy(account, user, policy).await?;
    let encoded: String = form_urlencoded::byte_serialize(document.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    out.text("UserName", user)
        .text("PolicyName", policy)
        .text("PolicyDocument", &encoded);
    Ok(())
}

pub async fn delete_policy(iam: &Iam, account: &str, params: &Params) -> Result<(), QueryError> {
    iam.delete_user_policy(
        account,
        params.required("UserName")?,
        params.required("PolicyName")?,
    )
    .await?;
    Ok(())
}

pub async fn list_policies(
    iam: &Iam,
    account: &str,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let names = iam
        .list_user_policies(account, params.required("UserName")?)
        .await?;
    out.members("PolicyNames", &names, |xml, name| {
        xml.value(name);
    });
    out.boolean("IsTruncated", false);
    Ok(())
}
