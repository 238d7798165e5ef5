//! Sending signals to processes (kill(2)): how a supervisor asks a container's init to stop,
//! and makes it.

use std::sync::Mutex;

pub use rustix::process::Signal;

/// Why a signal was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    /// Not a single process's ID: kill(2) reads 0 and negative numbers as process groups
    /// (-1 as every process it may signal), which no caller here means.
    #[error("{pid} is not the ID of one process")]
    NotAProcess {
        /// The number given.
        pid: i32,
    },
    /// The kernel refused (most often: the process has exited already).
    #[error("cannot send {signal:?} to process {pid}")]
    Kill {
        /// The process.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// What the kernel said.
        #[source]
        source: std::io::Error,
    },
}

/// Sends signals.
pub trait Signaller: Send + Sync + 'static {
    /// Sends `signal` to the process `pid`.
    fn signal(&self, pid: i32, signal: Signal) -> Result<(), SignalError>;
}

/// The real kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinuxSignaller;

impl Signaller for LinuxSignaller {
    fn signal(&self, pid: i32, signal: Signal) -> Result<(), SignalError> {
        let process = (pid > 0)
            .then(|| rustix::process::Pid::from_raw(pid))
            .flatten()
            .ok_or(SignalError::NotAProcess { pid })?;
        rustix::process::kill_process(process, signal).map_err(|e| SignalError::Kill {
            pid,
            signal,
            source: e.into(),
        })
    }
}

/// One call a [`RecordingSignaller`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedSignal {
    /// The process.
    pub pid: i32,
    /// The signal.
    pub signal: Signal,
}

/// Records the signals it is asked to send and sends none; for unit tests without processes
/// to spare.
#[derive(Debug, Default)]
pub struct RecordingSignaller {
    calls: Mutex<Vec<RecordedSignal>>,
}

impl RecordingSignaller {
    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<RecordedSignal> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Signaller for RecordingSignaller {
    fn signal(&self, pid: i32, signal: Signal) -> Result<(), SignalError> {
        self.calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordedSignal { pid, signal });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_refused_before_the_kernel_sees_them() {
        for pid in [0, -1, -42] {
            assert!(matches!(
                LinuxSignaller.signal(pid, Signal::TERM),
                Err(SignalError::NotAProcess { .. })
            ));
        }
    }

    /// The real kernel: a child that sleeps ends by SIGKILL. (Nothing is sent after it is
    /// reaped: its ID may already be another process's.)
    #[test]
    fn linux_signals_reach_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        LinuxSignaller.signal(pid, Signal::KILL).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }

    #[test]
    fn the_recorder_keeps_calls_in_order() {
        let recorder = RecordingSignaller::default();
        recorder.signal(7, Signal::TERM).unwrap();
        recorder.signal(7, Signal::KILL).unwrap();
        assert_eq!(
            recorder.calls(),
            [
                RecordedSignal {
                    pid: 7,
                    signal: Signal::TERM
                },
                RecordedSignal {
                    pid: 7,
                    signal: Signal::KILL
                },
            ]
        );
    }
}
