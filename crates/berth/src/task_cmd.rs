//! `berth run`, `ps`, `stop` and `logs`: tasks from the command line, all through the API,
//! as a docker user expects them: `ps` in columns, a unique id prefix for an id, Ctrl-C on a
//! foreground `run` stopping its task, `run --rm` leaving nothing to see.

use std::process::ExitCode;

use anyhow::{Context, bail};
use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::cli::{ListingFlags, RunFlags};
use crate::client::{self, Endpoint, call_ecs, full, send};
use crate::output::{self, Format, Table, errln, outln};

/// Docker's exit code when the container could not be run at all.
const COULD_NOT_RUN: u8 = 125;

pub fn run(flags: RunFlags) -> anyhow::Result<ExitCode> {
    let endpoint = flags.client.endpoint()?;
    client::runtime()?.block_on(run_task(&endpoint, flags))
}

async fn run_task(endpoint: &Endpoint, flags: RunFlags) -> anyhow::Result<ExitCode> {
    // Installed first: from here on a Ctrl-C is berth's to act on, not a kill that would leave
    // a task running unseen. A detached run has nothing to stop, and keeps the default.
    let mut signals = if flags.detach {
        None
    } else {
        Some(Interrupts::install()?)
    };
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
    let start = async {
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
        let definition = registered?["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        // ECS cannot delete a task: a --rm task is marked, and `berth ps` stops listing it
        // once it is done (see `is_removed`).
        let tags = if flags.rm {
            json!([{ "key": REMOVED_TAG, "value": "true" }])
        } else {
            json!([])
        };
        let started = call_ecs(
            endpoint,
            "RunTask",
            json!({
                "cluster": cluster,
                "taskDefinition": definition,
                "launchType": "FARGATE",
                "startedBy": "berth-run",
                "tags": tags,
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
        anyhow::Ok((definition, task))
    };
    let Some(signals) = signals.as_mut() else {
        let (definition, task) = start.await?;
        if flags.rm {
            remove_definition(endpoint, &definition).await?;
        }
        outln!("{task}")?;
        return Ok(ExitCode::SUCCESS);
    };
    // A first signal while the task is being started is acted on once it has been (stopping
    // it then); a second gives up at once.
    let mut stopping: Option<Signal> = None;
    tokio::pin!(start);
    let (definition, task) = loop {
        tokio::select! {
            started = &mut start => break started?,
            signal = signals.next() => match stopping {
                Some(_) => {
                    errln!("berth: {}: gave up starting the task", signal.name());
                    return Ok(signal.exit_code());
                }
                None => stopping = Some(signal),
            },
        }
    };
    let id = task_id(&task).to_owned();
    if let Some(signal) = stopping {
        stop_on_signal(endpoint, &cluster, &task, signal).await?;
    }
    let options = LogOptions {
        container: None,
        follow: true,
        timestamps: false,
    };
    // The task keeps its own copy of its definition: with --rm the ad-hoc definition goes
    // while the task runs, not after.
    // A definition that cannot be removed is worth a warning, not the run: and it is removed
    // even when following the task fails (joined, not raced, with the rest).
    let remove = async {
        if flags.rm
            && let Err(error) = remove_definition(endpoint, &definition).await
        {
            errln!("berth: warning: the task definition {definition} stays: {error:#}");
        }
    };
    // Done when the output has ended and the exit code is known, as `docker run`: the task's
    // clean-up goes on after. If its container never ran, the task's stoppedReason, written
    // once it is STOPPED, says why.
    let watch = async {
        let ((), followed) = tokio::join!(remove, async {
            tokio::try_join!(
                stream_logs(endpoint, &task, options, Some(&cluster)),
                wait(endpoint, Some(&cluster), &task, Until::ContainersStopped)
            )
        });
        let (_, exited) = followed?;
        if exited["containers"][0]["exitCode"].is_i64() {
            return Ok(exited);
        }
        wait(endpoint, Some(&cluster), &task, Until::Stopped).await
    };
    tokio::pin!(watch);
    let outcome = loop {
        tokio::select! {
            outcome = &mut watch => break outcome,
            signal = signals.next() => match stopping {
                // As docker's second Ctrl-C: berth leaves, the task goes on stopping.
                Some(_) => {
                    errln!("berth: {}: left task {id} to stop on its own", signal.name());
                    return Ok(signal.exit_code());
                }
                None => {
                    stopping = Some(signal);
                    stop_on_signal(endpoint, &cluster, &task, signal).await?;
                }
            },
        }
    };
    let stopped = match outcome {
        Ok(stopped) => stopped,
        Err(error) => {
            // Nobody reads the output any more, or it cannot be followed: the task stops, as
            // a process writing to a closed pipe does — a foreground run never leaves its task
            // behind unwatched. (If berth itself is gone, so is the chance to ask.)
            if stopping.is_none() {
                let reason = if output::is_stdout_closed(&error) {
                    "berth run: its output was closed".to_owned()
                } else {
                    format!("berth run: it could not follow the task: {error:#}")
                };
                if let Err(stop_error) = stop_task(endpoint, &cluster, &task, &reason).await {
                    errln!("berth: cannot stop task {id}: {stop_error:#}");
                }
            }
            return Err(error);
        }
    };
    if let Some(code) = stopped["containers"][0]["exitCode"].as_i64() {
        return Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(COULD_NOT_RUN),
        ));
    }
    let reason = never_ran(&stopped, None)
        .unwrap_or_else(|| "the task stopped before its container ran".to_owned());
    errln!("berth: {reason}");
    Ok(stopping.map_or(ExitCode::from(COULD_NOT_RUN), Signal::exit_code))
}

/// Deregisters and deletes an ad-hoc task definition (`berth run --rm`).
async fn remove_definition(endpoint: &Endpoint, definition: &str) -> anyhow::Result<()> {
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
    Ok(())
}

/// The tag `berth run --rm` puts on its task: once the task is to stop, `berth ps` no longer
/// lists it, as `docker ps -a` no longer lists a `docker run --rm` container.
const REMOVED_TAG: &str = "berth:rm";

/// Whether `task` was run with `--rm` and is done — its containers have exited, or it is
/// stopping — so that `berth ps` no longer lists it. (A task's desired status can still be
/// RUNNING while it is torn down after its essential container exited.)
fn is_removed(task: &Value) -> bool {
    let marked = task["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|tag| tag["key"] == REMOVED_TAG && tag["value"] == "true");
    let containers = task["containers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let done = task["desiredStatus"] == "STOPPED"
        || matches!(
            task["lastStatus"].as_str(),
            Some("STOPPING" | "DEPROVISIONING" | "STOPPED")
        )
        || (!containers.is_empty() && containers.iter().all(|c| c["lastStatus"] == "STOPPED"));
    marked && done
}

/// A signal `berth run` passes on to its task (by stopping it).
#[derive(Debug, Clone, Copy)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// What a shell reports for a process this signal ended: 128 + its number.
    fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        })
    }
}

