//! A task's volumes on this node, and what each container mounts of them. A volume with no
//! `host` (or an empty one) is task-scoped: an empty directory in the task's directory on
//! the data disk, shared by the task's containers for its life and removed with it
//! (`teardown`). One with `host.sourcePath` — registered only by a node started with
//! `--allow-privileged` — is that directory of the host, made if missing, as Docker does.
//! A container mounts volumes by its `mountPoints` and, through `volumesFrom`, every mount of
//! another container (read-only when it says so, else as that container has them); its own
//! mount points win over those at the same path.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_model::shapes::{ContainerDefinition, Volume};
use berth_runtime::spec::VolumeMount;

/// Why a task's volumes or a container's mounts cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// A volume's name is empty or not one ECS allows (letters, digits, `-`, `_`).
    #[error("volume name '{0}' is not valid")]
    Name(String),
    /// A volume of a kind this node does not provide (Docker, EFS, FSx, S3 Files).
    #[error("volume '{0}': only task-scoped and host volumes are supported")]
    Unsupported(String),
    /// A host path that is not absolute.
    #[error("volume '{volume}': host sourcePath '{path}' is not an absolute path")]
    SourcePath {
        /// The volume.
        volume: String,
        /// Its path.
        path: String,
    },
    /// The volume's directory could not be made.
    #[error("volume '{volume}': cannot make {}: {error}", .path.display())]
    Directory {
        /// The volume.
        volume: String,
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A mount point names no volume of the task.
    #[error("mount point {container_path}: no volume '{volume}' in the task definition")]
    UnknownVolume {
        /// Its path in the container.
        container_path: String,
        /// The volume it names.
        volume: String,
    },
    /// A mount point without `sourceVolume` or `containerPath`.
    #[error("a mount point needs sourceVolume and containerPath")]
    IncompleteMountPoint,
    /// Two mount points of the container at one path.
    #[error("two mount points at {0}")]
    DuplicateMountPoint(String),
    /// `volumesFrom` names no container of the task.
    #[error("volumesFrom: no container '{0}' in the task definition")]
    UnknownContainer(String),
    /// `volumesFrom` leads back to the container itself.
    #[error("volumesFrom: a cycle through container '{0}'")]
    Cycle(String),
}

/// Where a task's task-scoped volumes live: beside its logs, in its directory on the data disk.
pub fn volumes_dir(scratch: &Path) -> PathBuf {
    scratch.join("volumes")
}

/// The task's volumes: each name's host directory.
#[derive(Debug, Default)]
pub struct TaskVolumes {
    directories: HashMap<String, PathBuf>,
}

