//! `upkeep.toml`: the flags a repository runs upkeep with, kept next to its
//! configs so that a plain `upkeep --check` in CI means the same as the
//! migration did.
//!
//! The file is found from the current directory upward, stopping at the
//! repository root (the first directory with `.git`); `--config PATH`
//! names one, `--no-config` ignores it. Every key is a flag spelled as
//! TOML; relative paths are relative to the file's directory. The file is
//! turned into those flags, placed before the ones typed, so the command
//! line's own parsing is the one source of what each setting means, and a
//! typed flag overrides the file (per upstream or backend for the keyed
//! ones). Values are checked here first, with the same checks as the
//! flags, so that a mistake names the file's line.
//!
//! ```toml
//! paths = ["frontend/nginx.conf"]   # what to read when no PATH is typed
//! keepalive = 32                    # --keepalive N
//! websocket = ["/api/ws"]           # --websocket PATH
//! nginx-version = "1.22.1"          # --nginx-version
//! proxy-host = "keep"               # --proxy-host
//! only = ["proxy", "fastcgi"]       # --only LIST
//! skip = ["memcached"]              # --skip LIST
//! root = "nginx.conf"               # --root
//! prefix = "deploy/nginx"           # --prefix
//! exclude = ["generated/"]          # --exclude GLOB
//! ignore-includes = ["mime.types"]  # --ignore-include GLOB
//! keepalive-timeout = "4s"          # --keepalive-timeout DUR
//! keepalive-requests = 1000         # --keepalive-requests N
//! keepalive-time = "1h"             # --keepalive-time DUR
//! backend-idle-timeout = "5s"       # --backend-idle-timeout DUR
//! tune-existing = true              # --tune-existing
//! resolve = true                    # --resolve
//! resolver = "127.0.0.11"           # --resolver ADDR
//! nginx-test = "nginx -t"           # the command --nginx-test runs
//!
//! [upstreams]                       # --keepalive NAME=N
//! gateway = 64
//!
//! [names]                           # --name HOST:PORT=NAME
//! "stack-auth:8102" = "stack_auth_api"
//!
//! [path-map]                        # --path-map FROM=TO
//! "/etc/nginx" = "deploy/nginx"
//! ```

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::cli::values;
use crate::syntax::source::Source;

/// The file's name.
pub const FILE_NAME: &str = "upkeep.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    paths: Option<Vec<Spanned<String>>>,
    root: Option<Spanned<String>>,
    prefix: Option<Spanned<String>>,
    keepalive: Option<Spanned<i64>>,
    websocket: Option<Vec<Spanned<String>>>,
    nginx_version: Option<Spanned<String>>,
    proxy_host: Option<Spanned<String>>,
    only: Option<Vec<Spanned<String>>>,
    skip: Option<Vec<Spanned<String>>>,
    upstreams: Option<BTreeMap<String, Spanned<i64>>>,
    names: Option<BTreeMap<String, Spanned<String>>>,
    path_map: Option<BTreeMap<String, Spanned<String>>>,
    exclude: Option<Vec<Spanned<String>>>,
    ignore_includes: Option<Vec<Spanned<String>>>,
    keepalive_timeout: Option<Spanned<String>>,
    keepalive_requests: Option<Spanned<i64>>,
    keepalive_time: Option<Spanned<String>>,
    backend_idle_timeout: Option<Spanned<String>>,
    tune_existing: Option<Spanned<bool>>,
    resolve: Option<Spanned<bool>>,
    resolver: Option<Spanned<String>>,
    nginx_test: Option<Spanned<String>>,
}

/// What a key's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    TextList,
    /// A table whose keys are names and whose values are numbers.
    NumberTable,
    /// A table whose keys are names and whose values are strings.
    TextTable,
}