/// SIGINT and SIGTERM, caught from the moment [`Interrupts::install`] returns.
struct Interrupts {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        })
    }

    /// The next signal.
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}

/// Stops `task` because `berth run` got `signal`, saying so on standard error.
async fn stop_on_signal(
    endpoint: &Endpoint,
    cluster: &str,
    task: &str,
    signal: Signal,
) -> anyhow::Result<()> {
    errln!(
        "berth: {}: stopping task {}; Ctrl-C again leaves it to stop on its own",
        signal.name(),
        task_id(task)
    );
    stop_task(
        endpoint,
        cluster,
        task,
        &format!("Stopped by berth run ({})", signal.name()),
    )
    .await
}

async fn stop_task(
    endpoint: &Endpoint,
    cluster: &str,
    task: &str,
    reason: &str,
) -> anyhow::Result<()> {
    call_ecs(
        endpoint,
        "StopTask",
        json!({ "cluster": cluster, "task": task, "reason": reason }),
    )
    .await?;
    Ok(())
}

/// Why `task` never ran the container named `container` (any, if `None`): `None` while it
/// may still, or if it did. The container's own reason (`CannotPullContainerError: ...`)
/// says most, else the task's.
fn never_ran(task: &Value, container: Option<&str>) -> Option<String> {
    let containers: Vec<&Value> = task["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| container.is_none_or(|name| c["name"] == name))
        .collect();
    let stopped = task["lastStatus"] == "STOPPED"
        || (!containers.is_empty() && containers.iter().all(|c| c["lastStatus"] == "STOPPED"));
    if !stopped || containers.iter().any(|c| c["exitCode"].is_i64()) {
        return None;
    }
    let reason = containers
        .iter()
        .find_map(|c| c["reason"].as_str())
        .or(task["stoppedReason"].as_str())
        .unwrap_or("it stopped before its container ran");
    Some(reason.to_owned())
}

/// The ARNs of the tasks in `cluster` (the default one if `None`) whose desired status is
/// one of `statuses`, each once.
async fn task_arns(
    endpoint: &Endpoint,
    cluster: Option<&str>,
    statuses: &[&str],
) -> anyhow::Result<Vec<String>> {
    let mut arns = Vec::new();
    for status in statuses {
        arns.extend(
            client::list_all(
                endpoint,
                "ListTasks",
                json!({ "cluster": cluster, "desiredStatus": status }),
                "taskArns",
            )
            .await?,
        );
    }
    // A task that stopped between two listings is in both.
    arns.sort();
    arns.dedup();
    Ok(arns)
}

/// The id in a task ARN (`arn:...:task/CLUSTER/ID`), or `arn` itself if it is an id.
fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// How many characters of a task id `berth ps` shows, as `docker ps` shows 12 of a
/// container's.
const SHORT_ID: usize = 12;

/// A task id is 32 hex digits (16 random bytes).
fn is_whole_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The task `given` names in `cluster` (the default one if `None`): an ARN or whole id as
/// is, else the one task — running or stopped — whose id starts with it, as a docker
/// container id prefix works. An ambiguous prefix is an error listing the tasks it fits.
async fn resolve_task(
    endpoint: &Endpoint,
    cluster: Option<&str>,
    given: &str,
) -> anyhow::Result<String> {
    if given.starts_with("arn:") {
        return Ok(given.to_owned());
    }
    // Ids are lower-case hex, as the prefixes below are compared.
    if is_whole_id(given) {
        return Ok(given.to_ascii_lowercase());
    }
    if given.is_empty() {
        bail!("an empty task id names no task");
    }
    let prefix = given.to_ascii_lowercase();
    let name = cluster.unwrap_or("default");
    let mut arns = task_arns(endpoint, cluster, &["RUNNING", "STOPPED"]).await?;
    arns.retain(|arn| task_id(arn).starts_with(&prefix));
    match arns.len() {
        0 => bail!("no task in cluster {name} has an id starting with {given}"),
        1 => Ok(arns.remove(0)),
        n => {
            let ids: Vec<&str> = arns.iter().map(|arn| task_id(arn)).collect();
            bail!(
                "{given} is the start of {n} task ids in cluster {name}; give more of the one meant:\n  {}",
                ids.join("\n  ")
            )
        }
    }
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
    cluster: Option<&str>,
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

/// Writes the task's container output to standard output; returns how many bytes it was.
async fn stream_logs(
    endpoint: &Endpoint,
    task: &str,
    options: LogOptions,
    cluster: Option<&str>,
) -> anyhow::Result<u64> {
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
    let mut written = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            output::bytes(&data)?;
            written += data.len() as u64;
        }
    }
    Ok(written)
}

