//! `berth run`, `ps`, `stop` and `logs`: tasks from the command line, all through the API.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::cli::RunFlags;
use crate::client::{self, Endpoint, call_ecs, full, send};

/// Docker's exit code when the container could not be run at all.
const COULD_NOT_RUN: u8 = 125;

pub fn run(flags: RunFlags) -> anyhow::Result<ExitCode> {
    let endpoint = flags.client.endpoint()?;
    client::runtime()?.block_on(run_task(&endpoint, flags))
}

async fn run_task(endpoint: &Endpoint, flags: RunFlags) -> anyhow::Result<ExitCode> {
    let cluster = flags.cluster.clone().unwrap_or_else(|| "default".into());
    let memory = flags
        .memory
        .map(|m| m.to_string())
        .unwrap_or_else(|| least_memory(&flags.cpu).into());
    let mut environment = Vec::new();
    for pair in &flags.env {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("-e {pair}: expected KEY=VALUE"))?;
        environment.push(json!({ "name": name, "value": value }));
    }
    let mut container = json!({ "name": "main", "image": flags.image, "essential": true, "environment": environment });
    if !flags.command.is_empty() {
        container["command"] = json!(flags.command);
    }
    let family = ad_hoc_family(&flags.image);
    // Independent calls go together: their writes share the server's commits.
    let (created, registered, subnet) = tokio::join!(
        call_ecs(endpoint, "CreateCluster", json!({ "clusterName": cluster })),
        call_ecs(
            endpoint,
            "RegisterTaskDefinition",
            json!({
                "family": family,
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": flags.cpu,
                "memory": memory,
                "containerDefinitions": [container],
            }),
        ),
        client::default_subnet(endpoint),
    );
    created?;
    let subnet = subnet?;
    let registered = registered?;
    let definition = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let started = call_ecs(
        endpoint,
        "RunTask",
        json!({
            "cluster": cluster,
            "taskDefinition": definition,
            "launchType": "FARGATE",
            "startedBy": "berth-run",
            // As `docker run`: the default network, and a way out.
            "networkConfiguration": {"awsvpcConfiguration": {
                "subnets": [subnet],
                "assignPublicIp": "ENABLED",
            }},
        }),
    )
    .await?;
    let task = started["tasks"][0]["taskArn"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if flags.detach {
        println!("{task}");
        return Ok(ExitCode::SUCCESS);
    }
    let options = LogOptions {
        container: None,
        follow: true,
        timestamps: false,
    };
    // The task keeps its own copy of its definition: with --rm the ad-hoc definition goes
    // while the task runs, not after.
    let remove = async {
        if flags.rm {
            call_ecs(
                endpoint,
                "DeregisterTaskDefinition",
                json!({ "taskDefinition": definition }),
            )
            .await?;
            call_ecs(
                endpoint,
                "DeleteTaskDefinitions",
                json!({ "taskDefinitions": [definition] }),
            )
            .await?;
        }
        anyhow::Ok(())
    };
    // Done when the output has ended and the exit code is known, as `docker run`: the task's
    // clean-up goes on after.
    let follow = async {
        let (streamed, exited) = tokio::join!(
            stream_logs(endpoint, &task, options, Some(&cluster)),
            wait(endpoint, &cluster, &task, Until::ContainersStopped)
        );
        streamed?;
        exited
    };
    let (removed, exited) = tokio::join!(remove, follow);
    removed?;
    let exited = exited?;
    if let Some(code) = exited["containers"][0]["exitCode"].as_i64() {
        return Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(COULD_NOT_RUN),
        ));
    }
    // It never ran: the task's stoppedReason, written once it is STOPPED, says why.
    let stopped = wait(endpoint, &cluster, &task, Until::Stopped).await?;
    eprintln!(
        "berth: {}",
        stopped["stoppedReason"]
            .as_str()
            .unwrap_or("the task stopped before its container ran")
    );
    Ok(ExitCode::from(COULD_NOT_RUN))
}

/// What [`wait`] waits for.
#[derive(Clone, Copy, PartialEq)]
enum Until {
    /// The task is STOPPED: its resources released.
    Stopped,
    /// Its containers have stopped (or the task has).
    ContainersStopped,
}

/// Fargate's smallest memory for a cpu size, so `--cpu` alone is enough.
fn least_memory(cpu: &str) -> &'static str {
    match berth_model::fargate::parse_cpu(cpu).map(|c| c.0) {
        Ok(512) => "1024",
        Ok(1024) => "2048",
        Ok(2048) => "4096",
        Ok(4096) => "8192",
        Ok(8192) => "16384",
        Ok(16384) => "32768",
        _ => "512",
    }
}

