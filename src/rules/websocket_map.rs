//! `websocket-map`
//!
//! **What**: provides the map nginx's WebSocket guide recommends, adjusted
//! for keepalive: `map $http_upgrade $connection_upgrade { default upgrade;
//! '' ''; }`. An existing map that sets the variable from `$http_upgrade`
//! is reused, with its `''` entry fixed from `close` to `''` (or added).
//!
//! **Why**: the guide's `'' close` sends `Connection: close` on every
//! ordinary request, which defeats the pool; an empty value sends no
//! Connection header at all, and HTTP/1.1 then keeps the connection.
//!
//! **Example**: `'' close;` → `'' '';`
//!
//! **Safety**: only the empty-key entry changes; WebSocket handshakes still
//! get `upgrade` from the default entry.

use std::collections::BTreeSet;

use crate::model::{DirId, LevelId};
use crate::rules::api::{Board, Context, Ctx, MapNeeds, Rule};
use crate::rules::layout;
use crate::syntax::edit::{Edit, Slot};
use crate::rules::api::Change;
use crate::rules::api::Plan;
use crate::rules::RuleId;

impl MapNeeds {
    /// Finds every map of the file with `queries/map.scm`.
    pub fn new(ctx: &Ctx) -> MapNeeds {
        let model = ctx.model;
        let maps = model
            .index
            .map
            .iter()
            .filter_map(|&dir| {
                let d = &model.dirs[dir];
                let http = model.http_context(d.level)?;
                Some((dir, http, d.arg(0)?.to_string(), d.arg(1)?.to_string()))
            })
            .collect();
        MapNeeds {
            maps,
            ..MapNeeds::default()
        }
    }

    /// The http contexts whose maps need a change or that need a new one.
    pub fn contexts(&self) -> BTreeSet<LevelId> {
        self.maps
            .iter()
            .filter(|m| self.fix.contains(&m.0))
            .map(|m| m.1)
            .chain(self.create.iter().copied())
            .collect()
    }

    /// The maps of the http context that need a change.
    fn fixes_in(&self, http: LevelId) -> Vec<DirId> {
        self.maps
            .iter()
            .filter(|m| m.1 == http && self.fix.contains(&m.0))
            .map(|m| m.0)
            .collect()
    }

    /// `(map directive, source, variable)` for every map in the http context.
    fn maps_in(&self, http: LevelId) -> Vec<(DirId, String, String)> {
        self.maps
            .iter()
            .filter(|m| m.1 == http)
            .map(|(d, _, s, v)| (*d, s.clone(), v.clone()))
            .collect()
    }

    /// True when `var` is set by a map from `$http_upgrade` in this context.
    pub fn defined_from_upgrade(&self, _ctx: &Ctx, http: LevelId, var: &str) -> bool {
        self.maps_in(http)
            .iter()
            .any(|(_, source, v)| source == "$http_upgrade" && v == var)
    }

    /// Asks for the map that defines `var` to be made keepalive-friendly.
    pub fn fix(&mut self, _ctx: &Ctx, http: LevelId, var: &str) {
        if let Some((dir, _, _)) = self
            .maps_in(http)
            .into_iter()
            .find(|(_, s, v)| s == "$http_upgrade" && v == var)
        {
            self.fix.insert(dir);
        }
    }

    /// The variable to use for `Connection`, reusing an existing map.
    pub fn variable_for(&mut self, _ctx: &Ctx, http: LevelId) -> String {
        let maps = self.maps_in(http);
        let existing = maps
            .iter()
            .find(|(_, s, v)| s == "$http_upgrade" && v == "$connection_upgrade")
            .or_else(|| maps.iter().find(|(_, s, _)| s == "$http_upgrade"));
        match existing {
            Some((dir, _, var)) => {
                self.fix.insert(*dir);
                var.clone()
            }
            None => {
                self.create.insert(http);
                "$connection_upgrade".into()
            }
        }
    }
}

pub struct WebsocketMap;

impl Rule for WebsocketMap {

    fn context(&self, ctx: &Ctx, context: &Context, board: &mut Board, out: &mut Plan) {
        let needs = &board.maps;
        for dir in needs.fixes_in(context.http) {
            out.changes.extend(make_friendly(ctx, dir));
        }
        if needs.create.contains(&context.http) {
            board.new_maps.insert(
                context.http,
                vec!["default upgrade;".to_string(), "'' '';".to_string()],
            );
        }
    }
}

/// Makes an existing map send an empty `Connection` (not `close`) when
/// there is no `Upgrade`.
fn make_friendly(ctx: &Ctx, dir: DirId) -> Option<Change> {
    let model = ctx.model;
    let block = model.dirs[dir].block?;
    let entry = model.levels[block]
        .statements
        .iter()
        .find(|d| model.dirs[**d].name.value.is_empty());
    let reason = "an empty Upgrade must map to an empty Connection (not `close`) so that ordinary requests are pooled".to_string();
    match entry {
        Some(d) => {
            let entry = &model.dirs[*d];
            let value = entry.args.first().filter(|v| !v.value.is_empty())?;
            let q = entry.name.quote.unwrap_or('\'');
            let edit = Edit::replace(value.range.clone(), format!("{q}{q}"));
            Some(Change::new(RuleId::WebsocketMap, edit, reason).about(entry.head()))
        }
        None => {
            let edit = layout::at_block_end(model, block, "'' '';", Slot::First);
            Some(Change::new(RuleId::WebsocketMap, edit, reason).about(model.dirs[dir].head()))
        }
    }
}
