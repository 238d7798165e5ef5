//! `berth account create`: a new account, and its root's access key printed once, in the
//! aws CLI's shared-credentials format under profile `berth-ACCOUNT`.

use crate::cli::AccountCommand;
use crate::client::{self, Endpoint, full, json_response, send};
use crate::output::outln;

pub fn run(command: AccountCommand) -> anyhow::Result<()> {
    let runtime = client::runtime()?;
    match command {
        AccountCommand::Create { account_id, client } => {
            runtime.block_on(create(&client.endpoint()?, account_id.as_deref()))
        }
    }
}

async fn create(endpoint: &Endpoint, account_id: Option<&str>) -> anyhow::Result<()> {
    let body = match account_id {
        Some(id) => serde_json::json!({ "accountId": id }),
        None => serde_json::json!({}),
    };
    let response = send(
        endpoint,
        "POST",
        "/berth/v1/accounts",
        &[("content-type", "application/json".to_owned())],
        full(body.to_string()),
    )
    .await?;
    let made = json_response(endpoint, response).await?;
    let text = |name: &str| made[name].as_str().unwrap_or_default().to_owned();
    let account = text("accountId");
    outln!("# account {account}: its root's access key, shown only now")?;
    outln!("[berth-{account}]")?;
    outln!("aws_access_key_id = {}", text("accessKeyId"))?;
    outln!("aws_secret_access_key = {}", text("secretAccessKey"))?;
    Ok(())
}