/// `berth-run-` and the image name in the family alphabet.
fn ad_hoc_family(image: &str) -> String {
    let cleaned: String = image
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "berth-run-{}",
        cleaned.chars().take(200).collect::<String>()
    )
}

/// The task once `until` holds, through berth's wait API (a long poll: no DescribeTasks loop).
async fn wait(
    endpoint: &Endpoint,
    cluster: &str,
    task: &str,
    until: Until,
) -> anyhow::Result<Value> {
    let containers_stopped = until == Until::ContainersStopped;
    loop {
        let body = json!({
            "task": task,
            "cluster": cluster,
            "status": "STOPPED",
            "containersStopped": containers_stopped,
            "timeoutSeconds": 60,
        });
        let response = send(
            endpoint,
            "POST",
            "/berth/v1/tasks/wait",
            &[("content-type", "application/json".to_owned())],
            full(body.to_string()),
        )
        .await?;
        let answer = client::json_response(endpoint, response).await?;
        let task = &answer["task"];
        let all_stopped = task["containers"].as_array().is_some_and(|containers| {
            !containers.is_empty() && containers.iter().all(|c| c["lastStatus"] == "STOPPED")
        });
        if task["lastStatus"] == "STOPPED" || (containers_stopped && all_stopped) {
            return Ok(task.clone());
        }
    }
}

/// What `berth logs` shows.
pub struct LogOptions {
    /// The container (the only one when `None`).
    pub container: Option<String>,
    /// Keep going until the container exits.
    pub follow: bool,
    /// Start each line with its time.
    pub timestamps: bool,
}

async fn stream_logs(
    endpoint: &Endpoint,
    task: &str,
    options: LogOptions,
    cluster: Option<&str>,
) -> anyhow::Result<()> {
    let body = json!({
        "task": task,
        "container": options.container,
        "follow": options.follow,
        "timestamps": options.timestamps,
        "cluster": cluster,
    })
    .to_string();
    let response = send(
        endpoint,
        "POST",
        "/berth/v1/tasks/logs",
        &[("content-type", "application/json".to_owned())],
        full(body),
    )
    .await?;
    if !response.status().is_success() {
        client::json_response(endpoint, response).await?;
        bail!("berth refused to show the logs");
    }
    let mut body = response.into_body();
    let mut out = std::io::stdout().lock();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            out.write_all(&data)?;
            out.flush()?;
        }
    }
    Ok(())
}

pub fn ps(
    endpoint: &anyhow::Result<Endpoint>,
    all: bool,
    cluster: Option<String>,
) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let cluster = cluster.unwrap_or_else(|| "default".into());
    client::runtime()?.block_on(async {
        let mut arns = Vec::new();
        let statuses: &[&str] = if all {
            &["RUNNING", "STOPPED"]
        } else {
            &["RUNNING"]
        };
        for status in statuses {
            let mut token: Option<String> = None;
            loop {
                let page = call_ecs(
                    endpoint,
                    "ListTasks",
                    json!({ "cluster": cluster, "desiredStatus": status, "nextToken": token }),
                )
                .await?;
                arns.extend(page["taskArns"].as_array().cloned().unwrap_or_default());
                token = page["nextToken"].as_str().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        println!(
            "{:<32}  {:<40}  {:<14}  EXIT",
            "TASK", "DEFINITION", "STATUS"
        );
        for chunk in arns.chunks(100) {
            let described = call_ecs(
                endpoint,
                "DescribeTasks",
                json!({ "cluster": cluster, "tasks": chunk }),
            )
            .await?;
            for task in described["tasks"].as_array().cloned().unwrap_or_default() {
                let id = task["taskArn"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let definition = task["taskDefinitionArn"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let exit = task["containers"][0]["exitCode"]
                    .as_i64()
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                println!(
                    "{id:<32}  {definition:<40}  {:<14}  {exit}",
                    task["lastStatus"].as_str().unwrap_or_default()
                );
            }
        }
        Ok(())
    })
}

pub fn stop(
    endpoint: &anyhow::Result<Endpoint>,
    task: &str,
    cluster: Option<String>,
) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    client::runtime()?.block_on(async {
        let stopped = call_ecs(
            endpoint,
            "StopTask",
            json!({ "cluster": cluster, "task": task }),
        )
        .await?;
        println!(
            "Stopping {}",
            stopped["task"]["taskArn"].as_str().unwrap_or(task)
        );
        Ok(())
    })
}

pub fn logs(
    endpoint: &anyhow::Result<Endpoint>,
    task: &str,
    options: LogOptions,
    cluster: Option<String>,
) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    client::runtime()?.block_on(stream_logs(endpoint, task, options, cluster.as_deref()))
}
