//! Discovery: every `*_pass` of the unit, classified — a literal target to
//! pool, a reference to an existing `upstream`, or a place to leave alone
//! with the note why (variables, `stream`/`mail`, no `http` context,
//! settings hidden behind an unreadable `include`, `# upkeep:ignore`, a
//! location whose `$proxy_host` uses cannot be pinned). What is left alone
//! keeps its host name taken, so that naming never reuses it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::nginx::ExistingUpstream;
use crate::model::target::{literal_pass_host, NotLiteral, ProxyTarget};
use crate::model::variables;
use crate::model::{DirId, LevelId, LevelKind};
use crate::rules;
use crate::rules::api::Ctx;
use crate::vocab::names::UpstreamName;
use crate::vocab::{GrpcHost, HostHeaderMode, Note, NoteKind, Protocol};

/// A literal target left as it is keeps its host name taken in its http
/// context: nginx refuses an upstream named like the host of a remaining
/// `proxy_pass http://HOST:PORT` ("may not have port").
pub(crate) fn keep_host_taken(
    remaining: &mut BTreeMap<LevelId, BTreeSet<UpstreamName>>,
    http: LevelId,
    target: &ProxyTarget,
) {
    if !target.is_unix() {
        remaining
            .entry(http)
            .or_default()
            .insert(target.host_name());
    }
}

/// Leaves alone what `# upkeep:ignore` marks: a `*_pass`, every
/// `proxy_pass` inside a marked `location` or `server`, and a marked
/// `upstream` (no keepalive added, not reused for a literal backend, and
/// the `proxy_pass` directives naming it left as they are). Their names stay
/// taken, as for any target left alone.
pub(crate) fn leave_alone_ignored(ctx: &Ctx, found: &mut Discovered, suppressed: &mut Vec<Note>) {
    let model = ctx.model;
    if model.ignored.is_empty() {
        return;
    }
    let mut said: BTreeSet<DirId> = BTreeSet::new();
    let mut say = |dir: DirId, what: &str| {
        if said.insert(dir) {
            let reason = model.ignored[&dir].as_deref().unwrap_or("no reason given");
            suppressed.push(Note {
                kind: NoteKind::Info,
                offset: Some(model.dirs[dir].range.start),
                message: format!("{what} left alone (upkeep:ignore: {reason})"),
            });
        }
    };
    // The marked directive that covers a proxy_pass: itself, or the
    // location or server it sits in.
    let marked = |pass: DirId| model.ignore_mark(pass);
    for (http, upstreams) in found.upstreams.iter_mut() {
        upstreams.retain(|up| {
            if !model.ignored.contains_key(&up.dir) {
                return true;
            }
            say(up.dir, &format!("upstream \"{}\"", up.name));
            found
                .remaining_hosts
                .entry(*http)
                .or_default()
                .insert(up.name.clone());
            false
        });
    }
    let mut removed: BTreeSet<DirId> = BTreeSet::new();
    for (http, list) in found.by_http.iter_mut() {
        list.retain(|f| {
            let by = match &f.kind {
                FoundKind::Existing(up) if model.ignored.contains_key(&up.dir) => Some(up.dir),
                _ => marked(f.pass),
            };
            let Some(by) = by else { return true };
            let what = match model.dirs[by].name.value.as_ref() {
                "location" | "server" => {
                    format!("{} and what it proxies", model.dirs[by].name.value)
                }
                name => name.to_string(),
            };
            say(by, &what);
            if let FoundKind::Literal(t) = &f.kind {
                keep_host_taken(&mut found.remaining_hosts, *http, t);
            }
            removed.insert(f.pass);
            false
        });
        // A proxy_pass with variables keeps all its upstreams or none.
        list.retain(|f| !(found.valued.contains_key(&f.pass) && removed.contains(&f.pass)));
    }
}

/// A warning per comment that looks like `# upkeep:ignore` but leaves
/// nothing alone: the operator believes a directive is kept as it is, and
/// upkeep would change it without a word.
pub(crate) fn ignore_miss_notes(ctx: &Ctx, notes: &mut Vec<Note>) {
    for (at, message) in &ctx.model.ignore_misses {
        notes.push(Note::new(NoteKind::Warning, Some(*at), message.clone()));
    }
}

/// What discovery found for one `proxy_pass`.
#[derive(Debug, Clone)]
pub struct Found {
    pub pass: DirId,
    pub protocol: Protocol,
    pub kind: FoundKind,
}

#[derive(Debug, Clone)]
pub enum FoundKind {
    Literal(ProxyTarget),
    Existing(ExistingUpstream),
}

