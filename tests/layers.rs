//! The shape of the server crate, checked: every module imports only the layers below its own,
//! and no files import each other in a circle.
//!
//! This reads `src/` as text (use trees and `crate::`/`super::` paths, outside `#[cfg(test)]`
//! modules) and builds the module graph. `cargo test --test layers -- --nocapture` prints it:
//! each top-level module with the modules it imports. docs/architecture.md explains the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which top-level modules each may import (besides itself). Lower layers first; a module not
/// listed here fails the test, so a new one must be placed.
const ALLOWED: &[(&str, &[&str])] = &[
    // The vocabulary every layer shares.
    ("protocol", &[]),
    ("config", &["protocol"]),
    // The allocation counters of a counting build, which metrics reports.
    ("allocations", &[]),
    ("metrics", &["allocations"]),
    ("telemetry", &[]),
    ("tls", &[]),
    // What the operations are built from.
    ("auth", &["config", "protocol"]),
    ("store", &["config", "metrics", "protocol"]),
    ("bus", &["metrics", "protocol"]),
    ("sfu", &["metrics", "protocol"]),
    ("files", &["config", "protocol"]),
    ("push", &["config", "protocol"]),
    ("embeds", &["files", "protocol"]),
    // Every operation and its rules; the only door to the store.
    (
        "service",
        &[
            "auth", "bus", "config", "embeds", "files", "metrics", "protocol", "push", "sfu",
            "store",
        ],
    ),
    // The transports. The HTTP router hands upgraded sockets to the hub; the hub never
    // imports http.
    ("hub", &["bus", "metrics", "protocol", "service", "sfu"]),
    (
        "http",
        &["bus", "files", "hub", "metrics", "protocol", "service"],
    ),
];

/// The crate root (`lib.rs`, `main.rs`) wires everything and may import anything.
const ROOT: &str = "<root>";

struct Module {
    /// `hub::session::chat`, or [`ROOT`].
    path: String,
    file: PathBuf,
    source: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // `src/bin` holds other binaries' crates, not modules of this one.
            if path.file_name().is_some_and(|n| n == "bin") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`.
fn module_path(file: &Path) -> String {
    let rel = file.strip_prefix(src_dir()).unwrap_or(file);
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        return ROOT.to_owned();
    }
    parts.join("::")
}

/// The source without comments, string literals and `#[cfg(test)]` items.
fn code_of(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &source[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            out.push_str("\"\"");
            i += (j + 1).min(rest.len());
        } else if rest.starts_with("#[cfg(test)]") {
            i += skip_item(rest);
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The length of the item an attribute at the start of `rest` applies to (up to its `;` or the
/// brace closing its body).
fn skip_item(rest: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            ';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    rest.len()
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or("").trim().to_owned()];
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand)
        .map(|p| match p.as_str() {
            "self" => prefix.to_owned(),
            _ if prefix.is_empty() => p,
            _ => format!("{prefix}::{p}"),
        })
        .collect()
}

/// Every path the code names through `crate::`, `super::` or `self::`, with use trees expanded.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before_ok = at == 0
            || !rest.as_bytes()[at - 1].is_ascii_alphanumeric() && rest.as_bytes()[at - 1] != b'_';
        let tail = &rest[at + 4..];
        let end = tail.find(';').unwrap_or(tail.len());
        if before_ok {
            paths.extend(expand(&tail[..end]));
        }
        rest = &tail[end.min(tail.len())..];
    }
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(anchor) {
            let start = from + at;
            let path: String = code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(path.trim_end_matches(':').to_owned());
            from = start + anchor.len();
        }
    }
    paths
}

