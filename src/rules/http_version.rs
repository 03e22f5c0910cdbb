//! `http-version`
//!
//! **What**: makes the effective `proxy_http_version` of a pooled location 1.1.
//!
//! **Why**: before nginx 1.29.7 the default is HTTP/1.0, and nginx can only
//! keep an upstream connection alive when it speaks HTTP/1.1 to it.
//!
//! **Example**: a location with `proxy_pass http://gateway/;` and no
//! `proxy_http_version` anywhere above it gets `proxy_http_version 1.1;`
//! right after its `proxy_pass`.
//!
//! **Safety**: an explicit `1.0` in the location is changed in place (or,
//! for nginx ≥ 1.29.7, removed when what it would inherit is already 1.1);
//! an inherited `1.0` is overridden in the location only, so other
//! locations keep what they had. For nginx ≥ 1.29.7 nothing that restates
//! the default is added.

use crate::model::LevelId;
use crate::rules::api::{Board, Ctx, Location, Rule};
use crate::rules::layout::{self, settings_anchor};
use crate::syntax::edit::Slot;
use crate::rules::api::Change;
use crate::rules::api::Plan;
use crate::rules::RuleId;

pub struct HttpVersion;

impl Rule for HttpVersion {

    fn location(&self, ctx: &Ctx, location: &mut Location, _: &mut Board, out: &mut Plan) {
        out.changes.extend(version(ctx, location.id));
    }
}

const ADD_REASON: &str =
    "nginx speaks HTTP/1.0 to backends by default (before 1.29.7) and cannot keep those connections alive";

fn version(ctx: &Ctx, location: LevelId) -> Vec<Change> {
    let model = ctx.model;
    let value_at = |level: LevelId| {
        model
            .named(level, "proxy_http_version")
            .last()
            .map(|d| model.dirs[*d].arg(0).unwrap_or("").to_string())
    };
    let chain = model.inheritance_chain(location);
    let add = || -> Vec<Change> {
        settings_anchor(model, location)
            .map(|anchor| {
                let text = "proxy_http_version 1.1;";
                let edit = layout::at_anchor(model, anchor, text, Slot::HttpVersion);
                Change::new(RuleId::HttpVersion, edit, ADD_REASON).about(model.level_head(location))
            })
            .into_iter()
            .collect()
    };
    // Set in the location itself: fix every `1.0` there (nginx refuses a
    // duplicate, but a file being migrated may still have one).
    let here = model.named(location, "proxy_http_version");
    if !here.is_empty() {
        let wrong: Vec<_> = here
            .iter()
            .copied()
            .filter(|d| model.dirs[*d].arg(0) == Some("1.0"))
            .collect();
        if wrong.is_empty() {
            return Vec::new();
        }
        let inherited_ok = chain[1..]
            .iter()
            .find_map(|l| value_at(*l))
            .is_none_or(|v| v == "1.1");
        if ctx.opts.new_defaults && inherited_ok && wrong.len() == here.len() {
            return wrong
                .into_iter()
                .map(|dir| {
                    let edit = layout::delete_directive(model, dir);
                    Change::new(RuleId::HttpVersion, edit, "`proxy_http_version 1.0` prevents keepalive; nginx ≥ 1.29.7 defaults to 1.1")
                        .about(model.dirs[dir].head())
                })
                .collect();
        }
        return wrong
            .into_iter()
            .map(|dir| {
                let edit = layout::replace_arg(&model.dirs[dir].args[0], "1.1");
                Change::new(
                    RuleId::HttpVersion,
                    edit,
                    "HTTP/1.0 connections to the backend cannot be kept alive",
                )
                .about(model.dirs[dir].head())
            })
            .collect();
    }
    match chain[1..].iter().find_map(|l| value_at(*l)) {
        None if ctx.opts.new_defaults => Vec::new(),
        None => add(),
        Some(value) if value != "1.0" => Vec::new(),
        Some(_) => add(),
    }
}
