//! `nextToken`/`maxResults` pagination shared by every List operation: a token is the hex of
//! the last sort key returned, so a page resumes exactly after it even when items were added
//! or removed in between.

/// What a list request asks for.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// The token from the previous page.
    pub next_token: Option<String>,
    /// Page size asked for.
    pub max_results: Option<i32>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// No items and no further pages.
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next_token: None,
        }
    }
}

/// Why a page cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// maxResults outside 1–limit.
    #[error("maxResults must be between 1 and {limit}; {given} was given.")]
    MaxResults {
        /// What was asked.
        given: i32,
        /// The operation's largest page.
        limit: usize,
    },
    /// A token this server did not hand out.
    #[error("The nextToken is not valid: pass the nextToken of the previous response unchanged.")]
    InvalidToken,
}

impl PageRequest {
    /// A request for the page after `next_token`, of at most `max_results` items.
    pub fn new(next_token: Option<String>, max_results: Option<i32>) -> Self {
        Self {
            next_token,
            max_results,
        }
    }

    /// Pages `items` (already sorted by `sort_key`, ascending or descending as `descending`
    /// says) with at most `limit` per page, `limit` also being the default.
    pub fn apply<T>(
        &self,
        items: Vec<T>,
        sort_key: impl Fn(&T) -> &[u8],
        descending: bool,
        limit: usize,
    ) -> Result<Page<T>, PageError> {
        let size = match self.max_results {
            None => limit,
            Some(n) if n >= 1 && (n as usize) <= limit => n as usize,
            Some(given) => return Err(PageError::MaxResults { given, limit }),
        };
        let after = self.next_token.as_deref().map(decode_token).transpose()?;
        let mut remaining = items.into_iter().filter(|item| match &after {
            None => true,
            Some(after) if descending => sort_key(item) < after.as_slice(),
            Some(after) => sort_key(item) > after.as_slice(),
        });
        let page: Vec<T> = remaining.by_ref().take(size).collect();
        let next_token = match (remaining.next(), page.last()) {
            (Some(_), Some(last)) => Some(encode_token(sort_key(last))),
            _ => None,
        };
        Ok(Page {
            items: page,
            next_token,
        })
    }
}

fn encode_token(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_token(token: &str) -> Result<Vec<u8>, PageError> {
    if token.is_empty() || !token.len().is_multiple_of(2) {
        return Err(PageError::InvalidToken);
    }
    (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or(PageError::InvalidToken)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(
        items: &[&'static str],
        token: Option<String>,
        max: Option<i32>,
        desc: bool,
    ) -> Page<&'static str> {
        PageRequest {
            next_token: token,
            max_results: max,
        }
        .apply(items.to_vec(), |s| s.as_bytes(), desc, 100)
        .unwrap()
    }

    #[test]
    fn walks_every_item_once_in_both_orders() {
        let asc = ["a", "b", "c", "d", "e"];
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let p = page(&asc, token, Some(2), false);
            seen.extend(p.items);
            token = p.next_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(seen, asc);

        let desc = ["e", "d", "c", "b", "a"];
        let first = page(&desc, None, Some(3), true);
        assert_eq!(first.items, ["e", "d", "c"]);
        let second = page(&desc, first.next_token, Some(3), true);
        assert_eq!((second.items, second.next_token), (vec!["b", "a"], None));
    }

    #[test]
    fn refuses_bad_sizes_and_tokens() {
        let request = |token: Option<&str>, max| PageRequest {
            next_token: token.map(Into::into),
            max_results: max,
        };
        let apply = |r: PageRequest| r.apply(vec!["a"], |s: &&str| s.as_bytes(), false, 100);
        assert_eq!(
            apply(request(None, Some(0))).unwrap_err(),
            PageError::MaxResults {
                given: 0,
                limit: 100
            }
        );
        assert!(apply(request(None, Some(101))).is_err());
        assert_eq!(
            apply(request(Some("xyz"), None)).unwrap_err(),
            PageError::InvalidToken
        );
        assert_eq!(
            apply(request(Some("zz"), None)).unwrap_err(),
            PageError::InvalidToken
        );
    }
}
