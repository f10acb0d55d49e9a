//! Families: after each file is checked on its own, `extends` links are followed (parents
//! before children). A cycle, a missing parent or an invalid parent is a diagnostic at the
//! child's `extends` value, and so is a placeholder that no ancestor declares.
//!
//! `validate`, [`Catalog`](crate::Catalog) and the registry's reload all use [`resolve`];
//! it only reads the facts each check kept ([`Links`]), so it is cheap enough to run over a
//! whole directory on every reload.

use std::collections::HashMap;
use std::path::Path;

use rayon::prelude::*;

use crate::diagnostic::{Code, Diagnostic, Related, Snippet};

/// What resolution needs to know of one file, kept by its check.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Links {
    /// The `extends` key, when present (and a valid id).
    pub extends: Option<ExtendsRef>,
    /// The variables the file declares in `[vars]`.
    pub vars: Vec<String>,
    /// Placeholders the file uses but does not declare: an ancestor must.
    pub pending: Vec<Pending>,
    /// Where the file writes its own `system_prompt` value (for the token budget).
    pub prompt: Option<crate::tokens::Place>,
}

/// Where a file names its parent.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExtendsRef {
    pub id: String,
    pub line: usize,
    pub column: usize,
    pub snippet: Option<Snippet>,
}

/// A placeholder waiting for an ancestor to declare it, with its diagnostic ready.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    pub name: String,
    pub diagnostic: Diagnostic,
    /// How many more times the file uses the same name (reported once, with the count).
    pub more: usize,
}

/// One file as the resolver sees it.
#[derive(Clone, Copy)]
pub(crate) struct Node<'a> {
    pub path: &'a Path,
    pub id: Option<&'a str>,
    pub links: &'a Links,
    /// Whether the file is valid on its own.
    pub valid: bool,
}

/// The outcome of resolving every file.
#[derive(Debug, Default)]
pub(crate) struct Families {
    /// For each node: resolved (`true`) or not (invalid, or its family is broken).
    pub ok: Vec<bool>,
    /// For each resolved node with `extends`: the node it was resolved on.
    pub parent: Vec<Option<usize>>,
    /// The resolved nodes, every parent before its children.
    pub order: Vec<usize>,
    /// The problems of families (`extends.*`, `vars.undeclared`), by node.
    pub diagnostics: Vec<(usize, Diagnostic)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unvisited,
    /// On the walk's stack, looking at its parent's files from this position.
    OnStack,
    Done(bool),
}

/// Fewer nodes than this in one level are stepped on the calling thread: handing them to
/// other cores would cost more than the work (an incremental reload touches a few files).
const PARALLEL_LEVEL: usize = 16;

impl Families {
    /// Runs `step` on every resolved node, parents before children: the roots first, then
    /// their children, and so on, the nodes of one level on all cores. `step(v, parent)`
    /// gets the output of `v`'s parent (`None` when `v` has none, or when its parent's step
    /// gave `None`) and gives `v`'s; nodes that did not resolve stay `None`. Merging a family
    /// and checking each merged persona's budget both go through it, so that the expensive
    /// part of each node (counting tokens, hashing a revision) runs in parallel while every
    /// child still sees its parent's final outcome.
    pub(crate) fn by_levels<T, F>(&self, step: F) -> Vec<Option<T>>
    where
        T: Send + Sync,
        F: Fn(usize, Option<&T>) -> Option<T> + Sync,
    {
        let n = self.parent.len();
        let mut depth = vec![0usize; n];
        let mut levels: Vec<Vec<usize>> = Vec::new();
        for &v in &self.order {
            let d = self.parent[v].map_or(0, |p| depth[p] + 1);
            depth[v] = d;
            if levels.len() <= d {
                levels.resize_with(d + 1, Vec::new);
            }
            levels[d].push(v);
        }
        let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(n).collect();
        for level in &levels {
            let run = |v: usize| (v, step(v, self.parent[v].and_then(|p| out[p].as_ref())));
            let results: Vec<(usize, Option<T>)> = if level.len() < PARALLEL_LEVEL {
                level.iter().map(|&v| run(v)).collect()
            } else {
                level.par_iter().map(|&v| run(v)).collect()
            };
            for (v, r) in results {
                out[v] = r;
            }
        }
        out
    }
}

