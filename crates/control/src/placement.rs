//! Placement: which node a new task runs on. It is decided here alone — apart from RunTask's
//! validation before it and the transaction after it — so that choosing among many nodes
//! (by free cpu and memory, availability zone, placement constraints and strategies) changes
//! this module and nothing else.
//!
//! Today there is one node, the one `berth up` started, so every task goes there.

use berth_model::shapes::Task;

/// The node `berth up` runs its tasks on.
pub const LOCAL_NODE: &str = "local";

/// A node, by the name its keys carry (`/nodes/{node}/tasks/...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeId(String);

impl NodeId {
    /// `berth up`'s own node.
    pub(crate) fn local() -> Self {
        Self(LOCAL_NODE.to_owned())
    }

    /// The name, as task records and keys hold it.
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

/// The nodes tasks can be placed on now: `berth up`'s own, the only one until nodes register
/// with the control plane (then this reads them from the store).
pub(crate) fn nodes() -> Vec<NodeId> {
    vec![NodeId::local()]
}

/// The node `task` (a new task, as RunTask made it) goes to among `nodes`.
///
/// With one node there is one answer; the local node is also the answer when there is none
/// to choose from, as it always exists. The task is what a choice among several will weigh:
/// its cpu and memory against each node's free capacity, its subnet's availability zone.
pub(crate) fn place(_task: &Task, nodes: &[NodeId]) -> NodeId {
    nodes.first().cloned().unwrap_or_else(NodeId::local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_goes_to_the_local_node() {
        let placed = place(&Task::default(), &nodes());
        assert_eq!(placed.into_string(), LOCAL_NODE);
        assert_eq!(place(&Task::default(), &[]), NodeId::local());
    }
}
