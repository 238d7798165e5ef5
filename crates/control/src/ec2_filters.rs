//! EC2's `Filter`s (`Name=vpc-id,Values=vpc-1,vpc-2`): a resource passes when, for every
//! filter, one of its values for that name matches one of the filter's values. Values may use
//! `*` and `?` wildcards, as EC2 allows.

use crate::ec2_error::{Ec2Code, Ec2Error};

/// One filter of a Describe request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// What to look at (`vpc-id`, `group-name`, ...).
    pub name: String,
    /// Accepted values.
    pub values: Vec<String>,
}

/// Whether a resource passes `filters`; `values_of(name)` gives its values for a filter name
/// and `None` for a name the resource kind has no filter for (an error, as in EC2).
pub fn passes(
    filters: &[Filter],
    values_of: impl Fn(&str) -> Option<Vec<String>>,
) -> Result<bool, Ec2Error> {
    for filter in filters {
        let Some(values) = values_of(&filter.name) else {
            return Err(Ec2Error::client(
                Ec2Code::InvalidParameterValue,
                format!("The filter '{}' is invalid", filter.name),
            ));
        };
        let hit = values
            .iter()
            .any(|value| filter.values.iter().any(|pattern| glob(pattern, value)));
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `*` is any run of characters, `?` any one character.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_ec2s_do() {
        assert!(glob("vpc-1", "vpc-1"));
        assert!(!glob("vpc-1", "vpc-12"));
        assert!(glob("vpc-*", "vpc-12"));
        assert!(glob("*-1?", "vpc-12"));
        assert!(glob("*", ""));
        assert!(!glob("a*b", "acbd"));
    }

    #[test]
    fn every_filter_must_pass_and_unknown_names_are_errors() {
        let filter = |name: &str, values: &[&str]| Filter {
            name: name.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        let values = |name: &str| match name {
            "vpc-id" => Some(vec!["vpc-1".to_string()]),
            "group-name" => Some(vec!["web".to_string()]),
            _ => None,
        };
        assert!(passes(&[], values).unwrap());
        assert!(passes(&[filter("vpc-id", &["vpc-2", "vpc-1"])], values).unwrap());
        assert!(
            !passes(
                &[filter("vpc-id", &["vpc-1"]), filter("group-name", &["db"])],
                values
            )
            .unwrap()
        );
        assert!(passes(&[filter("owner", &["x"])], values).is_err());
    }
}
