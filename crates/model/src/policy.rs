//! IAM identity policies: the documents PutUserPolicy stores, and the one evaluation every
//! request goes through — an explicit `Deny` wins, else an `Allow` is needed, else the request
//! is implicitly denied, as IAM decides within one account.
//!
//! The grammar is IAM's for identity policies: `Version`, `Statement` (one or a list), each
//! with `Effect`, `Action` or `NotAction`, `Resource` or `NotResource`, an optional `Sid`.
//! Actions match case-insensitively and resources case-sensitively, both with `*` and `?`
//! wildcards. `Condition` is refused rather than ignored: a condition berth did not check
//! would grant more than its author meant.

use serde_json::Value;

/// The policy versions IAM accepts.
pub const VERSIONS: [&str; 2] = ["2012-10-17", "2008-10-17"];

/// The most characters (whitespace aside) of one user's inline policies, as IAM limits them.
pub const MAX_USER_POLICY_CHARS: usize = 2048;

/// Whether a statement grants or refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Refuses, whatever else grants.
    Deny,
}

/// A list of patterns a statement matches, or everything but them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Patterns {
    /// `Action` / `Resource`.
    Only(Vec<String>),
    /// `NotAction` / `NotResource`.
    AllBut(Vec<String>),
}

/// One statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Allow or Deny.
    pub effect: Effect,
    /// The actions, `service:Operation` patterns.
    pub actions: Patterns,
    /// The resource ARN patterns.
    pub resources: Patterns,
}

/// A parsed identity policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Its statements.
    pub statements: Vec<Statement>,
}

/// The outcome of evaluating policies for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some statement allows it and none denies it.
    Allow,
    /// A statement denies it.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
}

/// Why a policy document is refused: IAM's `MalformedPolicyDocument` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON, or not an object.
    #[error("Syntax errors in policy.")]
    Syntax,
    /// A field has the wrong type or value.
    #[error("{0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid(message.into())
}

impl Policy {
    /// Parses and checks `document`.
    pub fn parse(document: &str) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(document).map_err(|_| PolicyError::Syntax)?;
        let object = value.as_object().ok_or(PolicyError::Syntax)?;
        for key in object.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(invalid(format!(
                    "Policy document has an unknown field '{key}'."
                )));
            }
        }
        if let Some(version) = object.get("Version") {
            let known = version.as_str().is_some_and(|v| VERSIONS.contains(&v));
            if !known {
                return Err(invalid("The policy failed legacy parsing"));
            }
        }
        let statements = match object.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
            Some(single @ Value::Object(_)) => vec![single],
            _ => {
                return Err(invalid(
                    "Policy document must contain at least one Statement.",
                ));
            }
        };
        let statements = statements
            .into_iter()
            .map(statement)
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// What this policy alone says about `action` on `resource`.
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        evaluate([self], action, resource)
    }
}

fn statement(value: &Value) -> Result<Statement, PolicyError> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid("Each Statement must be an object."))?;
    for key in object.keys() {
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "NotAction" | "Resource" | "NotResource" => {}
            "Principal" | "NotPrincipal" => {
                return Err(invalid("Policy document should not specify a principal."));
            }
            "Condition" => {
                return Err(invalid(
                    "berth does not evaluate Condition in policies yet; remove it.",
                ));
            }
            other => {
                return Err(invalid(format!(
                    "Statement has an unknown field '{other}'."
                )));
            }
        }
    }
    let effect = match object.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err(invalid("Statement Effect must be 'Allow' or 'Deny'.")),
    };
    let actions = patterns(object, "Action", "NotAction")?;
    for action in patterns_of(&actions) {
        if action != "*" && !action.contains(':') {
            return Err(invalid(format!(
                "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ('{action}')"
            )));
        }
    }
    let resources = patterns(object, "Resource", "NotResource")?;
    for resource in patterns_of(&resources) {
        if resource != "*" && !resource.starts_with("arn:") {
            return Err(invalid(format!(
                "Resource {resource} must be in ARN format or \"*\"."
            )));
        }
    }
    Ok(Statement {
        effect,
        actions,
        resources,
    })
}

fn patterns_of(patterns: &Patterns) -> &[String] {
    match patterns {
        Patterns::Only(list) | Patterns::AllBut(list) => list,
    }
}

/// `only` or `all_but`, exactly one of them, as a string or a non-empty list of strings.
fn patterns(
    object: &serde_json::Map<String, Value>,
    only: &str,
    all_but: &str,
) -> Result<Patterns, PolicyError> {
    let list = |value: &Value| -> Result<Vec<String>, PolicyError> {
        let items = match value {
            Value::String(s) => vec![s.clone()],
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid(format!("{only} must be strings.")))?,
            _ => {
                return Err(invalid(format!(
                    "{only} must be a string or a list of strings."
                )));
            }
        };
        Ok(items)
    };
    match (object.get(only), object.get(all_but)) {
        (Some(value), None) => Ok(Patterns::Only(list(value)?)),
        (None, Some(value)) => Ok(Patterns::AllBut(list(value)?)),
        (Some(_), Some(_)) => Err(invalid(format!(
            "Statement must not have both {only} and {all_but}."
        ))),
        (None, None) => Err(invalid(format!(
            "Policy statement must contain {}.",
            only.to_lowercase() + "s"
        ))),
    }
}