#[derive(Debug, Default)]
pub struct Discovered {
    /// Poolable `proxy_pass` directives per http context, in source order.
    pub by_http: BTreeMap<LevelId, Vec<Found>>,
    pub upstreams: BTreeMap<LevelId, Vec<ExistingUpstream>>,
    /// Lowercased literal hosts of targets that stay as they are.
    pub remaining_hosts: BTreeMap<LevelId, BTreeSet<UpstreamName>>,
    /// Settings levels of every `proxy_pass` in an http context, pooled or not.
    pub all_proxy_levels: BTreeSet<LevelId>,
    /// http contexts with a `fastcgi_pass`/`grpc_pass` with variables, by
    /// protocol.
    pub variable_passes: BTreeSet<(LevelId, Protocol)>,
    /// `proxy_pass` directives with variables whose every value names an
    /// upstream block, with those values (`variables::upstream_valued_passes`).
    pub valued: BTreeMap<DirId, Vec<ProxyTarget>>,
}

/// A literal target that a `proxy_pass` with variables may evaluate to
/// keeps its implicit upstream (nginx finds it there before asking a
/// resolver); port-less values stay free as upstream names.
pub(crate) fn keep_variable_lookups(ctx: &Ctx, found: &mut Discovered, notes: &mut Vec<Note>) {
    let model = ctx.model;
    // A `fastcgi_pass`/`grpc_pass` with variables may evaluate to any
    // literal target of its protocol (their values are not analysed).
    for (http, list) in found.by_http.iter_mut() {
        let taken = found.remaining_hosts.entry(*http).or_default();
        list.retain(|f| {
            let FoundKind::Literal(t) = &f.kind else {
                return true;
            };
            if !found.variable_passes.contains(&(*http, f.protocol)) {
                return true;
            }
            notes.push(Note {
                kind: NoteKind::LeftAlone,
                offset: Some(model.dirs[f.pass].range.start),
                message: format!(
                    "left alone: a {} with variables in this http context may evaluate to {}, and nginx would find it among the implicit upstreams this line creates",
                    f.protocol.pass(),
                    t.server_entry()
                ),
            });
            if !t.is_unix() {
                taken.insert(t.host_name());
            }
            false
        });
    }
    for (http, list) in found.by_http.iter_mut() {
        let possible = variables::possible_targets(model, *http);
        if possible.is_empty() {
            continue;
        }
        let taken = found.remaining_hosts.entry(*http).or_default();
        taken.extend(variables::portless_hosts(&possible));
        list.retain(|f| {
            let FoundKind::Literal(t) = &f.kind else {
                return true;
            };
            let Some(why) = variables::may_name(&possible, t) else {
                return true;
            };
            notes.push(Note {
                kind: NoteKind::LeftAlone,
                offset: Some(model.dirs[f.pass].range.start),
                message: match why {
                    variables::Possible::Anything => format!("left alone: a proxy_pass with variables in this http context may evaluate to {} (its values are not all literal `map`/`set` values, or may hold `:`, `/` or `?` and so choose the port), and nginx would find it among the implicit upstreams this line creates", t.server_entry()),
                    variables::Possible::Hosts(p) => format!("left alone: a proxy_pass with `$host` in this http context may evaluate to {} (it reaches hosts {p}), and nginx would find it among the implicit upstreams this line creates", t.server_entry()),
                    variables::Possible::Targets(_) => format!("left alone: a proxy_pass with variables in this http context evaluates to {}, which nginx finds among the implicit upstreams this line creates; pooling it would send those requests to a resolver", t.server_entry()),
                },
            });
            if !t.is_unix() {
                taken.insert(t.host_name());
            }
            false
        });
    }
}

/// Locations where the old `$proxy_host` values cannot be kept are left
/// alone: their targets stay literal (and their hosts stay taken).
pub(crate) fn leave_alone_blocked(ctx: &Ctx, found: &mut Discovered, notes: &mut Vec<Note>) {
    let model = ctx.model;
    for (http, list) in found.by_http.iter_mut() {
        let mut by_location: BTreeMap<LevelId, Vec<(DirId, ProxyTarget)>> = BTreeMap::new();
        for f in list.iter().filter(|f| f.protocol == Protocol::Proxy) {
            if let FoundKind::Literal(t) = &f.kind {
                by_location
                    .entry(model.settings_level(model.dirs[f.pass].level))
                    .or_default()
                    .push((f.pass, t.clone()));
            }
        }
        let mut blocked: BTreeSet<DirId> = BTreeSet::new();
        for (location, pooled) in &by_location {
            let refs: Vec<(DirId, &ProxyTarget)> = pooled.iter().map(|(d, t)| (*d, t)).collect();
            if let Some(reason) = rules::proxy_host::blocker(ctx, *location, &refs) {
                notes.push(Note {
                    kind: NoteKind::LeftAlone,
                    offset: Some(model.dirs[pooled[0].0].range.start),
                    message: reason,
                });
                for (pass, t) in pooled {
                    blocked.insert(*pass);
                    keep_host_taken(&mut found.remaining_hosts, *http, t);
                }
            }
        }
        list.retain(|f| !blocked.contains(&f.pass));
    }
}

