//! A model-based property test, for each backend: random links, unlinks, compactions and
//! reopenings through two handles, checked against a plain map after every step.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Project, entry};

#[derive(Debug, Clone)]
enum Op {
    Link(usize, usize),
    Unlink(usize),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..12usize, 0..4usize).prop_map(|(s, p)| Op::Link(s, p)),
        3 => (0..12usize).prop_map(Op::Unlink),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

const SESSIONS: [&str; 12] = [
    "a",
    "b",
    "c",
    "aa",
    "ab",
    "s-1",
    "S-1",
    "é",
    "🎭",
    "quote\"",
    "back\\slash",
    "a b",
];

/// Runs `ops` against a long-lived store and a one-shot one on the same backend, checking
/// both against a plain map after every step.
fn check_against_a_model(p: &Project, ops: &[Op]) -> Result<(), TestCaseError> {
    let catalog = p.catalog();
    let ids = ["coach", "therapist", "story-teller", "journaling-assistant"];
    let mut model: HashMap<&str, &str> = HashMap::new();
    let mut index = p.long_lived();
    let mut other = p.store();
    for (n, op) in ops.iter().enumerate() {
        match *op {
            Op::Link(s, id) => {
                // Alternate writers: the long-lived store and another handle.
                let writer = if n % 2 == 0 { &mut index } else { &mut other };
                writer.link(SESSIONS[s], entry(&catalog, ids[id])).unwrap();
                model.insert(SESSIONS[s], ids[id]);
            }
            Op::Unlink(s) => {
                let writer = if n % 2 == 0 { &mut index } else { &mut other };
                let was = writer.unlink(SESSIONS[s]).unwrap();
                prop_assert_eq!(was, model.remove(SESSIONS[s]).is_some());
            }
            Op::Compact => {
                index.compact().unwrap();
            }
            Op::Reopen => {
                index = p.long_lived();
            }
        }
        for s in SESSIONS {
            let want = model.get(s).copied();
            let got = index.get(s).unwrap().map(|l| l.persona.to_string());
            prop_assert_eq!(got.as_deref(), want, "long-lived, session {}", s);
            let got = other.get(s).unwrap().map(|l| l.persona.to_string());
            prop_assert_eq!(got.as_deref(), want, "one-shot, session {}", s);
        }
        let mut listed: Vec<(String, String)> = index
            .list(None)
            .unwrap()
            .into_iter()
            .map(|(s, l)| (s, l.persona.to_string()))
            .collect();
        let mut want: Vec<(String, String)> = model
            .iter()
            .map(|(s, p)| ((*s).to_owned(), (*p).to_owned()))
            .collect();
        want.sort();
        prop_assert!(listed.is_sorted(), "listed in session order");
        listed.sort();
        prop_assert_eq!(listed, want);
    }
    prop_assert_eq!(p.links().len(), model.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn file_random_links_unlinks_and_compactions_match_a_model(ops in prop::collection::vec(op(), 1..40)) {
        check_against_a_model(&Project::new(), &ops)?;
    }
}

#[cfg(feature = "postgres")]
proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn postgres_random_links_unlinks_and_compactions_match_a_model(ops in prop::collection::vec(op(), 1..40)) {
        check_against_a_model(&Project::postgres(), &ops)?;
    }
}
