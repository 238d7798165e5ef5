//! Tidy checks over the workspace's sources, run with the test suite so they hold on every CI run.
//!
//! Every Rust file under `crates/` and `bench/` (outside `target/` and hidden directories) opens
//! with a `//!` paragraph: the module docs say what the file is for before any code does. Before
//! that paragraph a file may have only
//!
//! - blank lines,
//! - inner attributes (`#![...]`, over one or more lines), which configure the whole module just
//!   as the docs describe it, and
//! - a generated file's header: a run of `//` comments that begins `// @generated`, the marker
//!   tools and reviewers look for in a file's first line.
//!
//! Anything else first (a `use`, an item, a plain `//` comment, `/*! ... */` docs, a `//!` line
//! with no text) is a violation, reported with the file and line.
//!
//! ECS's words for why a task or container stopped (`CannotStartContainerError: ...`, stop codes
//! such as `"TaskFailedToStart"`) are the node agent's: the crates below it — the supervisor, the
//! image store, the runtime and the rest — say what happened in their own terms and leave the
//! wording to the agent (`crates/agent/src/task/stop_reason.rs`). Their shipped code (comments
//! and `#[cfg(test)]` code aside) must not spell those words.

use std::fs;
use std::path::{Path, PathBuf};

/// Why `text` does not open with module docs, as "line N: reason", or `None` if it does.
fn missing_module_docs(text: &str) -> Option<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().peekable();
    let mut seen_anything = false;
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(doc) = trimmed.strip_prefix("//!") {
            return if doc.trim().is_empty() {
                Some(format!(
                    "line {number}: the module docs begin with an empty `//!` line"
                ))
            } else {
                None
            };
        }
        if trimmed.starts_with("#![") {
            // An inner attribute; it may go on over several lines until its brackets close.
            let mut depth = brackets(trimmed);
            while depth > 0 {
                match lines.next() {
                    Some((_, more)) => depth += brackets(more),
                    None => return Some(format!("line {number}: an inner attribute never closes")),
                }
            }
            seen_anything = true;
            continue;
        }
        if !seen_anything && trimmed.starts_with("// @generated") {
            // The generator's header: this comment and the `//` lines that follow it.
            while lines
                .peek()
                .is_some_and(|(_, more)| is_plain_comment(more.trim()))
            {
                lines.next();
            }
            seen_anything = true;
            continue;
        }
        let shown: String = trimmed.chars().take(60).collect();
        let reason = if trimmed.starts_with("/*!") {
            "module docs are written as `//!` lines, not `/*! */`"
        } else if is_plain_comment(trimmed) {
            "a plain `//` comment comes before the module docs (make it `//!`)"
        } else {
            "no `//!` module docs before the first code"
        };
        return Some(format!("line {number}: {reason}: `{shown}`"));
    }
    Some("no `//!` module docs at all".to_string())
}

/// Whether `line` (trimmed) is a `//` comment that is neither inner nor outer docs.
fn is_plain_comment(line: &str) -> bool {
    line.starts_with("//")
        && !line.starts_with("//!")
        && (!line.starts_with("///") || line.starts_with("////"))
}

/// How many more `[` than `]` a line of an attribute opens.
fn brackets(line: &str) -> i64 {
    line.chars()
        .map(|c| match c {
            '[' => 1,
            ']' => -1,
            _ => 0,
        })
        .sum()
}

/// The `.rs` files under `dir`, skipping `target/` and hidden directories.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if kind.is_dir() {
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

#[test]
fn every_rust_file_opens_with_module_docs() {
    let root = workspace_root();
    let mut files = Vec::new();
    for top in ["crates", "bench"] {
        rust_files(&root.join(top), &mut files);
    }
    files.sort();
    // A walk that silently found nothing (a moved directory, a wrong root) would pass vacuously.
    for known in [
        "crates/berth/src/main.rs",
        "crates/berth/tests/tidy.rs",
        "bench/src/lib.rs",
    ] {
        assert!(
            files.contains(&root.join(known)),
            "tidy: the walk from {} did not find {known}",
            root.display()
        );
    }
    let violations: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let text = fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let relative = path.strip_prefix(&root).unwrap_or(path);
            missing_module_docs(&text).map(|why| format!("  {}: {why}", relative.display()))
        })
        .collect();
    assert!(
        violations.is_empty(),
        "tidy: {} of {} Rust files do not open with a `//!` paragraph of module docs \
         (only blank lines, `#![...]` attributes and a `// @generated` header may come first):\n{}",
        violations.len(),
        files.len(),
        violations.join("\n")
    );
}