pub(crate) fn discover(ctx: &Ctx, notes: &mut Vec<Note>) -> Discovered {
    let model = ctx.model;
    let mut found = Discovered::default();

    for up in &ctx.facts.upstreams {
        if let Some(http) = model.http_context(model.dirs[up.dir].level) {
            found.upstreams.entry(http).or_default().push(up.clone());
        }
    }

    // The first upstream of each name per http context, for `http://NAME`
    // (names compare without case): one look-up per proxy_pass, not a scan.
    let mut first_named: HashMap<(LevelId, UpstreamName), usize> = HashMap::new();
    for (http, ups) in &found.upstreams {
        for (i, u) in ups.iter().enumerate() {
            first_named.entry((*http, u.name.clone())).or_insert(i);
        }
    }

    // proxy_pass with variables whose every value names an upstream block.
    found.valued = variables::upstream_valued_passes(model, |http, name| {
        first_named.contains_key(&(http, name.clone()))
    });

    for &pass in &model.index.pass {
        let dir = &model.dirs[pass];
        // nginx takes exactly one target and no block; anything else it refuses.
        let Some(arg) = dir.args.first() else {
            continue;
        };
        if dir.args.len() != 1 || dir.block.is_some() {
            continue;
        }
        let level = dir.level;
        let http = model.http_context(level);
        let note = |message: String| Note::new(NoteKind::LeftAlone, Some(dir.range.start), message);
        // What upkeep never pools is no place it left alone.
        let info = |message: String| Note::new(NoteKind::Info, Some(dir.range.start), message);
        let pooled = Protocol::of_pass(&dir.name.value);
        let Some(protocol) = pooled.filter(|p| !ctx.opts.skipped.contains(p)) else {
            if let (Some(http), Some(host)) = (http, literal_pass_host(&arg.value)) {
                found.remaining_hosts.entry(http).or_default().insert(host);
            }
            // ngx_http_uwsgi_module and ngx_http_scgi_module never mark a
            // connection reusable: an upstream pool would change nothing.
            if dir.is("uwsgi_pass") || dir.is("scgi_pass") {
                notes.push(info(format!(
                    "{} is left alone: nginx keeps no uwsgi or SCGI connections for reuse, with or without an upstream `keepalive`",
                    dir.name.value
                )));
            } else if let Some(p) = pooled {
                notes.push(info(format!(
                    "{} is left alone: {p} is not pooled in this run (--only/--skip)",
                    dir.name.value
                )));
            }
            continue;
        };
        let Some((_, parsed)) = ctx.facts.pass(pass) else {
            continue;
        };
        let Some(http) = http else {
            if model
                .ancestors(level)
                .any(|l| matches!(model.levels[l].kind, LevelKind::Stream | LevelKind::Mail))
            {
                notes.push(info(format!(
                    "{} in a stream/mail context is left alone: it is not HTTP proxying",
                    dir.name.value
                )));
            } else if parsed.is_ok() {
                notes.push(note(
                    "this file has no http context of its own (a fragment included from `server`?): upstream blocks cannot be added here; run upkeep on the file that holds the server block".into(),
                ));
            } else if arg.value.contains('$') {
                notes.push(note(format!(
                    "{} {} has variables, and this file has no http context of its own (a fragment included from `server`?): what they may evaluate to depends on the configs that include it; left alone",
                    dir.name.value, arg.value
                )));
            }
            continue;
        };
        // nginx accepts *_pass only in a location, or in an `if` (and, for
        // proxy_pass, a `limit_except`) inside one; anything else it refuses.
        if !matches!(
            model.levels[level].kind,
            LevelKind::Location | LevelKind::If | LevelKind::LimitExcept
        ) || model.levels[model.settings_level(level)].kind != LevelKind::Location
        {
            continue;
        }
        if protocol == Protocol::Proxy {
            found.all_proxy_levels.insert(model.settings_level(level));
        }
        if let (Some(values), false) = (found.valued.get(&pass), ctx.opts.resolve) {
            if let Some(Hidden { kind, reason }) = hidden_settings(ctx, level) {
                notes.push(Note::new(kind, Some(dir.range.start), reason));
                continue;
            }
            let mut names: Vec<UpstreamName> = Vec::new();
            for t in values {
                if !names.contains(&t.host_name()) {
                    names.push(t.host_name());
                }
            }
            for name in names {
                let up = found.upstreams[&http][first_named[&(http, name)]].clone();
                found.by_http.entry(http).or_default().push(Found {
                    pass,
                    protocol,
                    kind: FoundKind::Existing(up),
                });
            }
            continue;
        }
        let target = match parsed {
            Ok(target) => target.clone(),
            // With --resolve, `resolve.rs` says what happens to these.
            Err(NotLiteral::VariableHost) if ctx.opts.resolve => continue,
            Err(NotLiteral::NoScheme) if ctx.opts.resolve && arg.value.contains('$') => continue,
            Err(NotLiteral::VariableHost) => {
                if protocol != Protocol::Proxy {
                    found.variable_passes.insert((http, protocol));
                }
                notes.push(note(format!(
                    "{} {} has a variable in its address: nginx resolves it per request, so it is left alone",
                    dir.name.value, arg.value
                )));
                continue;
            }
            Err(NotLiteral::NoScheme) => {
                if arg.value.contains('$') {
                    notes.push(note(format!(
                        "proxy_pass {} is a variable: left alone",
                        arg.value
                    )));
                }
                continue;
            }
            Err(NotLiteral::Malformed) => {
                notes.push(note(format!(
                    "{} {} is not an address upkeep understands: left alone",
                    dir.name.value, arg.value
                )));
                continue;
            }
        };
        if let Some(hidden) = hidden_settings(ctx, level) {
            notes.push(Note::new(hidden.kind, Some(dir.range.start), hidden.reason));
            keep_host_taken(&mut found.remaining_hosts, http, &target);
            continue;
        }
        // `http://NAME` without a port names an upstream block when one
        // exists; a port-less name of the other protocols can mean nothing else.
        let existing = target
            .names_upstream()
            .then(|| first_named.get(&(http, UpstreamName::new(target.host.as_str()))))
            .flatten()
            .map(|&i| found.upstreams[&http][i].clone());
        let kind = match existing {
            Some(up) => FoundKind::Existing(up),
            None if protocol != Protocol::Proxy && target.names_upstream() => {
                notes.push(note(format!(
                    "{} {} names an upstream block upkeep does not see in this http context: left alone",
                    dir.name.value, arg.value
                )));
                keep_host_taken(&mut found.remaining_hosts, http, &target);
                continue;
            }
            None => FoundKind::Literal(target),
        };
        if let (Some(reason), FoundKind::Literal(t)) =
            (grpc_authority_blocker(ctx, level, &kind, &arg.value), &kind)
        {
            notes.push(note(reason));
            keep_host_taken(&mut found.remaining_hosts, http, t);
            continue;
        }
        found.by_http.entry(http).or_default().push(Found {
            pass,
            protocol,
            kind,
        });
    }
    found
}