/// IAM's evaluation within one account over every policy of a principal.
pub fn evaluate<'a>(
    policies: impl IntoIterator<Item = &'a Policy>,
    action: &str,
    resource: &str,
) -> Decision {
    let mut allowed = false;
    for statement in policies.into_iter().flat_map(|p| &p.statements) {
        let applies = matches_any(&statement.actions, action, true)
            && matches_any(&statement.resources, resource, false);
        match (applies, statement.effect) {
            (true, Effect::Deny) => return Decision::ExplicitDeny,
            (true, Effect::Allow) => allowed = true,
            (false, _) => {}
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn matches_any(patterns: &Patterns, value: &str, ignore_case: bool) -> bool {
    let any = |list: &[String]| list.iter().any(|p| wildcard_match(p, value, ignore_case));
    match patterns {
        Patterns::Only(list) => any(list),
        Patterns::AllBut(list) => !any(list),
    }
}

/// Whether `pattern` (`*` any run, `?` any one character) matches all of `value`.
pub fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let fold = |c: char| {
        if ignore_case {
            c.to_ascii_lowercase()
        } else {
            c
        }
    };
    let pattern: Vec<char> = pattern.chars().map(fold).collect();
    let value: Vec<char> = value.chars().map(fold).collect();
    // Greedy matching with one backtrack point (the last `*`): linear in practice, and never
    // exponential on hostile patterns.
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            p = star_p + 1;
            v = star_v + 1;
            star = Some((star_p, star_v + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// The characters of `document` IAM counts against [`MAX_USER_POLICY_CHARS`]: all but
/// whitespace.
pub fn counted_chars(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(document: &str) -> Policy {
        Policy::parse(document).unwrap()
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        for (pattern, value, ignore_case, expected) in [
            ("*", "", false, true),
            ("ecs:Describe*", "ecs:DescribeTasks", true, true),
            ("ecs:describe*", "ecs:DescribeTasks", true, true),
            ("ecs:Describe*", "ecs:ListTasks", true, false),
            ("ecs:?istTasks", "ecs:ListTasks", true, true),
            (
                "arn:aws:ecs:*:111122223333:cluster/prod-*",
                "arn:aws:ecs:us-east-1:111122223333:cluster/prod-web",
                false,
                true,
            ),
            (
                "arn:aws:ecs:*:111122223333:cluster/Prod-*",
                "arn:aws:ecs:us-east-1:111122223333:cluster/prod-web",
                false,
                false,
            ),
            ("a*b*c", "aXbYc", false, true),
            ("a*b*c", "aXbY", false, false),
            ("**", "anything", false, true),
            ("a?", "a", false, false),
        ] {
            assert_eq!(
                wildcard_match(pattern, value, ignore_case),
                expected,
                "{pattern} vs {value}"
            );
        }
    }

    #[test]
    fn an_explicit_deny_wins_and_nothing_is_allowed_by_default() {
        let readers = policy(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":["ecs:Describe*","ecs:List*"],"Resource":"*"},
                {"Effect":"Deny","Action":"ecs:DescribeTasks","Resource":"arn:aws:ecs:*:*:task/secret/*"}]}"#,
        );
        assert_eq!(readers.evaluate("ecs:ListClusters", "*"), Decision::Allow);
        assert_eq!(readers.evaluate("ecs:RunTask", "*"), Decision::ImplicitDeny);
        assert_eq!(
            readers.evaluate(
                "ecs:DescribeTasks",
                "arn:aws:ecs:us-east-1:1:task/secret/abc"
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            readers.evaluate(
                "ecs:DescribeTasks",
                "arn:aws:ecs:us-east-1:1:task/public/abc"
            ),
            Decision::Allow
        );
        let all_but_iam =
            policy(r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#);
        assert_eq!(all_but_iam.evaluate("ecs:RunTask", "*"), Decision::Allow);
        assert_eq!(
            all_but_iam.evaluate("iam:CreateUser", "*"),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate([], "ecs:ListClusters", "*"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn malformed_documents_say_why() {
        for (document, needle) in [
            ("not json", "Syntax errors"),
            ("[]", "Syntax errors"),
            (r#"{"Version":"2012-10-17"}"#, "at least one Statement"),
            (
                r#"{"Version":"2020-01-01","Statement":[]}"#,
                "legacy parsing",
            ),
            (
                r#"{"Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}"#,
                "'Allow' or 'Deny'",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"RunTask","Resource":"*"}]}"#,
                "prefaced by a vendor",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"cluster/x"}]}"#,
                "ARN format",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*"}]}"#,
                "must contain resources",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Principal":"*"}]}"#,
                "principal",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}"#,
                "Condition",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"*","Resource":"*"}]}"#,
                "both",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":[1],"Resource":"*"}]}"#,
                "strings",
            ),
        ] {
            let error = Policy::parse(document).unwrap_err();
            assert!(error.to_string().contains(needle), "{document}: {error}");
        }
        assert_eq!(counted_chars("{ \"a\" :\n 1 }"), 7);
    }
}