/// The tasks of `cluster` meant to run (and with `all`, stopped ones too, less those `berth
/// run --rm` left), as DescribeTasks answers, newest first.
async fn list_tasks(endpoint: &Endpoint, cluster: &str, all: bool) -> anyhow::Result<Vec<Value>> {
    let statuses: &[&str] = if all {
        &["RUNNING", "STOPPED"]
    } else {
        &["RUNNING"]
    };
    let arns = task_arns(endpoint, Some(cluster), statuses).await?;
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let described = call_ecs(
            endpoint,
            "DescribeTasks",
            json!({ "cluster": cluster, "tasks": chunk, "include": ["TAGS"] }),
        )
        .await?;
        tasks.extend(described["tasks"].as_array().cloned().unwrap_or_default());
    }
    tasks.retain(|task| !is_removed(task));
    let created = |task: &Value| task["createdAt"].as_f64().unwrap_or(0.0);
    tasks.sort_by(|a, b| created(b).total_cmp(&created(a)));
    Ok(tasks)
}

/// One `berth ps` row: id, definition, status, exit code(s), age, stop reason.
fn ps_row(task: &Value) -> Vec<String> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    let id = task_id(task["taskArn"].as_str().unwrap_or_default());
    let definition = task_id(task["taskDefinitionArn"].as_str().unwrap_or_default());
    let containers = task["containers"].as_array().cloned().unwrap_or_default();
    // One code per container, in order, once any is known.
    let exit = if containers.iter().any(|c| c["exitCode"].is_i64()) {
        containers
            .iter()
            .map(|c| {
                c["exitCode"]
                    .as_i64()
                    .map_or("-".to_owned(), |code| code.to_string())
            })
            .collect::<Vec<_>>()
            .join(",")
    } else {
        String::new()
    };
    let created = task["createdAt"]
        .as_f64()
        .map(|seconds| output::ago((seconds * 1000.0) as i64))
        .unwrap_or_default();
    // A reason is one line in a table.
    let reason = text(&task["stoppedReason"]).replace(['\n', '\r'], " ");
    vec![
        id.chars().take(SHORT_ID).collect(),
        definition.to_owned(),
        text(&task["lastStatus"]),
        exit,
        created,
        reason,
    ]
}

