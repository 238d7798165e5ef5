//! The supervisor protocol from the agent's side (`berth-shim` is the other): handing a task
//! over — its plan written, its socket bound, and both given to a warm supervisor from the pool
//! or to a new `berth shim` as its standard input — then requests (`Go`, `Stop`) sent as JSON
//! lines and the supervisor's states read back as JSON lines on that socket, of whichever
//! protocol version the supervisor speaks (`berth_shim::protocol`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_shim::protocol::StateError;
use berth_shim::{Phase, Request, ShimFiles, TaskPlan};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedReadHalf;

use super::observed::Observed;
use crate::AgentConfig;
use crate::pool::SupervisorPool;

/// How long a supervisor told to give its task back (its containers created from images the
/// registry has replaced) may take to delete them.
const ABORT_WAIT: Duration = Duration::from_secs(30);
/// The longest path a Unix socket address holds.
const MAX_SOCKET_PATH: usize = 107;

/// Why a task could not be handed to a supervisor. Each message carries its cause's text (see
/// `stop_reason`, which adds ECS's words).
#[derive(Debug, thiserror::Error)]
pub enum HandOverError {
    /// The socket's path does not fit a Unix socket address.
    #[error(
        "the socket path {} is too long for a Unix socket: use a shorter data directory",
        .0.display()
    )]
    SocketPathTooLong(PathBuf),
    /// The supervisor's directory, plan, socket or log could not be made.
    #[error("{0}")]
    Files(std::io::Error),
    /// No supervisor could be started.
    #[error("{0}")]
    Spawn(std::io::Error),
}

/// Writes `plan`, binds the supervisor's socket and gives it to a warm supervisor, else starts
/// `berth shim` with it as its standard input; returns the agent's connection, made before the
/// supervisor even runs.
pub async fn hand_over(
    config: &AgentConfig,
    pool: &Arc<SupervisorPool>,
    scratch: &Path,
    plan: &TaskPlan,
) -> Result<UnixStream, HandOverError> {
    use HandOverError::{Files, Spawn};
    let dir = config.supervisor_dir(&plan.task_id);
    let files = ShimFiles::new(&dir);
    if files.socket.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(HandOverError::SocketPathTooLong(files.socket));
    }
    std::fs::create_dir_all(&dir).map_err(Files)?;
    let plan_bytes = serde_json::to_vec(plan).map_err(|error| Files(error.into()))?;
    std::fs::write(&files.plan, plan_bytes).map_err(Files)?;
    let _ = std::fs::remove_file(&files.socket);
    let listener = std::os::unix::net::UnixListener::bind(&files.socket).map_err(Files)?;
    let connection = std::os::unix::net::UnixStream::connect(&files.socket).map_err(Files)?;
    let log = std::fs::File::create(scratch.join("shim.log")).map_err(Files)?;
    connection.set_nonblocking(true).map_err(Files)?;
    if let Some(idle) = pool.take() {
        match idle.hand_over(&dir, &listener, &log) {
            Ok(()) => {
                // Refilled off the start path, once this task has had the CPU.
                let pool = pool.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    pool.fill();
                });
                return UnixStream::from_std(connection).map_err(Files);
            }
            Err(error) => {
                tracing::warn!(%error, "an idle supervisor refused its task; starting one");
            }
        }
    }
    let mut child = config
        .shim_binary
        .command()
        .arg("shim")
        .arg(&dir)
        .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(
            listener,
        )))
        .stdout(log.try_clone().map_err(Files)?)
        .stderr(log)
        // Its own process group: a Ctrl-C meant for `berth up` does not reach tasks.
        .process_group(0)
        .spawn()
        .map_err(Spawn)?;
    // Reaped here while this berth lives; by init once it is gone.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    UnixStream::from_std(connection).map_err(Files)
}

/// Sends `request` to a supervisor: one JSON line.
pub async fn send_request(
    connection: &mut (impl tokio::io::AsyncWrite + Unpin),
    request: &Request,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(request).map_err(std::io::Error::other)?;
    line.push(b'\n');
    connection.write_all(&line).await
}

/// Tells a supervisor holding its containers to start them; `None` if it cannot be told.
pub async fn go(mut connection: UnixStream) -> Option<UnixStream> {
    send_request(&mut connection, &Request::Go).await.ok()?;
    Some(connection)
}

/// Has a supervisor holding its containers delete them unstarted, and waits until it has
/// finished (or [`ABORT_WAIT`] has passed): the task is then planned again and handed to
/// another supervisor.
pub async fn abort(id: &str, connection: UnixStream) {
    let (read, mut write) = connection.into_split();
    let _ = send_request(&mut write, &Request::Stop).await;
    let mut states = States::new(read);
    let finished = tokio::time::timeout(ABORT_WAIT, async {
        while let Some(state) = states.next(id).await {
            // Our own supervisor: of our version.
            if state.is_ok_and(|state| state.phase == Phase::Stopped) {
                return;
            }
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(task = %id, "a supervisor told to give its task back has not finished");
    }
}

/// The states a supervisor sends, one JSON line each.
pub struct States {
    lines: Lines<BufReader<OwnedReadHalf>>,
}

impl States {
    /// The states arriving on `read`, the supervisor socket's reading half.
    pub fn new(read: OwnedReadHalf) -> Self {
        Self {
            lines: BufReader::new(read).lines(),
        }
    }

    /// The next state, or the version it is in when this berth cannot read that; `None`
    /// once the supervisor has closed the socket (or it failed). A line that is no state is
    /// skipped. Cancel-safe: a line half read stays buffered.
    pub async fn next(&mut self, id: &str) -> Option<Result<Observed, StateError>> {
        loop {
            let line = self.lines.next_line().await.ok()??;
            match Observed::read(line.as_bytes()) {
                Err(StateError::Malformed(error)) => {
                    tracing::warn!(task = %id, %error, "unreadable state from the task's supervisor");
                }
                read => return Some(read),
            }
        }
    }
}
