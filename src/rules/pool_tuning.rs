//! `pool-tuning`
//!
//! **What**: writes the pool settings asked for (`--keepalive-timeout`,
//! `--keepalive-requests`, `--keepalive-time`, and `keepalive_timeout`
//! below `--backend-idle-timeout`) into existing `upstream` blocks: into a
//! block that gets `keepalive N;` now, and with `--tune-existing` into every
//! block that keeps connections, where a missing directive is added at the
//! end of the block and a different value is replaced. New blocks get the
//! same lines from `upstream-block`, right after `keepalive N;`. Notes say
//! when a pool is added with nginx's default `keepalive_timeout` (60 s)
//! and the backends' idle timeout is unknown, and when a pool that is not
//! tuned keeps idle connections longer than `--backend-idle-timeout`.
//!
//! **Why**: nginx keeps an idle backend connection for 60 s by default. A
//! backend that closes idle connections sooner (Node.js and uvicorn after
//! 5 s, gunicorn after 2 s) races nginx: a request that nginx sends on a
//! connection the backend is closing fails with "upstream prematurely
//! closed connection" (nginx tries an idempotent request again, a POST
//! gets a 502). With `keepalive_timeout` below the backend's, nginx closes
//! first.
//!
//! **Example**: with `--backend-idle-timeout 5s --tune-existing`,
//! `upstream api { server api:3000; keepalive 16; }` →
//! `upstream api { server api:3000; keepalive 16; keepalive_timeout 4s; }`
//!
//! **Safety**: these directives decide how long and for how many requests
//! nginx reuses a pooled connection, nothing that a request or response
//! carries; the behaviour check treats them as pool settings. Values are
//! read as nginx reads them and refused for an `--nginx-version` that
//! lacks the directive (`tuning.rs`); a value already in a block is
//! compared by what nginx makes of it (`1m` is `60s`), so a tuned block is
//! not changed again.

use std::collections::BTreeSet;

use crate::model::DirId;
use crate::rules::api::{Board, Context, Ctx, Out, Pool, Rule};
use crate::rules::layout;
use crate::syntax::edit::{Edit, Slot};
use crate::vocab::tuning::{self, Time};
use crate::vocab::{Note, NoteKind};
use crate::rules::api::Change;
use crate::rules::RuleId;

pub struct PoolTuning;

impl Rule for PoolTuning {

    fn pool(&self, ctx: &Ctx, pool: &Pool, out: &mut Out) {
        tune(ctx, pool, out);
    }

    fn context(&self, ctx: &Ctx, context: &Context, _: &mut Board, out: &mut Out) {
        if ctx.opts.tuning.timeout().is_some() {
            return;
        }
        let names = context
            .new_upstreams
            .iter()
            .map(|(u, users)| (&u.name, users))
            .chain(
                context
                    .resolve_upstreams
                    .iter()
                    .map(|(u, users)| (&u.name, users)),
            );
        for (name, users) in names {
            out.notes.push(Note::new(
                NoteKind::Info,
                users.first().map(|d| ctx.model.dirs[*d].range.start),
                default_timeout_note(name.as_str()),
            ));
        }
    }
}

/// The existing `upstream` blocks of `http` contexts that keep idle
/// connections after this run, in source order: with `keepalive`, given it
/// now (`keepalive_needed`), or (for nginx 1.29.7 or later) any. Blocks
/// marked `# upkeep:ignore` are left alone.
pub fn existing_pools(ctx: &Ctx, keepalive_needed: &BTreeSet<DirId>) -> Vec<Pool> {
    let model = ctx.model;
    ctx.facts
        .upstreams
        .iter()
        .filter(|up| {
            model.http_context(model.dirs[up.dir].level).is_some()
                && !model.ignored.contains_key(&up.dir)
        })
        .filter_map(|up| {
            let gets_keepalive = keepalive_needed.contains(&up.dir);
            (up.has_keepalive || gets_keepalive || ctx.opts.new_defaults).then_some(Pool {
                dir: up.dir,
                gets_keepalive,
            })
        })
        .collect()
}

/// What a new block's reason adds when it carries pool settings.
pub fn reason_suffix(ctx: &Ctx) -> String {
    let why: Vec<String> = ctx
        .opts
        .tuning
        .directives()
        .into_iter()
        .map(|d| d.described())
        .collect();
    if why.is_empty() {
        String::new()
    } else {
        format!("; {}", why.join("; "))
    }
}

