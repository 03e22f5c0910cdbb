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

use std::collections::{BTreeMap, BTreeSet};

use crate::edit::Edit;
use crate::layout;
use crate::model::{DirId, LevelId};
use crate::rules::Ctx;
use crate::vocab::{Change, RuleId};

/// The file's maps, and what the locations asked of them.
#[derive(Debug, Default)]
pub struct MapNeeds {
    /// `(map directive, http context, source, variable)`, found once.
    maps: Vec<(DirId, LevelId, String, String)>,
    fix: BTreeSet<DirId>,
    create: BTreeSet<LevelId>,
}

impl MapNeeds {
    /// Finds every map of the file with `queries/map.scm`.
    pub fn new(ctx: &Ctx) -> MapNeeds {
        let model = ctx.model;
        let maps = model
            .found
            .map
            .iter()
            .filter_map(|(start, _)| {
                let dir = model.dir_at(*start)?;
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

pub struct MapPlan {
    pub changes: Vec<Change>,
    /// Bodies of new map blocks per http context (placed by `upstream_block`).
    pub new_blocks: BTreeMap<LevelId, Vec<String>>,
}

pub fn plan(ctx: &Ctx, needs: &MapNeeds) -> MapPlan {
    let model = ctx.model;
    let mut changes = Vec::new();
    for dir in &needs.fix {
        let Some(block) = model.dirs[*dir].block else {
            continue;
        };
        let entry = model.levels[block]
            .statements
            .iter()
            .find(|d| model.dirs[**d].name.value.is_empty());
        let reason = "an empty Upgrade must map to an empty Connection (not `close`) so that ordinary requests are pooled".to_string();
        match entry {
            Some(d) => {
                let entry = &model.dirs[*d];
                match entry.args.first() {
                    Some(value) if !value.value.is_empty() => {
                        let q = entry.name.quote.unwrap_or('\'');
                        changes.push(Change {
                            rule: RuleId::WebsocketMap,
                            edit: Edit::replace(value.range.clone(), format!("{q}{q}")),
                            reason,
                        });
                    }
                    _ => {}
                }
            }
            None => changes.push(Change {
                rule: RuleId::WebsocketMap,
                edit: layout::at_block_end(model, block, "'' '';", 0),
                reason,
            }),
        }
    }
    let new_blocks = needs
        .create
        .iter()
        .map(|http| {
            (
                *http,
                vec!["default upgrade;".to_string(), "'' '';".to_string()],
            )
        })
        .collect();
    MapPlan {
        changes,
        new_blocks,
    }
}