/// Resolves every node. Nodes are in load order: when two files define one id, the first
/// that resolves is the parent of that id's children.
pub(crate) fn resolve(nodes: &[Node<'_>]) -> Families {
    let n = nodes.len();
    let mut by_id: HashMap<&str, Vec<usize>, foldhash::fast::RandomState> =
        HashMap::with_capacity_and_hasher(n, foldhash::fast::RandomState::default());
    for (i, node) in nodes.iter().enumerate() {
        if let Some(id) = node.id {
            by_id.entry(id).or_default().push(i);
        }
    }
    let mut r = Families {
        ok: vec![false; n],
        parent: vec![None; n],
        order: Vec::with_capacity(n),
        diagnostics: Vec::new(),
    };
    let mut state = vec![State::Unvisited; n];
    let none: Vec<usize> = Vec::new();
    // An explicit stack (chains of any depth): (node, position among its parent's files).
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if state[root] != State::Unvisited {
            continue;
        }
        state[root] = State::OnStack;
        stack.push((root, 0));
        while let Some(&(v, pos)) = stack.last() {
            let node = nodes[v];
            // A file invalid on its own still has its family checked (every problem is
            // reported), but never resolves.
            let Some(ext) = &node.links.extends else {
                finish(&mut r, &mut state, &mut stack, nodes, v, None, true);
                continue;
            };
            let cands = by_id.get(ext.id.as_str()).unwrap_or(&none);
            if cands.is_empty() {
                let d = at_extends(
                    node.path,
                    ext,
                    Code::ExtendsMissing,
                    format!("`extends`: no persona `{}`", ext.id),
                )
                .with_hint(
                    "the parent is the id of another persona file (its file name without `.toml`)",
                );
                r.diagnostics.push((v, d));
                finish(&mut r, &mut state, &mut stack, nodes, v, None, false);
                continue;
            }
            let mut next = pos;
            let mut step = None;
            while next < cands.len() {
                let c = cands[next];
                match state[c] {
                    State::Done(true) => {
                        step = Some(Step::Resolved(c));
                        break;
                    }
                    State::Done(false) => next += 1,
                    State::OnStack => {
                        step = Some(Step::Cycle(c));
                        break;
                    }
                    State::Unvisited => {
                        step = Some(Step::Visit(c));
                        break;
                    }
                }
            }
            if let Some(top) = stack.last_mut() {
                top.1 = next;
            }
            match step {
                Some(Step::Resolved(p)) => {
                    finish(&mut r, &mut state, &mut stack, nodes, v, Some(p), true);
                }
                Some(Step::Visit(c)) => {
                    state[c] = State::OnStack;
                    stack.push((c, 0));
                }
                Some(Step::Cycle(c)) => {
                    let k = stack.iter().rposition(|&(s, _)| s == c).unwrap_or(0);
                    let members: Vec<usize> = stack[k..].iter().map(|&(s, _)| s).collect();
                    stack.truncate(k);
                    for (j, &m) in members.iter().enumerate() {
                        let chain: Vec<&str> = members[j..]
                            .iter()
                            .chain(&members[..=j])
                            .map(|&x| nodes[x].id.unwrap_or("?"))
                            .collect();
                        if let Some(ext) = &nodes[m].links.extends {
                            let d = at_extends(
                                nodes[m].path,
                                ext,
                                Code::ExtendsCycle,
                                format!("`extends` forms a cycle: {}", chain.join(" → ")),
                            )
                            .with_hint("a persona cannot inherit from itself, directly or through its parents");
                            r.diagnostics.push((m, d));
                        }
                        state[m] = State::Done(false);
                    }
                }
                None => {
                    // Every file of the parent id failed.
                    let first = cands[0];
                    let mut d = at_extends(
                        node.path,
                        ext,
                        Code::ExtendsInvalidParent,
                        format!("`extends`: the parent persona `{}` is invalid", ext.id),
                    )
                    .with_hint(
                        "fix the parent first (`personactl validate` lists its problems); until then this persona is left out",
                    );
                    d.related.push(Related {
                        path: nodes[first].path.to_path_buf(),
                        line: 1,
                        column: 1,
                        message: "the parent is defined here".into(),
                    });
                    r.diagnostics.push((v, d));
                    finish(&mut r, &mut state, &mut stack, nodes, v, None, false);
                }
            }
        }
    }
    r
}

enum Step {
    Resolved(usize),
    Visit(usize),
    Cycle(usize),
}

