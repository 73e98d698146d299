//! The routes the routers register, read from their source: each `.route(PATH, get(..)
//! .post(..))` call of the files that build routers, its path constant resolved from the
//! files that define them. The document must list exactly these operations.

use std::collections::{BTreeMap, BTreeSet};

use super::{METHODS, documented_operations, spec};

/// The files that build the HTTP routers: each Lambda function's (the inbox's apart), the local sandbox's, the
/// local server's operator API and the stack runner's sandbox.
const ROUTER_SOURCES: [(&str, &str); 5] = [
    (
        "shared/src/handlers/http.rs",
        include_str!("../../../../shared/src/handlers/http.rs"),
    ),
    (
        "shared/src/handlers/inbox/mod.rs",
        include_str!("../../../../shared/src/handlers/inbox/mod.rs"),
    ),
    (
        "shared/src/local/sandbox.rs",
        include_str!("../../../../shared/src/local/sandbox.rs"),
    ),
    (
        "shared/src/local/operator_api.rs",
        include_str!("../../../../shared/src/local/operator_api.rs"),
    ),
    (
        "stack/src/sandbox.rs",
        include_str!("../../../../stack/src/sandbox.rs"),
    ),
];

/// The files that define the route paths as `pub const NAME: &str = "...";`.
const PATH_SOURCES: [&str; 2] = [
    include_str!("../../../../shared/src/routes.rs"),
    include_str!("../../../../shared/src/local/sandbox_api.rs"),
];

fn path_constants() -> BTreeMap<String, String> {
    PATH_SOURCES
        .iter()
        .flat_map(|source| source.lines())
        .filter_map(|line| {
            let (name, value) = line
                .trim()
                .strip_prefix("pub const ")?
                .split_once(": &str = ")?;
            let value = value.trim_end_matches(';').trim_matches('"');
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// The text between the parenthesis that opens `source` and the one that closes it.
fn call_arguments(source: &str) -> &str {
    let mut depth = 1;
    for (at, c) in source.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 1 => return &source[..at],
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced call: {source}")
}

/// The HTTP methods a method router expression names at its top level
/// (`get(a).post(b)` → get, post).
fn methods_named(expression: &str) -> Vec<String> {
    let (mut depth, mut word, mut methods) = (0, String::new(), Vec::new());
    for c in expression.chars() {
        if depth == 0 && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
            continue;
        }
        if c == '(' && depth == 0 && METHODS.contains(&word.as_str()) {
            methods.push(word.clone());
        }
        word.clear();
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            _ => {}
        }
    }
    methods
}

/// `(method, path)` of every `.route(..)` call in `source`.
fn registered(source: &str, constants: &BTreeMap<String, String>) -> Vec<(String, String)> {
    source
        .match_indices(".route(")
        .flat_map(|(at, call)| {
            let arguments = call_arguments(&source[at + call.len()..]);
            let (path, router) = arguments.split_once(',').expect("route(path, router)");
            let path = path.trim();
            let path = match path.strip_prefix('"') {
                Some(literal) => literal.trim_end_matches('"').to_string(),
                None => constants
                    .get(path.rsplit("::").next().unwrap_or(path))
                    .unwrap_or_else(|| panic!("{path} is a path constant"))
                    .clone(),
            };
            methods_named(router)
                .into_iter()
                .map(move |m| (m, path.clone()))
        })
        .collect()
}

#[test]
fn every_registered_route_is_documented_and_every_documented_one_registered() {
    let constants = path_constants();
    let mut all = BTreeSet::new();
    for (file, source) in ROUTER_SOURCES {
        let routes = registered(source, &constants);
        assert!(!routes.is_empty(), "{file} registers routes");
        all.extend(routes);
    }
    let documented = documented_operations(&spec());
    let undocumented: Vec<_> = all.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&all).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "docs/openapi.yaml drifted from the routers:\n registered, not documented: \
         {undocumented:?}\n documented, not registered: {unserved:?}"
    );
}

#[test]
fn the_route_reader_reads_what_the_routers_write() {
    let constants = BTreeMap::from([("P".to_string(), "/p".to_string())]);
    let cases: [(&str, &[(&str, &str)]); 4] = [
        (
            r#"Router::new().route(P, post(inbound))"#,
            &[("post", "/p")],
        ),
        (
            r#".route(routes::P, get(list).post(create))"#,
            &[("get", "/p"), ("post", "/p")],
        ),
        (
            r#".route("/x", get(|| async { Json(json!({"a": post(1)})) }))"#,
            &[("get", "/x")],
        ),
        (".route(\n    P,\n    put(outage),\n)", &[("put", "/p")]),
    ];
    for (source, expected) in cases {
        let expected: Vec<_> = expected
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(registered(source, &constants), expected, "{source}");
    }
}