/// The module a path leads to: the longest prefix that is a module of the crate. `from` is the
/// module naming it; `from_is_dir` says whether it can have child modules (a folder's `mod.rs`,
/// or the crate root), which a path may then name without `self::`.
fn resolve(
    path: &str,
    from: &str,
    from_is_dir: bool,
    modules: &BTreeSet<String>,
) -> Option<String> {
    let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let base: Vec<String> = if from == ROOT {
        Vec::new()
    } else {
        from.split("::").map(str::to_owned).collect()
    };
    let first = *segments.first()?;
    let mut absolute: Vec<String> = match first {
        "crate" => Vec::new(),
        "super" | "self" => base.clone(),
        _ if from_is_dir => {
            let mut child = base.clone();
            child.push(first.to_owned());
            if !modules.contains(&child.join("::")) {
                return None;
            }
            base.clone()
        }
        _ => return None,
    };
    let skip = usize::from(first == "crate" || first == "self");
    for s in &segments[skip..] {
        match *s {
            "super" => {
                absolute.pop();
            }
            "self" => {}
            _ => absolute.push((*s).to_owned()),
        }
    }
    while !absolute.is_empty() {
        let candidate = absolute.join("::");
        if modules.contains(&candidate) {
            return Some(candidate);
        }
        absolute.pop();
    }
    None
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn load() -> (Vec<Module>, BTreeMap<String, BTreeSet<String>>) {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    let modules: Vec<Module> = files
        .into_iter()
        .map(|file| Module {
            path: module_path(&file),
            source: std::fs::read_to_string(&file).unwrap_or_default(),
            file,
        })
        .collect();
    let names: BTreeSet<String> = modules.iter().map(|m| m.path.clone()).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &modules {
        let is_dir = m.file.file_name().is_some_and(|n| n == "mod.rs") || m.path == ROOT;
        let code = code_of(&m.source);
        let entry = edges.entry(m.path.clone()).or_default();
        for p in named_paths(&code) {
            if let Some(to) = resolve(&p, &m.path, is_dir, &names)
                && to != m.path
            {
                entry.insert(to);
            }
        }
    }
    (modules, edges)
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let (_, edges) = load();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut graph: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for (from, tos) in &edges {
        if from == ROOT {
            continue;
        }
        let Some(may) = allowed.get(top(from)) else {
            wrong.push(format!("{from}: its layer is not named in tests/layers.rs"));
            continue;
        };
        for to in tos {
            let (a, b) = (top(from), top(to));
            if a == b {
                continue;
            }
            graph.entry(a).or_default().insert(b);
            if !may.contains(&b) {
                wrong.push(format!("{from} imports {to}"));
            }
        }
    }
    for (module, imports) in &graph {
        println!(
            "{module:>9} -> {}",
            imports.iter().copied().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let (_, edges) = load();
    // A child module naming its ancestor (`super::Session` in a handler of the session driver)
    // is containment, not a dependency between peers; every other edge counts.
    let is_ancestor = |from: &str, to: &str| from.starts_with(&format!("{to}::"));
    let graph: BTreeMap<&str, Vec<&str>> = edges
        .iter()
        .map(|(from, tos)| {
            let peers = tos
                .iter()
                .map(String::as_str)
                .filter(|to| !is_ancestor(from, to) && *to != ROOT)
                .collect();
            (from.as_str(), peers)
        })
        .collect();
    let circles = strongly_connected(&graph);
    let circles: Vec<String> = circles
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.join(" <-> "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

/// Tarjan's strongly connected components.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(v: &'a str, g: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in g.get(v).map(Vec::as_slice).unwrap_or(&[]) {
            if !s.index.contains_key(w) {
                visit(w, g, s);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort();
            s.out.push(component);
        }
    }
    let mut s = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for &v in graph.keys() {
        if !s.index.contains_key(v) {
            visit(v, graph, &mut s);
        }
    }
    s.out
}

#[test]
fn the_reader_finds_imports_in_use_trees_and_paths() {
    let code = code_of(
        "use crate::{bus::{Bus, Event}, protocol::ws};\n// use crate::hub;\nfn f() { crate::metrics::error(\"crate::store\"); }\n#[cfg(test)]\nmod tests { use crate::sfu; }\n",
    );
    let mut paths = named_paths(&code);
    paths.sort();
    paths.dedup();
    assert!(paths.contains(&"crate::bus::Bus".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"crate::protocol::ws".to_owned()),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"crate::metrics::error".to_owned()),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.contains("hub") || p.contains("store") || p.contains("sfu")),
        "{paths:?}"
    );
    let modules: BTreeSet<String> = ["hub", "hub::session", "hub::session::chat"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        resolve("super::Session", "hub::session::chat", false, &modules).as_deref(),
        Some("hub::session")
    );
    assert_eq!(
        resolve("super::registry::Registry", "hub::session", true, &modules).as_deref(),
        Some("hub")
    );
}