impl TaskVolumes {
    /// Makes the directories of the task's `volumes` (in `scratch`, the task's directory, for
    /// task-scoped ones).
    pub fn prepare(scratch: &Path, volumes: &[Volume]) -> Result<Self, VolumeError> {
        let mut directories = HashMap::new();
        for volume in volumes {
            let name = volume.name.clone().unwrap_or_default();
            let valid = !name.is_empty()
                && name.len() <= 255
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(VolumeError::Name(name));
            }
            if volume.docker_volume_configuration.is_some()
                || volume.efs_volume_configuration.is_some()
                || volume
                    .fsx_windows_file_server_volume_configuration
                    .is_some()
                || volume.s3files_volume_configuration.is_some()
            {
                return Err(VolumeError::Unsupported(name));
            }
            let directory = match volume
                .host
                .as_ref()
                .and_then(|host| host.source_path.as_deref())
                .filter(|path| !path.is_empty())
            {
                Some(path) if !path.starts_with('/') => {
                    return Err(VolumeError::SourcePath {
                        volume: name,
                        path: path.to_owned(),
                    });
                }
                Some(path) => PathBuf::from(path),
                None => volumes_dir(scratch).join(&name),
            };
            // Docker's mode for a directory it makes: 0755, root's.
            std::fs::create_dir_all(&directory).map_err(|error| VolumeError::Directory {
                volume: name.clone(),
                path: directory.clone(),
                error,
            })?;
            directories.insert(name, directory);
        }
        Ok(Self { directories })
    }

    /// What each of `definitions` mounts, by container name.
    pub fn mounts(
        &self,
        definitions: &[ContainerDefinition],
    ) -> Result<HashMap<String, Vec<VolumeMount>>, VolumeError> {
        let by_name: HashMap<&str, &ContainerDefinition> = definitions
            .iter()
            .map(|d| (d.name.as_deref().unwrap_or_default(), d))
            .collect();
        let mut resolved = HashMap::new();
        for definition in definitions {
            let name = definition.name.clone().unwrap_or_default();
            let mounts = self.container_mounts(&by_name, definition, &mut Vec::new())?;
            resolved.insert(name, mounts);
        }
        Ok(resolved)
    }

    /// `definition`'s mounts: those of the containers it takes volumes from, then its own
    /// (replacing any at the same path). `visiting` holds the containers on the way here.
    fn container_mounts(
        &self,
        by_name: &HashMap<&str, &ContainerDefinition>,
        definition: &ContainerDefinition,
        visiting: &mut Vec<String>,
    ) -> Result<Vec<VolumeMount>, VolumeError> {
        let name = definition.name.clone().unwrap_or_default();
        if visiting.contains(&name) {
            return Err(VolumeError::Cycle(name));
        }
        visiting.push(name);
        let mut mounts: Vec<VolumeMount> = Vec::new();
        for from in definition.volumes_from.as_deref().unwrap_or_default() {
            let source = from.source_container.clone().unwrap_or_default();
            let source_definition = by_name
                .get(source.as_str())
                .ok_or_else(|| VolumeError::UnknownContainer(source.clone()))?;
            for mut mount in self.container_mounts(by_name, source_definition, visiting)? {
                mount.readonly |= from.read_only.unwrap_or(false);
                mounts.retain(|m| m.destination != mount.destination);
                mounts.push(mount);
            }
        }
        let mut own: Vec<VolumeMount> = Vec::new();
        for point in definition.mount_points.as_deref().unwrap_or_default() {
            let (Some(volume), Some(container_path)) = (
                point.source_volume.as_deref(),
                point.container_path.as_deref(),
            ) else {
                return Err(VolumeError::IncompleteMountPoint);
            };
            let source =
                self.directories
                    .get(volume)
                    .ok_or_else(|| VolumeError::UnknownVolume {
                        container_path: container_path.to_owned(),
                        volume: volume.to_owned(),
                    })?;
            if own.iter().any(|m| m.destination == container_path) {
                return Err(VolumeError::DuplicateMountPoint(container_path.to_owned()));
            }
            own.push(VolumeMount {
                source: source.clone(),
                destination: container_path.to_owned(),
                readonly: point.read_only.unwrap_or(false),
            });
        }
        mounts.retain(|m| !own.iter().any(|o| o.destination == m.destination));
        mounts.extend(own);
        visiting.pop();
        Ok(mounts)
    }
}

#[cfg(test)]
mod tests {
    use berth_model::shapes::{HostVolumeProperties, MountPoint, VolumeFrom};

    use super::*;

    fn volume(name: &str, host: Option<&str>) -> Volume {
        Volume {
            name: Some(name.into()),
            host: host.map(|path| HostVolumeProperties {
                source_path: (!path.is_empty()).then(|| path.into()),
            }),
            ..Volume::default()
        }
    }

    fn point(volume: &str, path: &str, read_only: Option<bool>) -> MountPoint {
        MountPoint {
            source_volume: Some(volume.into()),
            container_path: Some(path.into()),
            read_only,
        }
    }

    fn container(
        name: &str,
        mount_points: Vec<MountPoint>,
        from: &[(&str, Option<bool>)],
    ) -> ContainerDefinition {
        ContainerDefinition {
            name: Some(name.into()),
            mount_points: Some(mount_points),
            volumes_from: Some(
                from.iter()
                    .map(|(source, read_only)| VolumeFrom {
                        source_container: Some((*source).into()),
                        read_only: *read_only,
                    })
                    .collect(),
            ),
            ..ContainerDefinition::default()
        }
    }

