//! The data of one job's shared store: keys with text or integer values, and named FIFO
//! queues, with the size they take counted against the job's limit. Plain data behind the
//! lock of [`super::SharedStore`]; every operation here is one atomic step.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value as Json};

/// The key `--shared-out` saves the queues under (queues left holding items only).
pub const QUEUES_KEY: &str = "mpwasm:queues";

/// A value under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// Set as text.
    Text(String),
    /// Made by `incr` (or seeded as a JSON integer).
    Int(i64),
}

impl Stored {
    fn size(&self) -> u64 {
        match self {
            Stored::Text(text) => text.len() as u64,
            // Its decimal text, as a broker stores it.
            Stored::Int(n) => n.to_string().len() as u64,
        }
    }

    /// The value as the guest sees it.
    pub(crate) fn text(&self) -> String {
        match self {
            Stored::Text(text) => text.clone(),
            Stored::Int(n) => n.to_string(),
        }
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Stored::Text(t) => t == text,
            Stored::Int(n) => text.parse::<i64>().is_ok_and(|t| t == *n),
        }
    }
}

/// What a write would do past the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooBig {
    /// The size the store would reach.
    pub(crate) would_be: u64,
}

/// The store's data.
#[derive(Debug, Default)]
pub(crate) struct Data {
    kv: BTreeMap<String, Stored>,
    queues: BTreeMap<String, VecDeque<String>>,
    /// Bytes held: every key and value, every queue name and item.
    bytes: u64,
}

