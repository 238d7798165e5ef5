//! What the simulated node's containers do: a [`Script`] per container, chosen by its task
//! definition's family or its image ([`Scripts`]), and how long the node's steps take
//! ([`Timing`]). Scripts stand in for the programs and registries a real node would meet, so a
//! test says "this image exits with 3 after a second" instead of building one.

use std::collections::HashMap;
use std::time::Duration;

/// What one container does on the simulated node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Script {
    /// Runs until the task is stopped, then exits on its stop signal (exit code 143, 128 +
    /// SIGTERM) [`Timing::stop`] later.
    #[default]
    Run,
    /// Runs until the task is stopped and ignores its stop signal: killed with SIGKILL (exit
    /// code 137) once the container's `stopTimeout` (30 s unless the definition says, at most
    /// 120 s) has passed, as the real supervisor does.
    RunIgnoringStopSignal,
    /// Exits with `code` `after` it started (and on its stop signal before then, as [`Run`]).
    ///
    /// [`Run`]: Script::Run
    Exit { code: i32, after: Duration },
    /// Killed by the kernel's OOM killer `after` it started: exit code 137, reason
    /// `OutOfMemoryError: Container killed due to memory usage`.
    OutOfMemory { after: Duration },
    /// Its image cannot be pulled: the task stops with TaskFailedToStart and
    /// `CannotPullContainerError: pull image {image}: {message}`, as the image puller words it.
    PullFails { message: String },
    /// Its image is pulled but the container cannot be started: TaskFailedToStart with
    /// `CannotStartContainerError: {message}`.
    StartFails { message: String },
}

/// Which script each container follows: the one named for its task definition's family, else
/// the one named for its image (the image string exactly as the container definition gives
/// it), else the default ([`Script::Run`] unless [`Scripts::otherwise`] says).
///
/// The family comes first because it is the more specific choice: a test that registers a
/// definition for one purpose names it, whatever image it shares with others.
#[derive(Debug, Clone, Default)]
pub struct Scripts {
    by_family: HashMap<String, Script>,
    by_image: HashMap<String, Script>,
    default: Script,
}

impl Scripts {
    /// Every container runs until stopped.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every container of tasks of `family` follows `script`.
    pub fn family(mut self, family: &str, script: Script) -> Self {
        self.by_family.insert(family.to_owned(), script);
        self
    }

    /// Every container running `image` follows `script` (unless its family has one).
    pub fn image(mut self, image: &str, script: Script) -> Self {
        self.by_image.insert(image.to_owned(), script);
        self
    }

    /// Containers no family or image script names follow `script`.
    pub fn otherwise(mut self, script: Script) -> Self {
        self.default = script;
        self
    }

    /// The script of a container running `image` in a task of `family`.
    pub(crate) fn for_container(&self, family: &str, image: &str) -> &Script {
        self.by_family
            .get(family)
            .or_else(|| self.by_image.get(image))
            .unwrap_or(&self.default)
    }
}

/// How long the simulated node's steps take. All zero by default: a task is RUNNING as soon
/// as its reports are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// Pulling a task's images: between PENDING and ACTIVATING.
    pub pull: Duration,
    /// Starting each container: between ACTIVATING and the container RUNNING.
    pub start: Duration,
    /// A container's exit after its stop signal (for scripts that heed it).
    pub stop: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_family_wins_over_the_image_and_the_default_comes_last() {
        let exit = Script::Exit {
            code: 3,
            after: Duration::from_secs(1),
        };
        let oom = Script::OutOfMemory {
            after: Duration::ZERO,
        };
        let scripts = Scripts::new()
            .family("batch", exit.clone())
            .image("nginx", oom.clone());
        assert_eq!(scripts.for_container("batch", "nginx"), &exit);
        assert_eq!(scripts.for_container("web", "nginx"), &oom);
        assert_eq!(scripts.for_container("web", "busybox"), &Script::Run);
        let scripts = scripts.otherwise(Script::RunIgnoringStopSignal);
        assert_eq!(
            scripts.for_container("web", "busybox"),
            &Script::RunIgnoringStopSignal
        );
    }
}