/// Ends node `v` (the top of the stack): on success, its pending placeholders are checked
/// against its ancestors' `[vars]`.
fn finish(
    r: &mut Families,
    state: &mut [State],
    stack: &mut Vec<(usize, usize)>,
    nodes: &[Node<'_>],
    v: usize,
    parent: Option<usize>,
    family_ok: bool,
) {
    let mut ok = family_ok;
    stack.pop();
    if ok {
        let mut listed = 0;
        let mut unlisted: Option<(Diagnostic, usize)> = None;
        for pending in &nodes[v].links.pending {
            let mut up = parent;
            let mut declared = false;
            while let Some(p) = up {
                if nodes[p].links.vars.contains(&pending.name) {
                    declared = true;
                    break;
                }
                up = r.parent[p];
            }
            if !declared {
                ok = false;
                // Bounded like every file's diagnostics: the first few, then a count.
                if listed == crate::bounded::MAX_REPEATS {
                    let (_, n) = unlisted.get_or_insert_with(|| (pending.diagnostic.clone(), 0));
                    *n += 1;
                    continue;
                }
                listed += 1;
                let mut d = pending.diagnostic.clone();
                if pending.more > 0 {
                    d.message
                        .push_str(&format!(" (and {} more uses of it)", pending.more));
                }
                r.diagnostics.push((v, d));
            }
        }
        if let Some((mut d, n)) = unlisted {
            d.message = format!("and {n} more undeclared variables like it");
            d.snippet = None;
            r.diagnostics.push((v, d));
        }
    }
    let ok = ok && nodes[v].valid;
    r.ok[v] = ok;
    if ok {
        r.parent[v] = parent;
        r.order.push(v);
    }
    state[v] = State::Done(ok);
}

fn at_extends(path: &Path, ext: &ExtendsRef, code: Code, message: String) -> Diagnostic {
    let mut d = Diagnostic::file_error(path, code, message);
    d.line = ext.line;
    d.column = ext.column;
    d.snippet.clone_from(&ext.snippet);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn links(extends: Option<&str>) -> Links {
        Links {
            extends: extends.map(|id| ExtendsRef {
                id: id.to_owned(),
                line: 2,
                column: 11,
                snippet: None,
            }),
            ..Links::default()
        }
    }

    fn run(graph: &[(&str, Option<&str>, bool)]) -> (Vec<bool>, Vec<(String, &'static str)>) {
        let paths: Vec<PathBuf> = graph
            .iter()
            .map(|(id, _, _)| PathBuf::from(format!("{id}.toml")))
            .collect();
        let ls: Vec<Links> = graph.iter().map(|(_, e, _)| links(*e)).collect();
        let nodes: Vec<Node<'_>> = graph
            .iter()
            .enumerate()
            .map(|(i, (id, _, valid))| Node {
                path: &paths[i],
                id: Some(id),
                links: &ls[i],
                valid: *valid,
            })
            .collect();
        let r = resolve(&nodes);
        let mut diags: Vec<(String, &'static str)> = r
            .diagnostics
            .iter()
            .map(|(i, d)| (graph[*i].0.to_owned(), d.code.as_str()))
            .collect();
        diags.sort();
        // Parents come before children in `order`.
        let mut at = vec![usize::MAX; graph.len()];
        for (pos, &v) in r.order.iter().enumerate() {
            at[v] = pos;
        }
        for &v in &r.order {
            if let Some(p) = r.parent[v] {
                assert!(at[p] < at[v]);
            }
        }
        (r.ok, diags)
    }

    #[test]
    fn chains_resolve_in_any_file_order() {
        let (ok, diags) = run(&[
            ("c", Some("b"), true),
            ("b", Some("a"), true),
            ("a", None, true),
        ]);
        assert_eq!(ok, [true, true, true]);
        assert!(diags.is_empty());
    }

    #[test]
    fn cycles_of_one_two_three() {
        let (ok, diags) = run(&[("a", Some("a"), true)]);
        assert_eq!(
            (ok, diags),
            (vec![false], vec![("a".into(), "extends.cycle")])
        );
        let (_, diags) = run(&[("a", Some("b"), true), ("b", Some("a"), true)]);
        assert_eq!(
            diags,
            [("a".into(), "extends.cycle"), ("b".into(), "extends.cycle")]
        );
        let (_, diags) = run(&[
            ("x", Some("a"), true),
            ("a", Some("b"), true),
            ("b", Some("c"), true),
            ("c", Some("a"), true),
        ]);
        assert_eq!(
            diags,
            [
                ("a".into(), "extends.cycle"),
                ("b".into(), "extends.cycle"),
                ("c".into(), "extends.cycle"),
                ("x".into(), "extends.invalid-parent"),
            ]
        );
    }

    #[test]
    fn missing_and_invalid_parents_break_the_family_below() {
        let (ok, diags) = run(&[
            ("a", Some("nobody"), true),
            ("b", Some("a"), true),
            ("c", Some("d"), true),
            ("d", None, false),
        ]);
        assert_eq!(ok, [false, false, false, false]);
        assert_eq!(
            diags,
            [
                ("a".into(), "extends.missing"),
                ("b".into(), "extends.invalid-parent"),
                ("c".into(), "extends.invalid-parent"),
            ]
        );
    }

    #[test]
    fn a_deep_chain_does_not_overflow_the_stack() {
        let ids: Vec<String> = (0..50_000).map(|i| format!("p{i}")).collect();
        let graph: Vec<(&str, Option<&str>, bool)> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), (i > 0).then(|| ids[i - 1].as_str()), true))
            .rev()
            .collect();
        let (ok, diags) = run(&graph);
        assert!(ok.iter().all(|&b| b) && diags.is_empty());
    }
}