/// Every key `Raw` reads, what its value must be, and how one is written
/// (for a table: how one entry is). A mistake is reported from this list,
/// by key and line, before serde reads the file: serde's messages name
/// neither the key of a wrong type nor the key a misspelt one meant. A
/// test holds the list to `Raw`.
const KEYS: &[(&str, Kind, &str)] = &[
    (
        "paths",
        Kind::TextList,
        r#"paths = ["frontend/nginx.conf"]"#,
    ),
    ("root", Kind::Text, r#"root = "deploy/nginx.conf""#),
    ("prefix", Kind::Text, r#"prefix = "deploy""#),
    ("keepalive", Kind::Number, "keepalive = 32"),
    ("websocket", Kind::TextList, r#"websocket = ["/api/ws"]"#),
    ("nginx-version", Kind::Text, r#"nginx-version = "1.22.1""#),
    ("proxy-host", Kind::Text, r#"proxy-host = "keep""#),
    ("only", Kind::TextList, r#"only = ["proxy", "fastcgi"]"#),
    ("skip", Kind::TextList, r#"skip = ["memcached"]"#),
    ("upstreams", Kind::NumberTable, "gateway = 64"),
    (
        "names",
        Kind::TextTable,
        r#""stack-auth:8102" = "stack_auth_api""#,
    ),
    (
        "path-map",
        Kind::TextTable,
        r#""/etc/nginx" = "deploy/nginx""#,
    ),
    ("exclude", Kind::TextList, r#"exclude = ["generated/"]"#),
    (
        "ignore-includes",
        Kind::TextList,
        r#"ignore-includes = ["mime.types"]"#,
    ),
    (
        "keepalive-timeout",
        Kind::Text,
        r#"keepalive-timeout = "4s""#,
    ),
    (
        "keepalive-requests",
        Kind::Number,
        "keepalive-requests = 1000",
    ),
    ("keepalive-time", Kind::Text, r#"keepalive-time = "1h""#),
    (
        "backend-idle-timeout",
        Kind::Text,
        r#"backend-idle-timeout = "5s""#,
    ),
    ("tune-existing", Kind::Bool, "tune-existing = true"),
    ("resolve", Kind::Bool, "resolve = true"),
    ("resolver", Kind::Text, r#"resolver = "127.0.0.11""#),
    (
        "nginx-test",
        Kind::Text,
        r#"nginx-test = "nginx -t -c deploy/nginx.conf""#,
    ),
];

/// The key a misspelt `key` most likely meant: the fewest characters
/// away once case and `_` are set aside (`keepalive_timout` →
/// `keepalive-timeout`), if it is close enough to be a typo.
fn closest_key(key: &str) -> Option<&'static str> {
    let spelt = key.to_ascii_lowercase().replace('_', "-");
    let (distance, best) = KEYS
        .iter()
        .map(|(name, _, _)| (crate::vocab::spelling::edit_distance(name, &spelt), *name))
        .min()?;
    (distance <= 2.max(spelt.chars().count() / 3)).then_some(best)
}

/// How a value of one type is named in a message.
fn type_shown(type_name: &str) -> &'static str {
    match type_name {
        "string" => "a string",
        "integer" => "a whole number",
        "float" => "a decimal number",
        "boolean" => "`true` or `false`",
        "array" => "a list",
        "table" | "inline table" => "a table",
        "array of tables" => "a list of tables",
        _ => "a date",
    }
}

/// Checks that every key of `text` is one `Raw` reads and that each
/// value has the type it needs; the first mistake, in the file's order,
/// as `at` words it. A file that is not TOML passes: toml's own error
/// says where it is broken.
fn check_keys(text: &str, at: &dyn Fn(Option<Range<usize>>, &str) -> String) -> Result<(), String> {
    let Ok(doc) = toml_edit::ImDocument::parse(text) else {
        return Ok(());
    };
    let top = doc.as_table();
    let mut keys: Vec<(&toml_edit::Key, &toml_edit::Item)> = top
        .iter()
        .filter_map(|(k, _)| top.get_key_value(k))
        .collect();
    keys.sort_by_key(|(k, item)| k.span().or(item.span()).map(|s| s.start));
    for (key, item) in keys {
        let name = key.get();
        let Some(&(_, kind, example)) = KEYS.iter().find(|(n, _, _)| *n == name) else {
            let message = match closest_key(name) {
                Some(best) => format!("unknown key `{name}`; did you mean `{best}`?"),
                None => format!(
                    "unknown key `{name}`; the keys are {}",
                    KEYS.iter()
                        .map(|(n, _, _)| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(at(key.span(), &message));
        };
        let wrong = |span: Option<Range<usize>>, what: &str, want: &str, got: &str| {
            Err(at(
                span,
                &format!(
                    "`{what}` must be {want}, not {}: write `{example}`",
                    type_shown(got)
                ),
            ))
        };
        let value_span = item.span().or(key.span());
        match kind {
            Kind::Text if !item.is_str() => {
                return wrong(value_span, name, "a string", item.type_name())
            }
            Kind::Number if !item.is_integer() => {
                return wrong(value_span, name, "a whole number", item.type_name())
            }
            Kind::Bool if !item.is_bool() => {
                return wrong(value_span, name, "`true` or `false`", item.type_name())
            }
            Kind::TextList => {
                let Some(list) = item.as_array() else {
                    return wrong(value_span, name, "a list of strings", item.type_name());
                };
                if let Some(v) = list.iter().find(|v| !v.is_str()) {
                    let message = format!(
                        "`{name}` must be a list of strings, and `{}` is {}: write `{example}`",
                        v.to_string().trim(),
                        type_shown(v.type_name())
                    );
                    return Err(at(v.span(), &message));
                }
            }
            Kind::NumberTable | Kind::TextTable => {
                let Some(table) = item.as_table_like() else {
                    return wrong(value_span, name, "a table", item.type_name());
                };
                let (want, ok): (&str, fn(&toml_edit::Item) -> bool) = match kind {
                    Kind::NumberTable => ("a whole number", toml_edit::Item::is_integer),
                    _ => ("a string", toml_edit::Item::is_str),
                };
                for (entry, value) in table.iter() {
                    if !ok(value) {
                        let span = value
                            .span()
                            .or_else(|| table.get_key_value(entry).and_then(|(k, _)| k.span()));
                        return wrong(span, &format!("{name}.{entry}"), want, value.type_name());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A loaded `upkeep.toml`.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The flags it stands for, checked.
    pub args: Vec<String>,
    /// What to read when no PATH is typed (absolute).
    pub paths: Vec<String>,
}

/// The `upkeep.toml` that applies in `dir`: there or in a parent, not
/// above the repository root.
pub fn find(dir: &Path) -> Option<PathBuf> {
    for d in dir.ancestors() {
        let candidate = d.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if d.join(".git").exists() {
            return None;
        }
    }
    None
}

/// Reads and checks `path`, shown as `shown`. The error is what to print
/// after `error: `: `path:line:column: what is wrong`, with what to do.
pub fn load(path: &Path, shown: &str) -> Result<Settings, String> {
    let shown = shown.to_string();
    let (bytes, _) = crate::model::files::read_regular(path)
        .map_err(|e| format!("{shown}: {}", e.describe()))?;
    let source = Source::new(shown.clone(), bytes);
    let at = |span: Option<Range<usize>>, message: &str| match span {
        Some(span) => {
            let (line, column) = source.line_col(span.start);
            format!("{shown}:{line}:{column}: {message}")
        }
        None => format!("{shown}: {message}"),
    };
    let text = std::str::from_utf8(&source.text)
        .map_err(|_| at(None, "not UTF-8 text; TOML files are UTF-8"))?;
    check_keys(text, &at)?;
    // What is left is a file that is not TOML: toml's message, on one
    // line.
    let raw: Raw =
        toml::from_str(text).map_err(|e| at(e.span(), &e.message().trim().replace('\n', "; ")))?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    let absolute = |p: &str| -> String {
        let p = Path::new(p);
        let joined = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        std::path::absolute(&joined)
            .unwrap_or(joined)
            .display()
            .to_string()
    };
    // One flag: checked with the flag's own parser, the error at its line.
    let mut args: Vec<String> = Vec::new();
    let mut flag = |name: &str,
                    value: String,
                    span: Range<usize>,
                    check: &dyn Fn(&str) -> Result<(), String>| {
        check(&value).map_err(|e| at(Some(span), &format!("{name}: {e}")))?;
        args.push(format!("--{name}"));
        args.push(value);
        Ok::<(), String>(())
    };
    let keepalive = |v: &str| values::parse_keepalive(v).map(drop);
    if let Some(n) = raw.keepalive {
        flag("keepalive", n.get_ref().to_string(), n.span(), &keepalive)?;
    }
    for (name, n) in raw.upstreams.iter().flatten() {
        flag(
            "keepalive",
            format!("{name}={}", n.get_ref()),
            n.span(),
            &keepalive,
        )?;
    }
    for (backend, name) in raw.names.iter().flatten() {
        flag(
            "name",
            format!("{backend}={}", name.get_ref()),
            name.span(),
            &|v| values::parse_name(v).map(drop),
        )?;
    }
    for path in raw.websocket.iter().flatten() {
        flag("websocket", path.get_ref().clone(), path.span(), &|v| {
            values::parse_websocket(v).map(drop)
        })?;
    }
    if let Some(v) = raw.nginx_version {
        flag("nginx-version", v.get_ref().clone(), v.span(), &|v| {
            values::parse_version(v).map(drop)
        })?;
    }
    if let Some(v) = raw.proxy_host {
        flag("proxy-host", v.get_ref().clone(), v.span(), &|v| match v {
            "keep" | "upstream" => Ok(()),
            _ => Err(format!("`{v}` is not `keep` or `upstream`")),
        })?;
    }
    for (name, list) in [("only", &raw.only), ("skip", &raw.skip)] {
        for v in list.iter().flatten() {
            flag(name, v.get_ref().clone(), v.span(), &|v| {
                values::parse_protocols(v).map(drop)
            })?;
        }
    }
    if let Some(v) = raw.root {
        flag("root", absolute(v.get_ref()), v.span(), &|_| Ok(()))?;
    }
    if let Some(v) = raw.prefix {
        flag("prefix", absolute(v.get_ref()), v.span(), &|_| Ok(()))?;
    }
    for glob in raw.exclude.iter().flatten() {
        flag("exclude", glob.get_ref().clone(), glob.span(), &|v| {
            values::parse_exclude(v).map(drop)
        })?;
    }
    for glob in raw.ignore_includes.iter().flatten() {
        flag(
            "ignore-include",
            glob.get_ref().clone(),
            glob.span(),
            &|v| values::parse_include_glob(v).map(drop),
        )?;
    }
    let time = |v: &str| crate::vocab::tuning::parse_time_flag(v).map(drop);
    for (name, value) in [
        ("keepalive-timeout", raw.keepalive_timeout),
        ("keepalive-time", raw.keepalive_time),
        ("backend-idle-timeout", raw.backend_idle_timeout),
    ] {
        if let Some(v) = value {
            flag(name, v.get_ref().clone(), v.span(), &time)?;
        }
    }
    if let Some(n) = raw.keepalive_requests {
        flag(
            "keepalive-requests",
            n.get_ref().to_string(),
            n.span(),
            &|v| crate::vocab::tuning::parse_count_flag(v).map(drop),
        )?;
    }
    if let Some(v) = raw.resolver {
        flag("resolver", v.get_ref().clone(), v.span(), &|v| {
            values::parse_resolver(v).map(drop)
        })?;
    }
    for (from, to) in raw.path_map.iter().flatten() {
        let value = format!("{from}={}", absolute(to.get_ref()));
        flag("path-map", value, to.span(), &|v| {
            values::parse_path_map(v).map(drop)
        })?;
    }
    if let Some(v) = raw.nginx_test {
        // The command, not the switch: the same file serves --diff and
        // --check runs, which --nginx-test would refuse. It runs where
        // the file is, as its relative paths are read.
        if v.get_ref().trim().is_empty() {
            return Err(at(
                Some(v.span()),
                "nginx-test: names no command (leave the key out for `nginx -t`)",
            ));
        }
        args.push("--nginx-test-command".into());
        args.push(v.get_ref().clone());
        args.push("--nginx-test-dir".into());
        args.push(
            std::path::absolute(&base)
                .unwrap_or_else(|_| base.clone())
                .display()
                .to_string(),
        );
    }
    if raw.tune_existing.is_some_and(|t| *t.get_ref()) {
        args.push("--tune-existing".into());
    }
    if raw.resolve.is_some_and(|t| *t.get_ref()) {
        args.push("--resolve".into());
    }
    Ok(Settings {
        args,
        paths: raw
            .paths
            .iter()
            .flatten()
            .map(|p| absolute(p.get_ref()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, text).unwrap();
        load(&path, FILE_NAME)
    }

    #[test]
    fn keys_become_the_flags_they_name() {
        let s = load_text(
            "keepalive = 16\nwebsocket = [\"/api/ws\"]\nnginx-version = \"1.22.1\"\nproxy-host = \"upstream\"\n\n[upstreams]\ngateway = 64\n\n[names]\n\"stack-auth:8102\" = \"stack_auth_api\"\n",
        )
        .unwrap();
        assert_eq!(
            s.args,
            [
                "--keepalive",
                "16",
                "--keepalive",
                "gateway=64",
                "--name",
                "stack-auth:8102=stack_auth_api",
                "--websocket",
                "/api/ws",
                "--nginx-version",
                "1.22.1",
                "--proxy-host",
                "upstream"
            ]
        );
    }

    /// The pool settings: times as strings in nginx's syntax, the count
    /// as a number, `tune-existing` as a flag without a value.
    #[test]
    fn pool_settings_become_their_flags() {
        let s = load_text(
            "keepalive-timeout = \"4s\"\nkeepalive-requests = 500\nkeepalive-time = \"1h\"\nbackend-idle-timeout = \"5s\"\ntune-existing = true\n",
        )
        .unwrap();
        assert_eq!(
            s.args,
            [
                "--keepalive-timeout",
                "4s",
                "--keepalive-time",
                "1h",
                "--backend-idle-timeout",
                "5s",
                "--keepalive-requests",
                "500",
                "--tune-existing"
            ]
        );
        assert!(load_text("tune-existing = false\n")
            .unwrap()
            .args
            .is_empty());
        assert_eq!(
            load_text("keepalive-requests = 0\n").unwrap_err(),
            "upkeep.toml:1:22: keepalive-requests: `0` is zero: nginx would close every connection after its first request, so nothing would be pooled"
        );
        assert!(load_text("keepalive-time = 60\n")
            .unwrap_err()
            .starts_with("upkeep.toml:1:18: `keepalive-time` must be a string"));
    }

    #[test]
    fn ignored_includes_become_their_flags() {
        let s = load_text(
            "ignore-includes = [\"mime.types\", \"/etc/nginx/modules-enabled/*.conf\"]\n",
        )
        .unwrap();
        assert_eq!(
            s.args,
            [
                "--ignore-include",
                "mime.types",
                "--ignore-include",
                "/etc/nginx/modules-enabled/*.conf"
            ]
        );
        assert_eq!(
            load_text("ignore-includes = [\"snippets/[a\"]\n").unwrap_err(),
            "upkeep.toml:1:20: ignore-include: `snippets/[a` is not a glob: Pattern syntax error near position 9: invalid range pattern"
        );
        assert_eq!(
            load_text("ignore-includes = \"mime.types\"\n")
                .unwrap_err()
                .split(':')
                .take(3)
                .collect::<Vec<_>>(),
            ["upkeep.toml", "1", "19"]
        );
    }

    /// `nginx-test` names the command `--nginx-test` runs and where (the
    /// file's directory); it is not the switch.
    #[test]
    fn the_nginx_test_command_comes_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "nginx-test = \"nginx -t -c conf/nginx.conf\"\n").unwrap();
        let s = load(&path, FILE_NAME).unwrap();
        let here = std::path::absolute(dir.path()).unwrap();
        assert_eq!(
            s.args,
            [
                "--nginx-test-command".to_string(),
                "nginx -t -c conf/nginx.conf".to_string(),
                "--nginx-test-dir".to_string(),
                here.display().to_string()
            ]
        );
    }

    /// Every key of the list is one `Raw` reads, with a value of the
    /// kind the list says, and `Raw` reads no other: its example loads.
    #[test]
    fn the_key_list_is_raws() {
        for (name, kind, example) in KEYS {
            let text = match kind {
                Kind::NumberTable | Kind::TextTable => format!("[{name}]\n{example}\n"),
                _ => format!("{example}\n"),
            };
            let raw: Result<Raw, _> = toml::from_str(&text);
            assert!(raw.is_ok(), "{name}: {text}: {raw:?}");
        }
        // serde's own list of Raw's fields, from an unknown one.
        let unknown = toml::from_str::<Raw>("not-a-key = 1\n").unwrap_err();
        let listed = unknown.message().split("expected one of ").nth(1).unwrap();
        let names: Vec<String> = KEYS.iter().map(|(n, _, _)| format!("`{n}`")).collect();
        assert_eq!(listed.trim(), names.join(", "));
    }

    #[test]
    fn unknown_keys_name_the_closest() {
        assert_eq!(
            load_text("paths = [\"a.conf\"]\nkeepalive = 32\nkeepalive_timout = \"30s\"\n")
                .unwrap_err(),
            "upkeep.toml:3:1: unknown key `keepalive_timout`; did you mean `keepalive-timeout`?"
        );
        assert_eq!(
            load_text("keepalive = 8\nkeepalve = 3\n").unwrap_err(),
            "upkeep.toml:2:1: unknown key `keepalve`; did you mean `keepalive`?"
        );
        assert_eq!(
            load_text("[upstream]\ngateway = 64\n").unwrap_err(),
            "upkeep.toml:1:2: unknown key `upstream`; did you mean `upstreams`?"
        );
        assert_eq!(
            load_text("Nginx_Version = \"1.22.1\"\n").unwrap_err(),
            "upkeep.toml:1:1: unknown key `Nginx_Version`; did you mean `nginx-version`?"
        );
        assert!(load_text("format = \"json\"\n")
            .unwrap_err()
            .starts_with("upkeep.toml:1:1: unknown key `format`; the keys are `paths`, `root`,"));
    }

    #[test]
    fn wrong_types_name_the_key_and_what_it_takes() {
        for (text, error) in [
            ("keepalive = \"32\"\n", "upkeep.toml:1:13: `keepalive` must be a whole number, not a string: write `keepalive = 32`"),
            ("keepalive = 3.5\n", "upkeep.toml:1:13: `keepalive` must be a whole number, not a decimal number: write `keepalive = 32`"),
            ("\n[upstreams]\ngateway = \"64\"\n", "upkeep.toml:3:11: `upstreams.gateway` must be a whole number, not a string: write `gateway = 64`"),
            ("upstreams = { gateway = true }\n", "upkeep.toml:1:25: `upstreams.gateway` must be a whole number, not `true` or `false`: write `gateway = 64`"),
            ("[names]\n\"a:1\" = 2\n", "upkeep.toml:2:9: `names.a:1` must be a string, not a whole number: write `\"stack-auth:8102\" = \"stack_auth_api\"`"),
            ("tune-existing = \"yes\"\n", "upkeep.toml:1:17: `tune-existing` must be `true` or `false`, not a string: write `tune-existing = true`"),
            ("websocket = \"/ws\"\n", "upkeep.toml:1:13: `websocket` must be a list of strings, not a string: write `websocket = [\"/api/ws\"]`"),
            ("websocket = [\"/ws\", 3]\n", "upkeep.toml:1:21: `websocket` must be a list of strings, and `3` is a whole number: write `websocket = [\"/api/ws\"]`"),
            ("keepalive-time = 60\n", "upkeep.toml:1:18: `keepalive-time` must be a string, not a whole number: write `keepalive-time = \"1h\"`"),
            ("upstreams = 3\n", "upkeep.toml:1:13: `upstreams` must be a table, not a whole number: write `gateway = 64`"),
        ] {
            assert_eq!(load_text(text).unwrap_err(), error, "{text}");
        }
        // Not TOML at all: toml's message, on one line.
        let broken = load_text("keepalive = \n").unwrap_err();
        assert!(broken.starts_with("upkeep.toml:1:13: "), "{broken}");
        assert!(!broken.contains('\n'), "{broken}");
    }

    #[test]
    fn mistakes_name_the_line() {
        assert_eq!(
            load_text("[upstreams]\ngateway = 0\n").unwrap_err(),
            "upkeep.toml:2:11: keepalive: `0` is not a pool size: use a whole number from 1 to 65535"
        );
        assert_eq!(
            load_text("websocket = [\"ws\"]\n").unwrap_err(),
            "upkeep.toml:1:14: websocket: `ws` is not a URI path: it must start with `/`"
        );
        assert!(load_text("keepalive = \"many\"\n")
            .unwrap_err()
            .starts_with("upkeep.toml:1:13: `keepalive` must be a whole number"));
    }

    #[test]
    fn found_upward_but_not_above_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let deep = repo.join("a/b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        assert_eq!(
            find(&deep),
            None,
            "a file above the repository root is not its own"
        );
        std::fs::write(repo.join(FILE_NAME), "").unwrap();
        assert_eq!(find(&deep), Some(repo.join(FILE_NAME)));
    }
}
