//! Property tests of the input readers: random JSON Lines (junk, blank lines, CRLF, invalid
//! UTF-8) and random CSV (quotes, commas and line breaks in fields, numbers, ragged rows), read
//! into a list. Every line or row that is an input becomes exactly one, in order, with the
//! line it came from; nothing panics; a CSV row that cannot be read stops the reading with an
//! error naming the file, after the rows before it.

use std::io::Cursor;

use compact_str::CompactString;
use mpwasm::TaskIndex;
use proptest::prelude::*;
use serde_json::Value as Json;

use super::inputs::{LineMap, Sink, csv_field, feed_csv, feed_lines};

/// How many cases each property runs: `$PROPTEST_CASES` when set, else `default`.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// Collects what a reader offers.
#[derive(Default)]
struct Collected(Vec<String>);

impl Sink for Collected {
    fn next_index(&self) -> u64 {
        self.0.len() as u64
    }

    fn offer(&mut self, input: CompactString) -> Option<()> {
        self.0.push(input.into());
        Some(())
    }

    fn flush(&mut self) {}
}

/// One line of a JSON Lines file.
#[derive(Debug, Clone)]
enum Line {
    /// A JSON value.
    Value(Json),
    /// Text that is not (all) JSON.
    Junk(String),
    /// Whitespace only.
    Blank(String),
    /// Bytes that are not UTF-8.
    Binary(Vec<u8>),
}

fn json_value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        "[a-z \"\\\\é]{0,12}".prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => json_value().prop_map(Line::Value),
        1 => "[^\n\r]{1,20}".prop_map(Line::Junk),
        1 => "[ \t]{0,3}".prop_map(Line::Blank),
        // 0xff is never part of UTF-8.
        1 => prop::collection::vec(0x80u8..=0xff, 0..6).prop_map(|mut b| {
            b.insert(0, 0xff);
            Line::Binary(b)
        }),
    ]
}

/// A CSV field: numbers, booleans, and text with the characters that need quoting.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        Just("true".to_string()),
        "[a-z ,\"\n]{0,8}",
    ]
}

/// `field` as CSV writes it: quoted when it holds a comma, a quote or a line break.
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n']) || field.trim() != field {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(300), ..ProptestConfig::default() })]

    #[test]
    fn every_json_line_that_is_an_input_becomes_one_with_its_line(
        lines in prop::collection::vec(line(), 0..40),
        crlf in any::<bool>(),
        last_newline in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        let mut want: Vec<(Option<String>, u64)> = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let number = i as u64 + 1;
            match line {
                Line::Value(v) => {
                    let text = v.to_string();
                    bytes.extend_from_slice(text.as_bytes());
                    want.push((Some(text), number));
                }
                Line::Junk(text) => {
                    bytes.extend_from_slice(text.as_bytes());
                    let trimmed = text.trim();
                    if !trimmed.is_empty() {
                        want.push((Some(trimmed.to_string()), number));
                    }
                }
                Line::Blank(text) => bytes.extend_from_slice(text.as_bytes()),
                Line::Binary(raw) => {
                    bytes.extend_from_slice(raw);
                    want.push((None, number));
                }
            }
            if i + 1 < lines.len() || last_newline {
                bytes.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
        }
        let lines_map = LineMap::default();
        let mut got = Collected::default();
        let error = feed_lines(Box::new(Cursor::new(bytes)), &lines_map, false, &mut got);
        let inputs = got.0;
        prop_assert!(error.is_none(), "{:?}", error);
        prop_assert_eq!(inputs.len(), want.len());
        for (i, (input, (text, number))) in inputs.iter().zip(&want).enumerate() {
            match text {
                Some(text) => prop_assert_eq!(input, text),
                // Bytes that are not UTF-8 go as text the worker refuses, naming the line.
                None => prop_assert_eq!(input, &format!("invalid UTF-8 in line {number}")),
            }
            prop_assert_eq!(lines_map.line_of(TaskIndex(i as u64)), *number, "input {}", i);
        }
    }

    #[test]
    fn every_csv_row_becomes_one_input_with_its_line_until_a_ragged_row(
        rows in prop::collection::vec(prop::collection::vec(field(), 3), 0..25),
        ragged in prop::option::of((0usize..25, 1usize..5)),
        header in any::<bool>(),
    ) {
        let mut rows = rows;
        // A row with another number of fields, somewhere: the readable rows before it are
        // inputs, then the feed stops, naming the file.
        // (Without a header the first row sets the width, so it cannot be the odd one.)
        let ragged_at = ragged
            .filter(|(at, width)| *at < rows.len() && (*at > 0 || header) && *width != 3)
            .map(|(at, width)| {
                rows[at] = (0..width).map(|n| n.to_string()).collect();
                at
            });
        let names = ["a", "b", "c"];
        let mut text = String::new();
        let mut line = 1u64;
        if header {
            text.push_str("a,b,c\n");
            line += 1;
        }
        let mut starts = Vec::new();
        for row in &rows {
            starts.push(line);
            let written: Vec<String> = row.iter().map(|f| quoted(f)).collect();
            let joined = written.join(",");
            line += joined.matches('\n').count() as u64 + 1;
            text.push_str(&joined);
            text.push('\n');
        }
        let lines_map = LineMap::default();
        let mut got = Collected::default();
        let error = feed_csv(Box::new(Cursor::new(text.into_bytes())), &lines_map, header, &mut got);
        let inputs = got.0;
        let good = ragged_at.unwrap_or(rows.len());
        prop_assert_eq!(inputs.len(), good);
        match ragged_at {
            Some(_) => prop_assert!(
                error.as_deref().is_some_and(|e| e.starts_with("error reading CSV")),
                "{:?}", error
            ),
            None => prop_assert!(error.is_none(), "{:?}", error),
        }
        for (i, input) in inputs.iter().enumerate() {
            let value: Json = serde_json::from_str(input).expect("an input is JSON");
            let fields: Vec<&Json> = match &value {
                Json::Object(map) => names.iter().map(|n| &map[*n]).collect(),
                Json::Array(items) => items.iter().collect(),
                other => panic!("a row became {other}"),
            };
            prop_assert_eq!(fields.len(), 3);
            for (got, original) in fields.iter().zip(&rows[i]) {
                let want = csv_field(original);
                prop_assert_eq!(*got, &want, "row {} field {:?}", i, original);
            }
            prop_assert_eq!(lines_map.line_of(TaskIndex(i as u64)), starts[i], "row {}", i);
        }
    }
}
