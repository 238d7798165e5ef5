//! `dependsOn`: whether a container may start yet, given what the containers it depends on
//! have done. Pure logic; the supervisor asks again after every change.

use crate::plan::{Condition, Dependency};
use crate::state::{ContainerState, ContainerStatus};

/// Whether a container can start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every dependency's condition is met.
    Ready,
    /// Some condition may still be met.
    Wait,
    /// Some condition can no longer be met; why, in words for the container's reason.
    Never(String),
}

/// Whether a container depending on `dependencies` may start, with the task's containers as
/// `states`.
pub fn readiness(dependencies: &[Dependency], states: &[ContainerState]) -> Readiness {
    let mut ready = Readiness::Ready;
    for dependency in dependencies {
        let Some(other) = states.iter().find(|s| s.name == dependency.container) else {
            return Readiness::Never(format!(
                "it depends on container {}, which the task does not have",
                dependency.container
            ));
        };
        let started = other.started_at_ms.is_some();
        let exited = other.status == ContainerStatus::Stopped;
        let met = match dependency.condition {
            Condition::Start | Condition::Healthy => started,
            Condition::Complete => exited && started,
            Condition::Success => exited && other.exit_code == Some(0),
        };
        if met {
            continue;
        }
        if exited {
            let what = match other.exit_code {
                Some(code) if started => format!("exited with code {code}"),
                _ => "never started".to_owned(),
            };
            return Readiness::Never(format!(
                "dependency condition {} on container {} was not met: it {what}",
                dependency.condition.as_str(),
                other.name
            ));
        }
        ready = Readiness::Wait;
    }
    ready
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, status: ContainerStatus, exit_code: Option<i32>) -> ContainerState {
        ContainerState {
            name: name.into(),
            status,
            pid: None,
            exit_code,
            reason: None,
            started_at_ms: (status != ContainerStatus::Pending && exit_code.is_some()
                || status == ContainerStatus::Running)
                .then_some(1),
            stopped_at_ms: None,
        }
    }

    fn on(container: &str, condition: Condition) -> Vec<Dependency> {
        vec![Dependency {
            container: container.into(),
            condition,
        }]
    }

    #[test]
    fn each_condition_waits_then_is_met_or_fails() {
        use ContainerStatus::*;
        let pending = [state("init", Pending, None)];
        let running = [state("init", Running, None)];
        let ok = [state("init", Stopped, Some(0))];
        let failed = [state("init", Stopped, Some(2))];
        let never = [state("init", Stopped, None)];
        let cases = [
            (Condition::Start, &pending[..], "wait"),
            (Condition::Start, &running[..], "ready"),
            (Condition::Start, &failed[..], "ready"),
            (Condition::Start, &never[..], "never"),
            (Condition::Complete, &running[..], "wait"),
            (Condition::Complete, &failed[..], "ready"),
            (Condition::Success, &running[..], "wait"),
            (Condition::Success, &ok[..], "ready"),
            (Condition::Success, &failed[..], "never"),
        ];
        for (condition, states, expected) in cases {
            let got = match readiness(&on("init", condition), states) {
                Readiness::Ready => "ready",
                Readiness::Wait => "wait",
                Readiness::Never(_) => "never",
            };
            assert_eq!(got, expected, "{condition:?} with {states:?}");
        }
        let Readiness::Never(why) = readiness(&on("init", Condition::Success), &failed) else {
            panic!()
        };
        assert_eq!(
            why,
            "dependency condition SUCCESS on container init was not met: it exited with code 2"
        );
        assert!(matches!(
            readiness(&on("ghost", Condition::Start), &ok),
            Readiness::Never(_)
        ));
        assert_eq!(readiness(&[], &ok), Readiness::Ready);
    }
}