/// In the default `--proxy-host keep` mode, a `grpc_pass` whose requests
/// carry nginx's default `:authority` (the target's `host:port` as
/// written) is left alone unless upkeep can pin it: an upstream name has
/// no port. Before nginx 1.31.4 a pinned `grpc_set_header Host` would send
/// a `host` header instead of the `:authority` pseudo-header
/// (`ngx_http_grpc_create_request` wrote `:authority` only when no Host was
/// set), which a backend can tell apart; from 1.31.4 on (commit dea68dbf)
/// the value is sent as `:authority`, so with `--nginx-version 1.31.4` or
/// later `rules::grpc_authority` pins it, where the location's own
/// `grpc_set_header` list (or none at all) is in effect and every
/// `grpc_pass` of the location has the same authority. Where the location
/// sets Host itself, the target does not matter — unless the value may be
/// empty and the nginx may be 1.31.4 or later, which then sends the
/// target's `host:port` as `:authority`.
fn grpc_authority_blocker(
    ctx: &Ctx,
    level: LevelId,
    kind: &FoundKind,
    written: &str,
) -> Option<String> {
    let FoundKind::Literal(target) = kind else {
        return None;
    };
    if target.protocol != Protocol::Grpc || ctx.opts.host_header == HostHeaderMode::Upstream {
        return None;
    }
    let model = ctx.model;
    let host = model
        .nearest(&model.place_chain(level), "grpc_set_header")
        .and_then(|(_, dirs)| {
            dirs.into_iter().rev().find(|d| {
                model.dirs[*d]
                    .arg(0)
                    .is_some_and(|h| h.eq_ignore_ascii_case("host"))
            })
        });
    if let Some(host) = host {
        let value = model.dirs[host].arg(1).unwrap_or("");
        if ctx.opts.grpc_host != GrpcHost::HostHeader
            && crate::model::variables::may_be_empty(model, level, value)
        {
            return Some(format!(
                "grpc_pass {written} is left alone: its `grpc_set_header Host {value}` may be empty, and nginx 1.31.4 and later then send the target's `:authority: {}`, which an upstream name cannot keep (pass --nginx-version if it is older)",
                target.grpc_authority()
            ));
        }
        return None;
    }
    if ctx.opts.grpc_host == GrpcHost::Authority {
        if rules::grpc_authority::pinnable(ctx, model.settings_level(level)) {
            return None;
        }
        return Some(format!(
            "grpc_pass {written} is left alone: its requests carry `:authority: {}`, and a `grpc_set_header Host` here would drop the `grpc_set_header` list the location inherits (or its grpc_pass targets differ in authority); pass --proxy-host upstream to accept the upstream name as `:authority`",
            target.grpc_authority()
        ));
    }
    Some(format!(
        "grpc_pass {} is left alone: its requests carry `:authority: {}`, which an upstream name cannot keep before nginx 1.31.4 (pinning it with `grpc_set_header Host` would send a `host` header instead); with --nginx-version 1.31.4 or later upkeep pins it, or pass --proxy-host upstream to accept `:authority` becoming the upstream name",
        written,
        target.grpc_authority()
    ))
}

