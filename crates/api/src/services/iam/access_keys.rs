//! Access keys.

use berth_control::iam::Iam;

use super::{date, key_owner};
use crate::auth::Caller;
use crate::protocol::query::{Params, QueryError};
use crate::protocol::xml::Xml;

pub async fn create(
    iam: &Iam,
    caller: &Caller,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let owner = key_owner(caller, params);
    let key = iam
        .create_access_key(&caller.scope.account_id, owner)
        .await?;
    out.element("AccessKey", |xml| {
        xml.optional("UserName", key.user_name.as_deref())
            .text("AccessKeyId", &key.access_key_id)
            .text("Status", "Active")
            .text("SecretAccessKey", &key.secret_access_key)
            .text("CreateDate", &date(key.create_date));
    });
    Ok(())
}

pub async fn delete(iam: &Iam, caller: &Caller, params: &Params) -> Result<(), QueryError> {
    let owner = key_owner(caller, params);
    iam.delete_access_key(
        &caller.scope.account_id,
        owner,
        params.required("AccessKeyId")?,
    )
    .await?;
    Ok(())
}

pub async fn list(
    iam: &Iam,
    caller: &Caller,
    params: &Params,
    out: &mut Xml,
) -> Result<(), QueryError> {
    let owner = key_owner(caller, params);
    let keys = iam
        .list_access_keys(&caller.scope.account_id, owner)
        .await?;
    out.members("AccessKeyMetadata", &keys, |xml, key| {
        xml.optional("UserName", key.user_name.as_deref())
            .text("AccessKeyId", &key.access_key_id)
            .text("Status", &key.status)
            .text("CreateDate", &date(key.create_date));
    });
    out.boolean("IsTruncated", false);
    Ok(())
}