pub fn ps(
    endpoint: &anyhow::Result<Endpoint>,
    all: bool,
    cluster: Option<String>,
    listing: &ListingFlags,
) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let named = cluster.is_some();
    let cluster = cluster.unwrap_or_else(|| "default".into());
    let tasks = match client::runtime()?.block_on(list_tasks(endpoint, &cluster, all)) {
        Ok(tasks) => tasks,
        // A fresh server has no default cluster until a task runs in it: no tasks, as
        // `docker ps` lists none — a cluster the user named and that is missing is an error.
        Err(error) if !named && client::is_api_error(&error, "ClusterNotFoundException") => {
            Vec::new()
        }
        Err(error) => return Err(error),
    };
    if listing.output == Format::Json {
        return output::json(&Value::Array(tasks));
    }
    if listing.quiet {
        // Whole ids: a script's id stays unambiguous however many tasks come after.
        for task in &tasks {
            outln!("{}", task_id(task["taskArn"].as_str().unwrap_or_default()))?;
        }
        return Ok(());
    }
    let mut table = Table::new(&[
        "TASK ID",
        "DEFINITION",
        "STATUS",
        "EXIT",
        "CREATED",
        "REASON",
    ]);
    for task in &tasks {
        table.row(ps_row(task));
    }
    table.print()
}

pub fn stop(
    endpoint: &anyhow::Result<Endpoint>,
    task: &str,
    cluster: Option<String>,
) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    client::runtime()?.block_on(async {
        let task = resolve_task(endpoint, cluster.as_deref(), task).await?;
        let stopped = call_ecs(
            endpoint,
            "StopTask",
            json!({ "cluster": cluster, "task": task }),
        )
        .await?;
        outln!(
            "Stopping {}",
            stopped["task"]["taskArn"].as_str().unwrap_or(&task)
        )
    })
}

pub fn logs(
    endpoint: &anyhow::Result<Endpoint>,
    task: &str,
    options: LogOptions,
    cluster: Option<String>,
) -> anyhow::Result<()> {
    let endpoint = endpoint.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let cluster = cluster.as_deref();
    client::runtime()?.block_on(async {
        let task = resolve_task(endpoint, cluster, task).await?;
        let (container, follow) = (options.container.clone(), options.follow);
        if stream_logs(endpoint, &task, options, cluster).await? > 0 {
            return Ok(());
        }
        // No output: perhaps there never was a container to make any.
        let described = if follow {
            // The stream ended, so the container has: its status is on its way.
            wait(endpoint, cluster, &task, Until::ContainersStopped).await?
        } else {
            let answer = call_ecs(
                endpoint,
                "DescribeTasks",
                json!({ "cluster": cluster, "tasks": [task] }),
            )
            .await?;
            answer["tasks"][0].clone()
        };
        match never_ran(&described, container.as_deref()) {
            Some(reason) => bail!("task {} never started: {reason}", task_id(&task)),
            None => Ok(()),
        }
    })
}