impl Data {
    /// The bytes the store holds.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Number of keys, and of items in every queue.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.kv.len(), self.queues.values().map(VecDeque::len).sum())
    }

    fn room(&self, grow: u64, shrink: u64, limit: u64) -> Result<(), TooBig> {
        let would_be = self.bytes.saturating_sub(shrink).saturating_add(grow);
        if grow > shrink && would_be > limit {
            return Err(TooBig { would_be });
        }
        Ok(())
    }

    fn entry_size(key: &str, value: &Stored) -> u64 {
        key.len() as u64 + value.size()
    }

    fn put(&mut self, key: &str, value: Stored, limit: u64) -> Result<(), TooBig> {
        let grow = Data::entry_size(key, &value);
        let shrink = self.kv.get(key).map_or(0, |old| Data::entry_size(key, old));
        self.room(grow, shrink, limit)?;
        self.bytes = self.bytes - shrink + grow;
        self.kv.insert(key.to_string(), value);
        Ok(())
    }

    /// The value under `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Stored> {
        self.kv.get(key)
    }

    /// Stores text under `key`.
    pub(crate) fn set(&mut self, key: &str, value: String, limit: u64) -> Result<(), TooBig> {
        self.put(key, Stored::Text(value), limit)
    }

    /// Adds `delta` to the integer under `key` (0 when missing).
    ///
    /// # Errors
    /// A message when the value is not an integer or the sum overflows, or [`TooBig`].
    pub(crate) fn incr(&mut self, key: &str, delta: i64, limit: u64) -> Result<i64, IncrError> {
        let old = match self.kv.get(key) {
            None => 0,
            Some(Stored::Int(n)) => *n,
            Some(Stored::Text(text)) => text
                .trim()
                .parse::<i64>()
                .map_err(|_| IncrError::NotInteger(text.chars().take(40).collect()))?,
        };
        let new = old.checked_add(delta).ok_or(IncrError::Overflow { old })?;
        self.put(key, Stored::Int(new), limit)
            .map_err(IncrError::TooBig)?;
        Ok(new)
    }

    /// Removes `key`; whether it was there.
    pub(crate) fn delete(&mut self, key: &str) -> bool {
        match self.kv.remove(key) {
            Some(old) => {
                self.bytes -= Data::entry_size(key, &old);
                true
            }
            None => false,
        }
    }

    /// Makes `key` hold `new` if it holds `expected`; whether it did.
    pub(crate) fn compare_and_swap(
        &mut self,
        key: &str,
        expected: Option<&str>,
        new: Option<String>,
        limit: u64,
    ) -> Result<bool, TooBig> {
        let holds = match (self.kv.get(key), expected) {
            (None, None) => true,
            (Some(value), Some(expected)) => value.matches(expected),
            _ => false,
        };
        if !holds {
            return Ok(false);
        }
        match new {
            Some(value) => self.set(key, value, limit)?,
            None => {
                self.delete(key);
            }
        }
        Ok(true)
    }

    /// The keys starting with `prefix`, sorted.
    pub(crate) fn keys(&self, prefix: &str) -> Vec<String> {
        self.kv
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Appends `value` to queue `name`.
    pub(crate) fn push(&mut self, name: &str, value: String, limit: u64) -> Result<(), TooBig> {
        let name_cost = if self.queues.contains_key(name) {
            0
        } else {
            name.len() as u64
        };
        let grow = value.len() as u64 + name_cost;
        self.room(grow, 0, limit)?;
        self.bytes += grow;
        self.queues
            .entry(name.to_string())
            .or_default()
            .push_back(value);
        Ok(())
    }

    /// Takes the oldest item of queue `name`.
    pub(crate) fn pop(&mut self, name: &str) -> Option<String> {
        let queue = self.queues.get_mut(name)?;
        let item = queue.pop_front()?;
        self.bytes -= item.len() as u64;
        if queue.is_empty() {
            self.queues.remove(name);
            self.bytes -= name.len() as u64;
        }
        Some(item)
    }

    /// Puts `item`, just taken from queue `name`, back at its front (no limit: it was there).
    pub(crate) fn unpop(&mut self, name: &str, item: String) {
        let queue = self.queues.entry(name.to_string()).or_insert_with(|| {
            self.bytes += name.len() as u64;
            VecDeque::new()
        });
        self.bytes += item.len() as u64;
        queue.push_front(item);
    }

    /// How many items queue `name` holds.
    pub(crate) fn len(&self, name: &str) -> u64 {
        self.queues.get(name).map_or(0, |q| q.len() as u64)
    }

    /// The store as a JSON object: every key (text as a string, an integer as a number), and
    /// the queues still holding items under [`QUEUES_KEY`].
    pub(crate) fn to_json(&self) -> Json {
        let mut object: Map<String, Json> = self
            .kv
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Stored::Text(text) => Json::String(text.clone()),
                    Stored::Int(n) => Json::from(*n),
                };
                (k.clone(), value)
            })
            .collect();
        if !self.queues.is_empty() {
            let queues = self
                .queues
                .iter()
                .map(|(name, items)| {
                    (
                        name.clone(),
                        Json::from(items.iter().cloned().collect::<Vec<_>>()),
                    )
                })
                .collect();
            object.insert(QUEUES_KEY.to_string(), Json::Object(queues));
        }
        Json::Object(object)
    }

    /// A store holding what `json` (as [`to_json`](Self::to_json) writes it) holds.
    ///
    /// # Errors
    /// A message naming the first key whose value is neither a string nor an integer.
    pub(crate) fn from_json(json: &Json, limit: u64) -> Result<Data, String> {
        let Json::Object(object) = json else {
            return Err(format!(
                "expected a JSON object of keys and values, got {}",
                kind(json)
            ));
        };
        let mut data = Data::default();
        let too_big = |e: TooBig| {
            format!(
                "it holds {} bytes, more than the store's limit of {limit}",
                e.would_be
            )
        };
        for (key, value) in object {
            if key == QUEUES_KEY {
                let Json::Object(queues) = value else {
                    return Err(format!(
                        "`{QUEUES_KEY}` must map queue names to lists of strings, got {}",
                        kind(value)
                    ));
                };
                for (name, items) in queues {
                    let items = items.as_array().ok_or_else(|| {
                        format!(
                            "queue `{name}` must be a list of strings, got {}",
                            kind(items)
                        )
                    })?;
                    for item in items {
                        let item = item.as_str().ok_or_else(|| {
                            format!("queue `{name}` holds {}, not a string", kind(item))
                        })?;
                        data.push(name, item.to_string(), limit).map_err(too_big)?;
                    }
                }
                continue;
            }
            let stored = match value {
                Json::String(text) => Stored::Text(text.clone()),
                Json::Number(n) => match n.as_i64() {
                    Some(n) => Stored::Int(n),
                    None => {
                        return Err(format!(
                            "key `{key}` holds {n}, which is not an integer that fits an s64"
                        ));
                    }
                },
                other => {
                    return Err(format!(
                        "key `{key}` holds {}: values must be strings or integers",
                        kind(other)
                    ));
                }
            };
            data.put(key, stored, limit).map_err(too_big)?;
        }
        Ok(data)
    }
}