    #[test]
    fn task_scoped_volumes_are_directories_of_the_task() {
        let scratch = tempfile::tempdir().unwrap();
        let host = scratch.path().join("host-data");
        let volumes = TaskVolumes::prepare(
            scratch.path(),
            &[
                volume("shared", None),
                volume("empty-host", Some("")),
                volume("data", Some(host.to_str().unwrap())),
            ],
        )
        .unwrap();
        let shared = scratch.path().join("volumes/shared");
        assert!(shared.is_dir() && scratch.path().join("volumes/empty-host").is_dir());
        assert!(host.is_dir(), "a missing host path is made, as Docker does");
        let mounts = volumes
            .mounts(&[container(
                "app",
                vec![
                    point("shared", "/shared", None),
                    point("data", "/data", Some(true)),
                ],
                &[],
            )])
            .unwrap();
        assert_eq!(
            mounts["app"],
            vec![
                VolumeMount {
                    source: shared,
                    destination: "/shared".into(),
                    readonly: false
                },
                VolumeMount {
                    source: host,
                    destination: "/data".into(),
                    readonly: true
                },
            ]
        );
    }

    #[test]
    fn volumes_from_takes_every_mount_of_the_source_read_only_when_asked() {
        let scratch = tempfile::tempdir().unwrap();
        let volumes = TaskVolumes::prepare(
            scratch.path(),
            &[volume("a", None), volume("b", None), volume("c", None)],
        )
        .unwrap();
        let definitions = [
            container(
                "writer",
                vec![point("a", "/a", None), point("b", "/b", Some(true))],
                &[],
            ),
            container("reader", vec![], &[("writer", Some(true))]),
            // Its own mount point at /a replaces the one it takes from the writer.
            container("mixed", vec![point("c", "/a", None)], &[("writer", None)]),
            // Mounts taken from a container that took them from another.
            container("second-hand", vec![], &[("reader", None)]),
        ];
        let mounts = volumes.mounts(&definitions).unwrap();
        let view = |name: &str| -> Vec<(String, bool)> {
            mounts[name]
                .iter()
                .map(|m| (m.destination.clone(), m.readonly))
                .collect()
        };
        assert_eq!(
            view("reader"),
            vec![("/a".into(), true), ("/b".into(), true)]
        );
        assert_eq!(
            view("mixed"),
            vec![("/b".into(), true), ("/a".into(), false)]
        );
        assert_eq!(mounts["mixed"][1].source, scratch.path().join("volumes/c"));
        assert_eq!(view("second-hand"), view("reader"));
    }

    #[test]
    fn wrong_references_are_errors() {
        let scratch = tempfile::tempdir().unwrap();
        let volumes = TaskVolumes::prepare(scratch.path(), &[volume("a", None)]).unwrap();
        let cases = [
            (
                vec![container("x", vec![point("nope", "/n", None)], &[])],
                "no volume 'nope'",
            ),
            (
                vec![container("x", vec![], &[("ghost", None)])],
                "no container 'ghost'",
            ),
            (
                vec![
                    container("x", vec![], &[("y", None)]),
                    container("y", vec![], &[("x", None)]),
                ],
                "a cycle",
            ),
            (
                vec![container(
                    "x",
                    vec![point("a", "/p", None), point("a", "/p", Some(true))],
                    &[],
                )],
                "two mount points at /p",
            ),
        ];
        for (definitions, expected) in cases {
            let error = volumes.mounts(&definitions).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        for bad in ["", "../up", "a/b"] {
            assert!(matches!(
                TaskVolumes::prepare(scratch.path(), &[volume(bad, None)]),
                Err(VolumeError::Name(_))
            ));
        }
        assert!(matches!(
            TaskVolumes::prepare(scratch.path(), &[volume("rel", Some("relative/path"))]),
            Err(VolumeError::SourcePath { .. })
        ));
    }
}