fn default_timeout_note(upstream: &str) -> String {
    format!(
        "upstream \"{upstream}\" keeps idle connections for nginx's default keepalive_timeout (60s); a backend that closes them sooner (Node.js and uvicorn after 5s, gunicorn after 2s) makes a request nginx sends as it closes fail (\"upstream prematurely closed connection\"): give the backends' idle timeout with --backend-idle-timeout, or set --keepalive-timeout"
    )
}

/// The value of a pool directive as nginx reads it.
fn value_of(name: &str, text: &str) -> Option<i64> {
    if name == "keepalive_requests" {
        tuning::parse_count(text)
    } else {
        tuning::parse_msec(text)
    }
}

fn tune(ctx: &Ctx, pool: &Pool, out: &mut Out) {
    let model = ctx.model;
    let tuning = &ctx.opts.tuning;
    let dir = &model.dirs[pool.dir];
    let name = dir.arg(0).unwrap_or_default();
    let Some(block) = dir.block else { return };
    let own = |directive: &str| {
        model.levels[block]
            .statements
            .iter()
            .copied()
            .find(|d| model.dirs[*d].is(directive))
    };
    let why_here = if pool.gets_keepalive {
        "its pool is new in this run"
    } else {
        "--tune-existing"
    };
    for d in tuning.directives() {
        match own(d.name) {
            None if pool.gets_keepalive || tuning.tune_existing => {
                let edit = layout::at_block_end(model, block, d.line(), Slot::PoolSetting);
                out.add(
                    Change::new(
                        RuleId::PoolTuning,
                        edit,
                        format!("upstream \"{name}\" ({why_here}): {}", d.described()),
                    )
                    .about(dir.head()),
                );
            }
            Some(existing) if tuning.tune_existing => {
                let Some(arg) = model.dirs[existing].args.first() else {
                    continue;
                };
                if value_of(d.name, &arg.value) == Some(d.value) {
                    continue;
                }
                let edit = Edit::replace(arg.range.clone(), d.word.clone());
                out.add(
                    Change::new(
                        RuleId::PoolTuning,
                        edit,
                        format!(
                            "upstream \"{name}\" (--tune-existing): {} {} becomes {} ({})",
                            d.name, arg.value, d.word, d.why
                        ),
                    )
                    .about(model.dirs[existing].head()),
                );
            }
            _ => {}
        }
    }
    notes(ctx, pool, name, own("keepalive_timeout"), out);
}

/// What is worth saying about a pool's idle timeout after this run.
fn notes(ctx: &Ctx, pool: &Pool, name: &str, own_timeout: Option<DirId>, out: &mut Out) {
    let model = ctx.model;
    let tuning = &ctx.opts.tuning;
    let at = Some(model.dirs[pool.dir].range.start);
    let written = tuning
        .timeout()
        .filter(|_| tuning.tune_existing || (pool.gets_keepalive && own_timeout.is_none()));
    let kept = own_timeout.and_then(|d| {
        let text = model.dirs[d].arg(0)?;
        Some(Time {
            text: text.to_string(),
            ms: tuning::parse_msec(text)?,
        })
    });
    if written.is_none() && kept.is_none() && pool.gets_keepalive {
        out.notes
            .push(Note::new(NoteKind::Info, at, default_timeout_note(name)));
    }
    let Some(idle) = &tuning.backend_idle_timeout else {
        return;
    };
    let (after, source) = match (written, kept) {
        (Some(t), _) => (t, "as tuned"),
        (None, Some(t)) => (t, "its keepalive_timeout"),
        (None, None) => (
            Time::from_ms(tuning::DEFAULT_TIMEOUT_MS),
            "nginx's default keepalive_timeout",
        ),
    };
    if after.ms >= idle.ms {
        // The one note that predicts failed requests: said without -v.
        out.notes.push(Note::new(
            NoteKind::Warning,
            at,
            format!(
                "upstream \"{name}\" keeps idle connections for {after} ({source}), not less than the backends' idle timeout ({idle}): a request nginx sends on a connection the backend is closing fails (\"upstream prematurely closed connection\"); --tune-existing sets keepalive_timeout {}",
                Time::from_ms(tuning::timeout_below(idle.ms))
            ),
        ));
    }
}