/// Why `incr` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IncrError {
    /// The value there is text that is not an integer (its start).
    NotInteger(String),
    /// `old + delta` does not fit an s64.
    Overflow {
        /// The value there.
        old: i64,
    },
    /// The store would pass its limit.
    TooBig(TooBig),
}

fn kind(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BIG: u64 = u64::MAX;

    #[test]
    fn sizes_follow_every_write_and_the_limit_refuses_growth_only() {
        let mut data = Data::default();
        data.set("ab", "xyz".into(), 10).expect("fits");
        assert_eq!(data.bytes(), 5);
        assert_eq!(
            data.set("cd", "123456".into(), 10),
            Err(TooBig { would_be: 13 })
        );
        assert_eq!(data.bytes(), 5, "a refused write changes nothing");
        data.set("ab", "x".into(), 10).expect("shrinking fits");
        assert_eq!(data.bytes(), 3);
        data.push("q", "1234".into(), 10).expect("fits");
        assert_eq!(data.bytes(), 8);
        assert_eq!(data.pop("q").as_deref(), Some("1234"));
        assert_eq!(data.bytes(), 3, "an emptied queue gives its name back");
        assert!(data.delete("ab"));
        assert_eq!(data.bytes(), 0);
    }

    #[test]
    fn incr_counts_from_zero_and_refuses_text_and_overflow() {
        let mut data = Data::default();
        assert_eq!(data.incr("n", 5, BIG), Ok(5));
        assert_eq!(data.incr("n", -7, BIG), Ok(-2));
        data.set("t", "41".into(), BIG).expect("fits");
        assert_eq!(
            data.incr("t", 1, BIG),
            Ok(42),
            "text holding an integer counts"
        );
        data.set("w", "word".into(), BIG).expect("fits");
        assert_eq!(
            data.incr("w", 1, BIG),
            Err(IncrError::NotInteger("word".into()))
        );
        data.incr("m", i64::MAX, BIG).expect("fits");
        assert_eq!(
            data.incr("m", 1, BIG),
            Err(IncrError::Overflow { old: i64::MAX })
        );
    }

    #[test]
    fn compare_and_swap_and_keys() {
        let mut data = Data::default();
        assert_eq!(
            data.compare_and_swap("k", None, Some("a".into()), BIG),
            Ok(true)
        );
        assert_eq!(
            data.compare_and_swap("k", None, Some("b".into()), BIG),
            Ok(false)
        );
        assert_eq!(
            data.compare_and_swap("k", Some("a"), Some("b".into()), BIG),
            Ok(true)
        );
        assert_eq!(data.get("k"), Some(&Stored::Text("b".into())));
        data.incr("n", 3, BIG).expect("fits");
        assert_eq!(data.bytes(), 4, "`k`=`b`, and `n` with its decimal value");
        assert_eq!(data.compare_and_swap("n", Some("3"), None, BIG), Ok(true));
        assert_eq!(data.get("n"), None);
        for key in ["page:b", "page:a", "pager", "other"] {
            data.set(key, String::new(), BIG).expect("fits");
        }
        assert_eq!(data.keys("page:"), ["page:a", "page:b"]);
        assert_eq!(data.keys("").len(), 5);
    }

    #[test]
    fn json_round_trips_values_and_queues_and_names_bad_keys() {
        let json = json!({"a": "text", "n": 7, QUEUES_KEY: {"jobs": ["1", "2"]}});
        let data = Data::from_json(&json, BIG).expect("valid");
        assert_eq!(data.len("jobs"), 2);
        assert_eq!(data.to_json(), json);
        let bad = Data::from_json(&json!({"ok": "1", "bad": [1]}), BIG).expect_err("an array");
        assert!(bad.contains("key `bad` holds an array"), "{bad}");
        let float = Data::from_json(&json!({"f": 1.5}), BIG).expect_err("a float");
        assert!(float.contains("`f`"), "{float}");
        let big = Data::from_json(&json!({"k": "0123456789"}), 4).expect_err("too big");
        assert!(big.contains("limit of 4"), "{big}");
    }
}