/// Why settings at a level are hidden from upkeep, and what that makes
/// the place: undecided (an include it could not read) or left alone (the
/// caller's choice).
pub(crate) struct Hidden {
    pub kind: NoteKind,
    pub reason: String,
}

/// Settings upkeep cannot see: an `include` on the way from the `http`
/// context to this `proxy_pass` that could not be read, or a location the
/// caller asked to leave as it is (see `lib.rs`: shared snippets).
pub(crate) fn hidden_settings(ctx: &Ctx, level: LevelId) -> Option<Hidden> {
    let model = ctx.model;
    let mut levels: Vec<LevelId> = model
        .ancestors(level)
        .take_while(|l| {
            matches!(
                model.levels[*l].kind,
                LevelKind::If | LevelKind::LimitExcept
            )
        })
        .collect();
    levels.extend(model.inheritance_chain(level));
    for l in &levels {
        if let Some(reason) = ctx.blocked.get(l) {
            return Some(Hidden {
                kind: NoteKind::LeftAlone,
                reason: reason.clone(),
            });
        }
        for inc in model.named(*l, "include") {
            if model.unseen.contains_key(&inc) {
                let what = model.dirs[inc].arg(0).unwrap_or("");
                return Some(Hidden {
                    kind: NoteKind::Undecided,
                    reason: format!(
                        "left alone: `include {what}` could not be read, and what it sets applies here; upkeep makes no change that depends on it"
                    ),
                });
            }
        }
    }
    None
}

/// One note per `include` upkeep could not follow.
pub(crate) fn include_notes(ctx: &Ctx, notes: &mut Vec<Note>) {
    let model = ctx.model;
    let mut unseen: Vec<(&DirId, &String)> = model.unseen.iter().collect();
    unseen.sort();
    for (inc, reason) in unseen {
        let what = model.dirs[*inc].arg(0).unwrap_or("");
        notes.push(Note {
            kind: NoteKind::Undecided,
            offset: Some(model.dirs[*inc].range.start),
            message: format!(
                "`include {what}` could not be read ({reason}); the locations it may affect are left alone (give its directory with --path-map FROM=TO if it lives elsewhere)"
            ),
        });
    }
    for inc in &model.empty_globs {
        let what = model.dirs[*inc].arg(0).unwrap_or("");
        notes.push(Note {
            kind: NoteKind::Info,
            offset: Some(model.dirs[*inc].range.start),
            message: format!(
                "`include {what}` matches no file: nginx includes nothing here, and so does upkeep (use --path-map FROM=TO if the files live elsewhere)"
            ),
        });
    }
    for inc in &model.ignored_includes {
        let what = model.dirs[*inc].arg(0).unwrap_or("");
        notes.push(Note::new(
            NoteKind::Info,
            Some(model.dirs[*inc].range.start),
            format!("`include {what}` could not be read; --ignore-include (ignore-includes in upkeep.toml) declares it irrelevant, so upkeep read it as empty"),
        ));
    }
}