#[test]
fn the_rule_accepts_docs_after_blank_lines_attributes_and_a_generated_header() {
    assert_eq!(missing_module_docs("//! Docs.\n\nfn f() {}\n"), None);
    assert_eq!(missing_module_docs("\n\n//! Docs.\n"), None);
    assert_eq!(
        missing_module_docs("#![allow(dead_code)]\n//! Docs.\n"),
        None
    );
    assert_eq!(
        missing_module_docs("#![cfg_attr(\n    test,\n    allow(unused)\n)]\n\n//! Docs.\n"),
        None
    );
    assert_eq!(
        missing_module_docs("// @generated by a tool.\n// Do not edit.\n\n//! Docs.\n"),
        None
    );
}

#[test]
fn the_rule_rejects_code_comments_and_empty_docs_first() {
    let rejected = [
        ("use std::fs;\n//! Docs.\n", "line 1: no `//!`"),
        ("// A comment.\n//! Docs.\n", "line 1: a plain `//` comment"),
        ("/// Item docs.\nfn f() {}\n", "line 1: no `//!`"),
        ("/*! Docs. */\n", "line 1: module docs are written as `//!`"),
        (
            "//!\n//! Docs.\n",
            "line 1: the module docs begin with an empty",
        ),
        (
            "#![allow(dead_code)]\n// @generated\n//! Docs.\n",
            "line 2: a plain",
        ),
        ("#![allow(\n", "line 1: an inner attribute never closes"),
        ("\n\n", "no `//!` module docs at all"),
        ("", "no `//!` module docs at all"),
    ];
    for (text, want) in rejected {
        let got = missing_module_docs(text);
        assert!(
            got.as_deref().is_some_and(|why| why.starts_with(want)),
            "{text:?}: want a violation starting {want:?}, got {got:?}"
        );
    }
}

/// ECS's error classes and stop codes, as the agent words stops.
const ECS_WORDS: [&str; 8] = [
    "CannotPullContainerError",
    "CannotStartContainerError",
    "CannotCreateContainerError",
    "ResourceInitializationError",
    "OutOfMemoryError",
    "\"TaskFailedToStart\"",
    "\"EssentialContainerExited\"",
    "\"UserInitiated\"",
];

/// Where `text`'s shipped code spells one of [`ECS_WORDS`], as "line N: word": comment lines
/// are skipped, and so is everything from the first `#[cfg(test)]` on (test modules come last).
fn ecs_words(text: &str) -> Vec<String> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .flat_map(|(index, line)| {
            ECS_WORDS
                .iter()
                .filter(move |word| line.contains(*word))
                .map(move |word| format!("line {}: {word}", index + 1))
        })
        .collect()
}

#[test]
fn ecs_words_stay_in_the_agent() {
    let root = workspace_root();
    let mut files = Vec::new();
    for node_crate in ["shim", "image", "runtime", "logs", "net", "sys", "firewall"] {
        rust_files(
            &root.join("crates").join(node_crate).join("src"),
            &mut files,
        );
    }
    files.sort();
    assert!(
        files.contains(&root.join("crates/shim/src/supervisor.rs")),
        "tidy: the walk did not find the supervisor"
    );
    let violations: Vec<String> = files
        .iter()
        .flat_map(|path| {
            let text = fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let relative = path.strip_prefix(&root).unwrap_or(path).to_owned();
            ecs_words(&text)
                .into_iter()
                .map(move |at| format!("  {}: {at}", relative.display()))
        })
        .collect();
    assert!(
        violations.is_empty(),
        "tidy: ECS's words outside the agent (report a typed cause and word it in \
         crates/agent/src/task/stop_reason.rs):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_ecs_words_rule_skips_comments_and_tests() {
    let text = "/// A `CannotStartContainerError`.\n\
                let code = \"UserInitiated\";\n\
                // OutOfMemoryError\n\
                format!(\"CannotCreateContainerError: {e}\")\n\
                #[cfg(test)]\n\
                const V1: &str = \"OutOfMemoryError: ...\";\n";
    assert_eq!(
        ecs_words(text),
        [
            "line 2: \"UserInitiated\"",
            "line 4: CannotCreateContainerError"
        ]
    );
    // A type's variant of the same name is no ECS word: only the quoted code is.
    assert!(ecs_words("StopCause::EssentialContainerExited { container }").is_empty());
}
