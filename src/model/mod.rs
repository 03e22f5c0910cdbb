//! A typed view of one parsed file: its blocks ("levels": the main context,
//! `http`, `server`, `location`, `if`, `upstream`, ...) and the directives in
//! each, plus the questions the rewrite rules ask about nginx's inheritance.
//!
//! The model knows nothing of `proxy_pass` in particular: it answers "which
//! level defines `proxy_set_header` for this location?" for any setting, so
//! rules for other `*_pass` modules can share it. Nothing here refers to the
//! file a directive came from beyond byte offsets into one [`Source`], so a
//! later multi-file model (following `include`) can keep the same questions.

pub mod dump;
pub mod files;
pub(crate) mod ignore;
pub mod nginx;
pub mod paths;
pub mod roots;
pub mod shape;
pub mod siblings;
pub mod target;
pub mod variables;
pub mod workspace;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use std::sync::Arc;

use tree_sitter::{Node, Tree, TreeCursor};

use crate::model::workspace::{Inclusion, SplicedFile, Syntax, Unit, Workspace};
use crate::syntax::query;
use crate::syntax::source::Source;
use crate::syntax::splice::{self, Edge};
use crate::vocab::fast::FastMap;

/// Defines an id type: an index into one of the model's tables, kept
/// apart from other numbers (offsets, counts, other tables' ids) by type;
/// the table is indexed with it directly (`model.levels[id]`).
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident indexes $item:ty $(, $lt:lifetime)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(u32);

        impl $name {
            /// The id of the `index`th item.
            pub fn new(index: usize) -> $name {
                $name(u32::try_from(index).expect("fewer than 2^32 entries"))
            }

            /// The position of the item in its list.
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl<$($lt)?> std::ops::Index<$name> for Vec<$item> {
            type Output = $item;
            fn index(&self, id: $name) -> &$item {
                &self[id.index()]
            }
        }

        impl<$($lt)?> std::ops::IndexMut<$name> for Vec<$item> {
            fn index_mut(&mut self, id: $name) -> &mut $item {
                &mut self[id.index()]
            }
        }
    };
}

id_type!(
    /// A level of the model: the root or a block's inside.
    LevelId indexes Level
);
id_type!(
    /// A directive of the model.
    DirId indexes Directive<'s>, 's
);

/// What kind of block a level is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelKind {
    /// The file's top level.
    Root,
    Http,
    Server,
    Location,
    If,
    LimitExcept,
    Upstream,
    Map,
    Stream,
    Mail,
    /// Any other block (`events`, `types`, `geo`, a Lua block, ...).
    Other,
}

/// What the file's top level is, judged from the directives it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootRole {
    /// A main configuration (`http`, `events`, `stream` ... at the top).
    Main,
    /// A snippet included from `http` (top-level `server`/`upstream`/`map`).
    HttpSnippet,
    /// Anything else, e.g. a snippet of `location` blocks included from `server`.
    Fragment,
}

#[derive(Debug, Clone)]
pub struct Level {
    pub kind: LevelKind,
    /// The block directive that opens this level (`None` for the root).
    pub owner: Option<DirId>,
    pub parent: Option<LevelId>,
    /// The directives directly inside, in source order.
    pub statements: Vec<DirId>,
    /// Offset of the closing `}` (end of file for the root).
    pub close: usize,
}

/// One argument (or the name) of a directive.
#[derive(Debug, Clone)]
pub struct Word<'s> {
    /// Byte range of the word as written, quotes included.
    pub range: Range<usize>,
    /// The value nginx sees: quotes removed, escapes resolved (borrowed
    /// from the source when nothing needed resolving, as is usual).
    pub value: Cow<'s, str>,
    /// `Some('"')` or `Some('\'')` when written quoted.
    pub quote: Option<char>,
}

#[derive(Debug, Clone)]
pub struct Directive<'s> {
    pub name: Word<'s>,
    pub args: Vec<Word<'s>>,
    /// From the name to the `;` or the closing `}`.
    pub range: Range<usize>,
    pub level: LevelId,
    pub block: Option<LevelId>,
    /// For a directive read from an included file directly into `level`:
    /// the `include` in `level`'s own file that brought it (the outermost,
    /// when includes nest). New text placed "after" it goes after that.
    pub via: Option<DirId>,
}

impl Directive<'_> {
    pub fn is(&self, name: &str) -> bool {
        self.name.value == name
    }

    /// What a report points at: a simple directive whole, a block
    /// directive from its name to its last argument (not its body).
    pub fn head(&self) -> Range<usize> {
        match self.block {
            Some(_) => {
                let end = self.args.last().unwrap_or(&self.name).range.end;
                self.range.start..end
            }
            None => self.range.clone(),
        }
    }

    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(|a| a.value.as_ref())
    }
}

/// What nginx reads from a unit: its levels (blocks) and directives, with
/// inheritance and the directives the queries find indexed.
pub struct Model<'s> {
    /// The text the model was built from (a unit's joined text).
    pub source: &'s Source,
    /// Every level, the top one first.
    pub levels: Vec<Level>,
    /// Every directive, in source order (so sorted by start offset).
    pub dirs: Vec<Directive<'s>>,
    /// What the top level is: a main config, an `http` body, a fragment.
    pub root_role: RootRole,
    /// The directives `queries/*.scm` match, by id, in source order.
    pub index: Index,
    /// While building: every file the walk read with where its text
    /// starts in the unit's (a file included in several places is read at
    /// each).
    walked: Vec<(crate::model::workspace::FileId, usize)>,
    /// Directives without a block, by level and name, in order: a tree's
    /// `http` level holds thousands of included servers, and every
    /// location asks it for settings.
    by_name: FastMap<(LevelId, Cow<'s, str>), Vec<DirId>>,
    /// Per level, its directives without a block, in order.
    plain: Vec<Vec<DirId>>,
    /// `include`s whose files upkeep could not read (or that loop), with
    /// why: what they hold is unknown.
    pub unseen: HashMap<DirId, String>,
    /// `include`s whose glob matched no file (nginx includes nothing).
    pub empty_globs: Vec<DirId>,
    /// `include`s upkeep could not read that `--ignore-include` declares
    /// irrelevant: read as empty.
    pub ignored_includes: Vec<DirId>,
    /// Directives with `# upkeep:ignore [reason]` on the line right above
    /// them (in the same file), with the reason if one was given.
    pub ignored: HashMap<DirId, Option<String>>,
    /// Comments that look like `# upkeep:ignore` and leave nothing alone
    /// (a near miss, or the marker where it marks nothing), each with the
    /// warning that says what to write instead: at the comment's offset.
    pub(crate) ignore_misses: Vec<(usize, String)>,
    /// While building: every real marker the walk saw, with why it would
    /// mark nothing (as far as the comment's neighbours tell), and the
    /// markers that did mark a directive.
    markers_seen: Vec<(usize, Option<ignore::Miss>)>,
    markers_used: HashSet<usize>,
    /// While building: where the file being walked starts in the text, and
    /// the include that brought its top level in.
    base: usize,
    via: Option<DirId>,
    /// While building: how positions and text of the tree being walked
    /// are read.
    reading: Reading,
    /// While building: how many regions came before the last position
    /// read from an original tree (where to look first for the next; an
    /// atomic only so that a built model can be shared between threads).
    region_hint: std::sync::atomic::AtomicUsize,
    /// While building: the unit whose includes the walk follows. The
    /// workspace with the trees is an argument of the walk, not a field,
    /// so that the model borrows only the unit's text and a tree can be
    /// dropped as soon as its model is built (`Workspace::release_trees`).
    unit: Option<&'s Unit>,
}

pub const ROOT: LevelId = LevelId(0);

/// The trees of a unit's files that parsed, while its model is built.
type UnitTrees = FastMap<crate::model::workspace::FileId, Syntax>;

/// How the walk reads the positions and text of the tree under its
/// cursor: positions are the unit's, at the file's `base`.
#[derive(Debug, Clone)]
enum Reading {
    /// A tree of the file's own text.
    Whole,
    /// The original tree of a file re-parsed statement by statement: its
    /// positions carried over to the rewritten text.
    Original(Arc<SplicedFile>),
    /// The statements of one region of such a file.
    Region(Arc<SplicedFile>, usize),
}

/// The text the tree being walked was parsed from: its nodes' positions
/// are in it (a file of the unit's text from `base`, a spliced file's
/// original text, or the text of its regions).
fn tree_text<'a>(reading: &'a Reading, source: &'a Source, base: usize) -> &'a [u8] {
    match reading {
        Reading::Whole => &source.text[base..],
        Reading::Original(f) => &f.original.text,
        Reading::Region(f, i) => &f.spliced.pieces[f.spliced.regions[*i].piece].text,
    }
}

/// What a walk puts back when the file it reads ends: the including
/// file's base, `via` and reading.
type Saved = (usize, Option<DirId>, Reading);

/// The directives the queries in `queries/` match, in reading order: the
/// only list of the directives upkeep looks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Index {
    /// `*_pass` directives with a target (`queries/pass.scm`).
    pub pass: Vec<DirId>,
    /// `upstream NAME { }` blocks (`queries/upstream.scm`).
    pub upstream: Vec<DirId>,
    /// `map SOURCE $VAR { }` blocks (`queries/map.scm`).
    pub map: Vec<DirId>,
}

impl Index {
    /// The list of the directives `file` matches.
    fn of(&mut self, file: query::QueryFile) -> &mut Vec<DirId> {
        match file {
            query::QueryFile::Pass => &mut self.pass,
            query::QueryFile::Upstream => &mut self.upstream,
            query::QueryFile::Map => &mut self.map,
        }
    }
}

impl<'s> Model<'s> {
    /// The model of one file read alone (its includes unseen).
    pub fn build(source: &'s Source, tree: &Tree) -> Model<'s> {
        let mut model = Model::empty(source, source.text.len(), None);
        let restore = model.saved();
        model.collect(tree.walk(), None, ROOT, None, restore);
        #[cfg(debug_assertions)]
        model.index_is_the_queries(query::queries().run(tree.root_node(), &source.text));
        model.finish()
    }

    /// The model of a unit: its entry files one after another at the top
    /// level, every include read in place, as nginx reads them.
    pub fn build_unit(unit: &'s Unit, ws: &Workspace) -> Model<'s> {
        let first = &unit.segments[0];
        assert!(
            ws.file(first.file).tree.is_ok(),
            "a unit with syntax errors is not modelled"
        );
        let mut model = Model::empty(&unit.source, first.base + first.len, Some(unit));
        // Every directive ends at a `;` or opens a `{`: their count (a few
        // more where comments, strings or Lua hold them) reserves the
        // directives at once instead of doubling into up to twice the room.
        model
            .dirs
            .reserve(memchr::memchr2_iter(b';', b'{', &unit.source.text).count());
        // The trees of the files that parsed, held while the model is
        // built: a run may drop them once it is (`TreeSlot`), and a tree
        // dropped too soon must stop the run, not leave a file out.
        let trees: UnitTrees = unit
            .files
            .iter()
            .filter_map(|id| {
                let syntax = ws.file(*id).tree.as_ref().ok()?.syntax();
                Some((
                    *id,
                    syntax.expect("a unit's trees are kept until it is modelled"),
                ))
            })
            .collect();
        for (i, segment) in unit.segments.iter().enumerate() {
            if segment.included_by.is_none() {
                if i > 0 {
                    model.levels[ROOT].close = segment.base + segment.len;
                }
                model.walk_file(&trees, segment.file, segment.base, ROOT, None);
            }
        }
        // Every debug build holds the walk's matches to a query pass over
        // each file's whole tree, placed at each inclusion the walk read
        // (files re-parsed statement by statement are held to a whole
        // parse by `check::verify` instead).
        #[cfg(debug_assertions)]
        if trees.values().all(|t| matches!(t, Syntax::Whole(_))) {
            let mut all = query::Matches::default();
            for (file, base) in &model.walked {
                let Syntax::Whole(tree) = &trees[file] else {
                    unreachable!("checked above");
                };
                let here = query::queries().run(tree.root_node(), &ws.file(*file).source.text);
                all.pass.extend(here.pass.iter().map(|at| at + base));
                all.upstream
                    .extend(here.upstream.iter().map(|at| at + base));
                all.map.extend(here.map.iter().map(|at| at + base));
            }
            model.index_is_the_queries(all);
        }
        model.finish()
    }

    fn empty(source: &'s Source, close: usize, unit: Option<&'s Unit>) -> Model<'s> {
        Model {
            source,
            levels: vec![Level {
                kind: LevelKind::Root,
                owner: None,
                parent: None,
                statements: Vec::new(),
                close,
            }],
            dirs: Vec::new(),
            root_role: RootRole::Fragment,
            index: Index::default(),
            walked: Vec::new(),
            by_name: FastMap::default(),
            plain: Vec::new(),
            unseen: HashMap::new(),
            empty_globs: Vec::new(),
            ignored_includes: Vec::new(),
            ignored: HashMap::new(),
            ignore_misses: Vec::new(),
            markers_seen: Vec::new(),
            markers_used: HashSet::new(),
            base: 0,
            via: None,
            reading: Reading::Whole,
            region_hint: std::sync::atomic::AtomicUsize::new(0),
            unit,
        }
    }

    fn finish(mut self) -> Model<'s> {
        self.root_role = self.classify_root();
        // A marker is a miss only if no directive took it: what marks a
        // directive is decided in one place (`directive`), and the reason
        // read from the comment's neighbours only words the warning.
        for (at, miss) in std::mem::take(&mut self.markers_seen) {
            if !self.markers_used.contains(&at) {
                let miss = miss.unwrap_or(ignore::Miss::NothingBelow);
                self.ignore_misses.push((at, ignore::miss_message(&miss)));
            }
        }
        self.ignore_misses.sort();
        self.plain = vec![Vec::new(); self.levels.len()];
        // At most one entry per directive without a block (most levels
        // name each directive once): reserved rather than rehashed as it
        // grows.
        let plain = self.dirs.iter().filter(|d| d.block.is_none()).count();
        self.by_name.reserve(plain);
        for (level, l) in self.levels.iter().enumerate() {
            let level = LevelId::new(level);
            for d in &l.statements {
                let dir = &self.dirs[*d];
                if dir.block.is_none() {
                    self.plain[level.index()].push(*d);
                    self.by_name
                        .entry((level, dir.name.value.clone()))
                        .or_default()
                        .push(*d);
                }
            }
        }
        self.unit = None;
        self
    }

    /// The check that the walk's query matches (`directive`) are what a
    /// query pass over the tree finds, `matched` its starts in the unit's
    /// text: a match the walk did not model (inside a Lua block's text,
    /// say) is not a directive nginx reads as one.
    #[cfg(debug_assertions)]
    fn index_is_the_queries(&self, matched: query::Matches) {
        let by_start: HashMap<usize, DirId> = self
            .dirs
            .iter()
            .enumerate()
            .map(|(id, d)| (d.range.start, DirId::new(id)))
            .collect();
        let ids = |starts: &[usize]| -> Vec<DirId> {
            let mut ids: Vec<DirId> = starts
                .iter()
                .filter_map(|s| by_start.get(s).copied())
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        let passed = Index {
            pass: ids(&matched.pass),
            upstream: ids(&matched.upstream),
            map: ids(&matched.map),
        };
        assert_eq!(
            self.index, passed,
            "the walk's query matches are not the query pass's"
        );
    }

    /// Everything the model read, as text (maps in order), for the check
    /// that two ways of reading one text read the same
    /// (`verify::same_as_whole_parse`); near-miss warnings left out.
    #[cfg(debug_assertions)]
    pub fn summary(&self) -> String {
        let sorted = |map: &HashMap<DirId, Option<String>>| {
            let mut v: Vec<_> = map.iter().collect();
            v.sort();
            format!("{v:?}")
        };
        let mut unseen: Vec<_> = self.unseen.iter().collect();
        unseen.sort();
        format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n{unseen:?}\n{:?}\n{:?}\n{}",
            self.root_role,
            self.levels,
            self.dirs,
            self.index,
            self.empty_globs,
            self.ignored_includes,
            sorted(&self.ignored)
        )
    }

    /// Walks one file's statements into `level`, its text at `base`.
    fn walk_file(
        &mut self,
        trees: &UnitTrees,
        file: crate::model::workspace::FileId,
        base: usize,
        level: LevelId,
        via: Option<DirId>,
    ) {
        let saved = self.saved();
        let Some((cursor, spliced)) = self.enter_file(Some(trees), file, base) else {
            return;
        };
        self.base = base;
        self.via = via;
        self.collect(cursor, spliced, level, Some(trees), saved.clone());
        (self.base, self.via, self.reading) = saved;
    }

    /// The walk's base, `via` and reading, to put back when a file ends.
    fn saved(&self) -> Saved {
        (self.base, self.via, self.reading.clone())
    }

    /// Where `offset` of the tree being walked is in the unit's text.
    fn at(&self, offset: usize, edge: Edge) -> usize {
        self.base
            + match &self.reading {
                Reading::Whole => offset,
                Reading::Original(f) => {
                    let hint = self.region_hint.load(std::sync::atomic::Ordering::Relaxed);
                    let (at, hint) =
                        splice::new_offset_near(&f.spliced.regions, offset, edge, hint);
                    self.region_hint
                        .store(hint, std::sync::atomic::Ordering::Relaxed);
                    at
                }
                Reading::Region(f, i) => f.spliced.regions[*i].to_new(offset),
            }
    }

    /// A cursor on the tree of `file` (read at `base`), which the walk
    /// notes it read, and the file's splice if it was re-parsed statement
    /// by statement (the cursor is then on its original tree); `None` for
    /// a file that did not parse. The walk reads the file from here on.
    fn enter_file<'c>(
        &mut self,
        trees: Option<&'c UnitTrees>,
        file: crate::model::workspace::FileId,
        base: usize,
    ) -> Option<(TreeCursor<'c>, Option<&'c Arc<SplicedFile>>)> {
        let syntax = trees?.get(&file)?;
        self.walked.push((file, base));
        Some(match syntax {
            Syntax::Whole(tree) => {
                self.reading = Reading::Whole;
                (tree.walk(), None)
            }
            Syntax::Spliced(f) => {
                self.reading = Reading::Original(f.clone());
                (f.spliced.original.walk(), Some(f))
            }
        })
    }

    /// What an `include` directive at `level` brings in: the segments to
    /// read in its place, each with its base and `via`.
    fn include(
        &mut self,
        id: DirId,
    ) -> Vec<(crate::model::workspace::FileId, usize, Option<DirId>)> {
        let Some(unit) = self.unit else {
            self.unseen
                .insert(id, "upkeep was given this file alone".into());
            return Vec::new();
        };
        match unit.inclusions.get(&self.dirs[id].range.start) {
            Some(Inclusion::Segments(segments)) => {
                let via = self.via.or(Some(id));
                return segments
                    .iter()
                    .map(|s| {
                        let segment = unit.segment(*s);
                        (segment.file, segment.base, via)
                    })
                    .collect();
            }
            Some(Inclusion::Nothing { .. }) => self.empty_globs.push(id),
            Some(Inclusion::Ignored) => self.ignored_includes.push(id),
            Some(Inclusion::Unseen { reason }) => {
                self.unseen.insert(id, reason.clone());
            }
            Some(Inclusion::Cycle { chain }) => {
                self.unseen.insert(id, format!("include cycle: {chain}"));
            }
            None => {
                self.unseen.insert(id, "not a single file name".into());
            }
        }
        Vec::new()
    }

    /// Walks the statements under the cursor's node (the root or a block),
    /// and the files its includes read in their place, with one tree
    /// cursor per file: no per-node allocation but the words' values.
    ///
    /// A loop with its own stacks (of files being read, and of the blocks
    /// each is in), not a recursion: nesting is bounded
    /// (`parse::MAX_DEPTH`), but a thread's stack is not the place to find
    /// out how deep a tree can be (recursive, 5,000 levels overflowed it).
    fn collect<'c>(
        &mut self,
        cursor: TreeCursor<'c>,
        spliced: Option<&'c Arc<SplicedFile>>,
        level: LevelId,
        trees: Option<&'c UnitTrees>,
        restore: Saved,
    ) {
        let mut walks = vec![FileWalk::new(cursor, spliced, level, restore)];
        while let Some(w) = walks.last_mut() {
            // The files an include just read come before its next sibling.
            if let Some((file, base, via)) = w.pending.pop() {
                let level = w.level;
                let saved = self.saved();
                if let Some((cursor, spliced)) = self.enter_file(trees, file, base) {
                    walks.push(FileWalk::new(cursor, spliced, level, saved));
                    self.base = base;
                    self.via = via;
                }
                continue;
            }
            if !self.next_node(w) {
                // The file is read: back to the walk that included it.
                (self.base, self.via, self.reading) = w.restore.clone();
                walks.pop();
                continue;
            }
            let node = w.cursor.node();
            if node.kind_id() == kinds().comment {
                self.comment(node);
                continue;
            }
            let is_lua = node.kind_id() == kinds().lua_directive;
            if !is_lua && node.kind_id() != kinds().directive {
                continue;
            }
            match self.directive(&mut w.cursor, w.level, is_lua) {
                Next::Sibling => {}
                Next::Block(child) => {
                    // Directives inside a block are written in this file,
                    // whatever brought the block's owner in.
                    let saved_via = self.via.take();
                    if enter_block(&mut w.cursor) {
                        w.open.push((w.level, saved_via));
                        w.level = child;
                        if let Some(region) = &mut w.region {
                            region.open += 1;
                        }
                    } else {
                        self.via = saved_via;
                    }
                }
                Next::Include(id) => {
                    let mut segments = self.include(id);
                    // Popped from the end: the first segment first.
                    segments.reverse();
                    w.pending = segments;
                }
            }
        }
    }

    /// Moves `w`'s cursor to the next node of its file in reading order,
    /// leaving the blocks that end on the way, and reading a region's
    /// statements in place of the original statements it replaces (a file
    /// re-parsed statement by statement); false at the end of the file.
    fn next_node(&mut self, w: &mut FileWalk<'_>) -> bool {
        let mut landed = if w.started {
            // Where a region of this list may start: after a statement or
            // the `{` (not after the `}`, which ends the list).
            if w.region.is_none() && w.cursor.node().kind_id() != kinds().close {
                w.prev_end = w.cursor.node().end_byte();
            }
            w.cursor.goto_next_sibling()
        } else {
            w.started = true;
            w.prev_end = 0;
            w.cursor.goto_first_child()
        };
        loop {
            if let (Some(region), Some(f)) = (&w.region, w.spliced) {
                if region.open == 0 {
                    if landed && f.spliced.in_region(region.index, w.cursor.node()) {
                        return true;
                    }
                    landed = self.leave_region(w, f);
                    continue;
                }
                if landed {
                    return true;
                }
                // The end of a block of the region's statements.
                self.close_block(w);
                landed = w.cursor.goto_next_sibling();
                continue;
            }
            if let Some(f) = w.spliced {
                // Regions are read in order, each once: one that replaces
                // no original text starts where it ends.
                let next = splice::region_from(&f.spliced.regions, w.prev_end)
                    .filter(|i| *i >= w.next_region);
                if let Some(i) = next {
                    w.next_region = i + 1;
                    landed = self.enter_region(w, f, i, landed);
                    continue;
                }
            }
            if landed {
                return true;
            }
            // The end of a block's statements (or of the file's).
            if w.open.is_empty() {
                return false;
            }
            self.close_block(w);
            w.prev_end = w.cursor.node().end_byte();
            landed = w.cursor.goto_next_sibling();
        }
    }

    /// From the end of a block's statements up to its directive, back at
    /// the level (and `via`) around it.
    fn close_block(&mut self, w: &mut FileWalk<'_>) {
        w.cursor.goto_parent();
        let (parent, via) = w.open.pop().expect("a block the walk entered");
        // From the block up to its directive.
        w.cursor.goto_parent();
        self.via = via;
        w.level = parent;
        if let Some(region) = &mut w.region {
            region.open -= 1;
        }
    }

    /// Reads region `i` of `f` next: the original cursor (on the node it
    /// `landed` on, if any) is parked past the statements the region
    /// replaces, and the cursor is on the region's first statement. Says
    /// whether the cursor is on a node.
    fn enter_region<'c>(
        &mut self,
        w: &mut FileWalk<'c>,
        f: &'c Arc<SplicedFile>,
        i: usize,
        landed: bool,
    ) -> bool {
        let old_end = f.spliced.regions[i].old.end;
        let mut on = landed;
        while on && w.cursor.node().start_byte() < old_end {
            on = w.cursor.goto_next_sibling();
        }
        w.prev_end = old_end;
        let Some(statements) = f.spliced.statements(i) else {
            // Only spaces: nothing to read.
            return on;
        };
        w.region = Some(InRegion {
            index: i,
            open: 0,
            parked: std::mem::replace(&mut w.cursor, statements),
            parked_on_node: on,
        });
        self.reading = Reading::Region(f.clone(), i);
        true
    }

    /// Back from the region `w` reads (of `f`) to the original tree, where
    /// [`Model::enter_region`] parked it; says whether it is on a node.
    fn leave_region(&mut self, w: &mut FileWalk<'_>, f: &Arc<SplicedFile>) -> bool {
        let region = w.region.take().expect("a region is being read");
        w.cursor = region.parked;
        w.prev_end = f.spliced.regions[region.index].old.end;
        self.reading = Reading::Original(f.clone());
        region.parked_on_node
    }

    /// Models the directive under the cursor in `level`; says what the
    /// walk reads next.
    fn directive(&mut self, cursor: &mut TreeCursor<'_>, level: LevelId, is_lua: bool) -> Next {
        let node = cursor.node();
        let id = DirId::new(self.dirs.len());
        let mut name = None;
        // Sized from the children (name, arguments, `;` or a block): most
        // directives have one or two arguments, and a vector grown from
        // empty holds four (192 bytes where one argument takes 48).
        let mut args = Vec::with_capacity((node.child_count() as usize).saturating_sub(2));
        let mut block = None;
        // The children by kind, not by field: in the grammar a directive
        // is its name (a word or string), its arguments (words or strings)
        // and `;` or a block, with comments anywhere between, so the first
        // word is the name field, the later ones the argument fields and a
        // block the block field. Asking each child for its field cost a
        // tenth of the walk (the cursor recomputes where it is for it).
        if cursor.goto_first_child() {
            loop {
                let child = cursor.node();
                let kind = child.kind_id();
                if kind == kinds().word || kind == kinds().string {
                    let word = self.word(child);
                    if name.is_none() {
                        name = Some(word);
                    } else {
                        args.push(word);
                    }
                } else if kind == kinds().block || kind == kinds().lua_block {
                    block = Some(child);
                }
                if !cursor.goto_next_sibling() {
                    break;
                }
            }
            cursor.goto_parent();
        }
        let name = name.expect("grammar: every directive has a name");
        let start = self.at(node.start_byte(), Edge::Start);
        if let Some((at, reason)) = ignore_above(self.source, self.base, start) {
            self.markers_used.insert(at);
            self.ignored.insert(id, reason);
        }
        if let Some((at, reason)) = self.ignore_after(node, block) {
            self.markers_used.insert(at);
            self.ignored.entry(id).or_insert(reason);
        }
        // The queries are asked only about names they may match (the walk
        // is the one visit of every directive).
        if !is_lua && query::may_match(&self.source.text[name.range.clone()]) {
            let reading = self.reading.clone();
            let text = tree_text(&reading, self.source, self.base);
            let index = &mut self.index;
            query::queries().directive_matches(node, text, |file| index.of(file).push(id));
        }
        self.dirs.push(Directive {
            name,
            args,
            range: start..self.at(node.end_byte(), Edge::End),
            level,
            block: None,
            via: self.via,
        });
        self.levels[level].statements.push(id);
        let Some(block) = block else {
            if !is_lua && self.dirs[id].is("include") {
                return Next::Include(id);
            }
            return Next::Sibling;
        };
        let kind = if is_lua {
            LevelKind::Other
        } else {
            kind_of(&self.dirs[id].name.value)
        };
        let child = LevelId::new(self.levels.len());
        self.levels.push(Level {
            kind,
            owner: Some(id),
            parent: Some(level),
            statements: Vec::new(),
            close: self.at(block.end_byte().saturating_sub(1), Edge::Start),
        });
        self.dirs[id].block = Some(child);
        if is_lua {
            // A Lua block's text is Lua, not directives.
            Next::Sibling
        } else {
            Next::Block(child)
        }
    }

    /// The marker written after `node` on its line, which marks it: after
    /// its `;` (`proxy_pass http://vendor:8080; # upkeep:ignore`), after a
    /// block that opens and closes on that line, or after the `{` of its
    /// block (`location /vendor/ { # upkeep:ignore`). Where its `#` is, and
    /// its reason. The tree, not the text, says what follows: a comment is
    /// a node of the directive's own file. `block`: the directive's block,
    /// which the walk already holds.
    fn ignore_after(
        &self,
        node: Node<'_>,
        block: Option<Node<'_>>,
    ) -> Option<(usize, Option<String>)> {
        let text = &self.source.text;
        // Read from the text, not through `next_sibling`: tree-sitter finds
        // a node's sibling from the root down, which made the walk
        // quadratic in the statements of a block (an `http` with thousands
        // of servers). nginx's tokenizer makes a `#` that starts a token a
        // comment to the end of its line, so the text says it exactly.
        let marker = |from: usize| -> Option<(usize, Option<String>)> {
            let comment = comment_on_line(text, from)?;
            let line = std::str::from_utf8(&text[comment.clone()]).ok()?;
            match ignore::read_marker(line) {
                ignore::Marker::Exact(reason) => Some((comment.start, reason)),
                _ => None,
            }
        };
        // From the text, not the tree's rows: a statement carried over
        // from an original tree has that text's rows, and an edit inside
        // its block may have added or removed lines.
        let one_line = || {
            let span = self.at(node.start_byte(), Edge::Start)..self.at(node.end_byte(), Edge::End);
            memchr::memchr(b'\n', &text[span]).is_none()
        };
        if block.is_none() || one_line() {
            if let Some(found) = marker(self.at(node.end_byte(), Edge::End)) {
                return Some(found);
            }
        }
        marker(self.at(block?.start_byte() + 1, Edge::End))
    }

    /// Reads a comment of the walk: a near miss is a warning at once; a
    /// real marker is remembered with why it would mark nothing, so that
    /// `finish` can warn about it if no directive took it.
    fn comment(&mut self, node: Node<'_>) {
        // The text the tree was parsed from: its nodes' positions are in it.
        let reading = self.reading.clone();
        let file_text = tree_text(&reading, self.source, self.base);
        let Ok(text) = std::str::from_utf8(&file_text[node.byte_range()]) else {
            return;
        };
        let at = self.at(node.start_byte(), Edge::Start);
        match ignore::read_marker(text) {
            ignore::Marker::Plain => {}
            ignore::Marker::NearMiss(head) => {
                self.ignore_misses
                    .push((at, ignore::near_miss_message(&head)));
            }
            ignore::Marker::Exact(_) => {
                let miss = ignore_miss(node, file_text);
                self.markers_seen.push((at, miss));
            }
        }
    }

    fn word(&self, node: Node) -> Word<'s> {
        let source: &'s Source = self.source;
        let range = self.at(node.start_byte(), Edge::Start)..self.at(node.end_byte(), Edge::End);
        let raw = &source.text[range.clone()];
        let quote = match raw.first() {
            Some(b'"') if node.kind_id() == kinds().string => Some('"'),
            Some(b'\'') if node.kind_id() == kinds().string => Some('\''),
            _ => None,
        };
        let inner = if quote.is_some() && raw.len() >= 2 {
            &raw[1..raw.len() - 1]
        } else {
            raw
        };
        let value = match std::str::from_utf8(inner) {
            Ok(text) if !text.contains('\\') => Cow::Borrowed(text),
            _ => Cow::Owned(crate::syntax::word::unescape(inner)),
        };
        Word {
            range,
            value,
            quote,
        }
    }

    fn classify_root(&self) -> RootRole {
        let names = self.levels[ROOT]
            .statements
            .iter()
            .map(|d| self.dirs[*d].name.value.as_ref());
        if is_main_config(names) {
            return RootRole::Main;
        }
        let names: Vec<&str> = self.levels[ROOT]
            .statements
            .iter()
            .map(|d| self.dirs[*d].name.value.as_ref())
            .collect();
        if names
            .iter()
            .any(|n| matches!(*n, "server" | "upstream" | "map"))
        {
            RootRole::HttpSnippet
        } else {
            RootRole::Fragment
        }
    }

    /// The syntax tree's root, for running queries.
    /// Every level with its id, in order (the root first).
    pub fn each_level(&self) -> impl Iterator<Item = (LevelId, &Level)> + '_ {
        self.levels
            .iter()
            .enumerate()
            .map(|(i, l)| (LevelId::new(i), l))
    }

    /// The innermost level an edit at `at` (inside the file text `within`)
    /// belongs to: the deepest block there that holds it, or the level the
    /// file's top-level directives were read into.
    pub fn level_holding(&self, at: usize, within: Range<usize>) -> LevelId {
        let inside = |r: &Range<usize>| within.start <= r.start && r.end <= within.end;
        let mut best: Option<(usize, LevelId)> = None;
        let mut top = None;
        for d in &self.dirs {
            if !inside(&d.range) {
                continue;
            }
            // The file's first directive is one of its top-level ones.
            top.get_or_insert(d.level);
            if let Some(block) = d.block {
                if d.range.start <= at && at < d.range.end {
                    let depth = self.ancestors(block).count();
                    if best.is_none_or(|(b, _)| depth > b) {
                        best = Some((depth, block));
                    }
                }
            }
        }
        best.map(|(_, l)| l).or(top).unwrap_or(ROOT)
    }

    /// Where new text "after" `dir` goes: `dir` itself, or, for a
    /// directive read from an included file, the `include` that read it.
    pub fn anchor(&self, dir: DirId) -> DirId {
        self.dirs[dir].via.unwrap_or(dir)
    }

    /// The directive whose `# upkeep:ignore` covers the `*_pass` `pass`:
    /// itself, or the `location` or `server` it sits in.
    pub fn ignore_mark(&self, pass: DirId) -> Option<DirId> {
        if self.ignored.contains_key(&pass) {
            return Some(pass);
        }
        self.ancestors(self.dirs[pass].level)
            .filter_map(|l| self.levels[l].owner)
            .find(|d| {
                self.ignored.contains_key(d)
                    && (self.dirs[*d].is("location") || self.dirs[*d].is("server"))
            })
    }

    /// Ancestors of `level`, nearest first, `level` itself included.
    pub fn ancestors(&self, level: LevelId) -> impl Iterator<Item = LevelId> + '_ {
        std::iter::successors(Some(level), move |l| self.levels[*l].parent)
    }

    /// The `http` context that holds `level`: an `http` block, or the root of
    /// a snippet included from `http`. `None` inside `stream`/`mail` or in a
    /// fragment with no `http` context of its own.
    pub fn http_context(&self, level: LevelId) -> Option<LevelId> {
        for l in self.ancestors(level) {
            match self.levels[l].kind {
                LevelKind::Http => return Some(l),
                LevelKind::Stream | LevelKind::Mail => return None,
                LevelKind::Root if self.root_role == RootRole::HttpSnippet => return Some(l),
                _ => {}
            }
        }
        None
    }

    /// The nearest level that can hold `proxy_*` settings (`location`,
    /// `server`, `http`): `if` and `limit_except` inherit from the location
    /// around them and cannot hold `proxy_set_header` themselves.
    pub fn settings_level(&self, level: LevelId) -> LevelId {
        self.ancestors(level)
            .find(|l| !matches!(self.levels[*l].kind, LevelKind::If | LevelKind::LimitExcept))
            .unwrap_or(ROOT)
    }

    /// The levels a setting is inherited through, nearest first: the
    /// settings level of `level`, then every enclosing location, server and
    /// http context.
    pub fn inheritance_chain(&self, level: LevelId) -> Vec<LevelId> {
        let start = self.settings_level(level);
        let top = self.http_context(start);
        let mut chain = Vec::new();
        for l in self.ancestors(start) {
            if matches!(
                self.levels[l].kind,
                LevelKind::Location | LevelKind::Server | LevelKind::Http | LevelKind::Root
            ) {
                chain.push(l);
            }
            if Some(l) == top {
                break;
            }
        }
        chain
    }

    /// The levels whose settings apply to requests handled at `level`,
    /// nearest first: an `if`/`limit_except` level itself (it has settings
    /// of its own, such as `add_header`), then [`Self::inheritance_chain`].
    pub fn place_chain(&self, level: LevelId) -> Vec<LevelId> {
        let mut chain = Vec::new();
        if matches!(
            self.levels[level].kind,
            LevelKind::If | LevelKind::LimitExcept
        ) {
            chain.push(level);
        }
        chain.extend(self.inheritance_chain(level));
        chain
    }

    /// The directives named `name` at the nearest level of `chain` that has
    /// any (nginx merges settings per level: that level decides).
    pub fn nearest(&self, chain: &[LevelId], name: &str) -> Option<(LevelId, Vec<DirId>)> {
        chain.iter().find_map(|l| {
            let dirs = self.dirs_named(*l, name)?;
            Some((*l, dirs.to_vec()))
        })
    }

    /// The `proxy_pass` written directly in `level`, if any.
    pub fn own_pass(&self, level: LevelId) -> Option<DirId> {
        self.dirs_named(level, "proxy_pass")
            .and_then(|d| d.first().copied())
    }

    /// The directives of `level` that have no block (its settings, not the
    /// `server`s or `location`s inside it), in order.
    pub fn plain(&self, level: LevelId) -> &[DirId] {
        &self.plain[level.index()]
    }

    /// The head of the block directive that opens `level` (`location
    /// /api/`), where reports about the level point; `None` for the root.
    pub fn level_head(&self, level: LevelId) -> Option<Range<usize>> {
        self.levels[level].owner.map(|d| self.dirs[d].head())
    }

    /// The directives named `name` directly in `level` (without a block),
    /// in order.
    pub fn named(&self, level: LevelId, name: &str) -> Vec<DirId> {
        self.dirs_named(level, name)
            .map(<[DirId]>::to_vec)
            .unwrap_or_default()
    }

    /// The directives without a block named `name` in `level`: a look-up
    /// that allocates nothing (the key borrows `name`).
    fn dirs_named<'a>(&'a self, level: LevelId, name: &'a str) -> Option<&'a [DirId]> {
        let by_name: &FastMap<(LevelId, Cow<'_, str>), Vec<DirId>> = &self.by_name;
        by_name
            .get(&(level, Cow::Borrowed(name)))
            .map(Vec::as_slice)
    }

    /// The level whose `name` directives apply at `level` (nginx merges
    /// these per level: a level that defines one inherits none), or `None`
    /// when nginx's default applies.
    pub fn effective_source(&self, level: LevelId, name: &str) -> Option<LevelId> {
        self.inheritance_chain(level)
            .into_iter()
            .find(|l| !self.named(*l, name).is_empty())
    }

    /// The `proxy_set_header` entries in effect at `level`, as
    /// (lowercased header name, directive).
    pub fn effective_headers(&self, level: LevelId) -> (Option<LevelId>, Vec<(String, DirId)>) {
        let source = self.effective_source(level, "proxy_set_header");
        let headers = source
            .map(|l| {
                self.named(l, "proxy_set_header")
                    .into_iter()
                    .filter_map(|d| Some((self.dirs[d].arg(0)?.to_ascii_lowercase(), d)))
                    .collect()
            })
            .unwrap_or_default();
        (source, headers)
    }

    /// The path of a `location` level and whether it is a plain prefix
    /// (or `^~`/`=`) location, as opposed to a regex or named one.
    pub fn location_path(&self, level: LevelId) -> Option<LocationPath> {
        let owner = &self.dirs[self.levels[level].owner?];
        if !owner.is("location") {
            return None;
        }
        let (modifier, path) = match owner.args.as_slice() {
            [path] => (None, path),
            [modifier, path] => (Some(modifier.value.as_ref()), path),
            _ => return None,
        };
        let kind = match modifier {
            None if path.value.starts_with('@') => LocationKind::Named,
            None | Some("^~") => LocationKind::Prefix,
            Some("=") => LocationKind::Exact,
            _ => LocationKind::Regex,
        };
        Some(LocationPath {
            path: path.value.to_string(),
            path_range: path.range.clone(),
            kind,
        })
    }

    /// Levels of `kind` below `level` (depth-first, in source order).
    pub fn descendants(&self, level: LevelId) -> Vec<LevelId> {
        let mut out = Vec::new();
        let mut stack = vec![level];
        while let Some(l) = stack.pop() {
            for d in self.levels[l].statements.iter().rev() {
                if let Some(child) = self.dirs[*d].block {
                    stack.push(child);
                }
            }
            if l != level {
                out.push(l);
            }
        }
        out
    }

    /// The bytes of `range` as written (copies must keep bytes that are
    /// not UTF-8).
    pub fn bytes(&self, range: Range<usize>) -> &'s [u8] {
        let source: &'s Source = self.source;
        &source.text[range]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    Prefix,
    Exact,
    Regex,
    Named,
}

#[derive(Debug, Clone)]
pub struct LocationPath {
    pub path: String,
    pub path_range: Range<usize>,
    pub kind: LocationKind,
}

/// What the model's walk reads after a directive.
enum Next {
    Sibling,
    /// The statements of the directive's block, at this level.
    Block(LevelId),
    /// The files the `include` reads.
    Include(DirId),
}

/// A region of a spliced file whose statements the walk reads.
struct InRegion<'c> {
    index: usize,
    /// The blocks entered among its statements (0: at its top level).
    open: usize,
    /// The original tree's cursor, parked past the statements the region
    /// replaces, and whether it is on a node there.
    parked: TreeCursor<'c>,
    parked_on_node: bool,
}

/// One file the model's walk is reading.
struct FileWalk<'c> {
    cursor: TreeCursor<'c>,
    /// The file's splice, if it was re-parsed statement by statement: the
    /// cursor starts on its original tree.
    spliced: Option<&'c Arc<SplicedFile>>,
    /// While a region's statements are read in place of the original's.
    region: Option<InRegion<'c>>,
    /// The first region not read yet.
    next_region: usize,
    /// On the original tree: where the statement (or `{`) before the
    /// cursor ends, where a region of its list may start. Not moved past
    /// a `}`: that ends the list, and a region of the list around starts
    /// only once the walk is back at the block's directive.
    prev_end: usize,
    /// Whether the cursor has moved from the file's root yet.
    started: bool,
    /// The blocks the cursor is in: the level to return to and the `via`
    /// to restore when each ends.
    open: Vec<(LevelId, Option<DirId>)>,
    /// The level of the statements under the cursor.
    level: LevelId,
    /// The including walk's base, `via` and reading, restored when this
    /// file ends.
    restore: Saved,
    /// The files the include under the cursor reads and that are not yet
    /// read, the next one last, each with its base and `via`.
    pending: Vec<(crate::model::workspace::FileId, usize, Option<DirId>)>,
}

impl<'c> FileWalk<'c> {
    /// A walk from the root of a file, reading into `level`.
    fn new(
        cursor: TreeCursor<'c>,
        spliced: Option<&'c Arc<SplicedFile>>,
        level: LevelId,
        restore: Saved,
    ) -> Self {
        FileWalk {
            cursor,
            spliced,
            region: None,
            next_region: 0,
            prev_end: 0,
            started: false,
            open: Vec::new(),
            level,
            restore,
            pending: Vec::new(),
        }
    }
}

/// Moves the cursor from a directive to the first child of its block
/// (the `{`), or leaves it on the directive and returns false.
fn enter_block(cursor: &mut TreeCursor<'_>) -> bool {
    if cursor.goto_first_child() {
        loop {
            if cursor.field_name() == Some("block") {
                if cursor.goto_first_child() {
                    return true;
                }
                break;
            }
            if !cursor.goto_next_sibling() {
                break;
            }
        }
        cursor.goto_parent();
    }
    false
}

/// The marker on the line above `start` (not before `file_start`, where
/// the directive's file begins in the text): where its `#` is, and its
/// reason. Only a line that is the exact marker alone counts: a comment
/// that merely mentions it (`# see upkeep:ignore`) does not.
fn ignore_above(
    source: &Source,
    file_start: usize,
    start: usize,
) -> Option<(usize, Option<String>)> {
    let line_start = source.line_start(start);
    if line_start <= file_start {
        return None;
    }
    let above = source.line_start(line_start - 1);
    if above < file_start {
        return None;
    }
    let line = std::str::from_utf8(&source.text[above..line_start]).ok()?;
    let indent = line.len() - line.trim_start().len();
    match ignore::read_marker(line.trim()) {
        ignore::Marker::Exact(reason) => Some((above + indent, reason)),
        _ => None,
    }
}

/// A short name of a directive node for a message: its name and first
/// argument as written (`location /vendor/`).
fn head_of(node: Node<'_>, text: &[u8]) -> String {
    let part = |n: Node<'_>| String::from_utf8_lossy(&text[n.byte_range()]).into_owned();
    let name = node
        .child_by_field_name("name")
        .map(part)
        .unwrap_or_default();
    match node.child_by_field_name("argument") {
        Some(arg) => format!("{name} {}", part(arg)),
        None => name,
    }
}

/// Why the marker `comment` (in a file whose text is `text`) would mark
/// nothing, from its neighbours in the tree; `None` where it marks a
/// directive (the line below, or the one it ends).
fn ignore_miss(comment: Node<'_>, text: &[u8]) -> Option<ignore::Miss> {
    let line = comment.start_position().row;
    let alone = match comment.prev_sibling() {
        Some(prev) => prev.end_position().row < line,
        None => true,
    };
    if !alone {
        let prev = comment.prev_sibling()?;
        let multi_line_block = prev.child_by_field_name("block").is_some()
            && prev.start_position().row < prev.end_position().row;
        return multi_line_block.then(|| ignore::Miss::AfterBlock(head_of(prev, text)));
    }
    let mut next = comment.next_named_sibling();
    let mut between = false;
    while let Some(n) = next {
        if n.kind_id() != kinds().comment {
            break;
        }
        between = true;
        next = n.next_named_sibling();
    }
    let Some(dir) = next else {
        return Some(ignore::Miss::NothingBelow);
    };
    if between {
        return Some(ignore::Miss::CommentBetween(head_of(dir, text)));
    }
    (dir.start_position().row > line + 1).then(|| ignore::Miss::BlankLine(head_of(dir, text)))
}

/// The comment that follows `from` on its line, after spaces and tabs
/// only: from its `#` to the end of the line.
fn comment_on_line(text: &[u8], from: usize) -> Option<Range<usize>> {
    let start = from
        + text
            .get(from..)?
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
    if text.get(start) != Some(&b'#') {
        return None;
    }
    let end = text[start..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(text.len(), |i| start + i);
    Some(start..end)
}

/// A main config holds one of these at its top level.
pub fn is_main_config<S: AsRef<str>>(top_level: impl IntoIterator<Item = S>) -> bool {
    top_level
        .into_iter()
        .any(|n| matches!(n.as_ref(), "http" | "events" | "stream" | "mail"))
}

fn kind_id(name: &str, named: bool) -> u16 {
    tree_sitter::Language::new(tree_sitter_nginx::LANGUAGE).id_for_node_kind(name, named)
}

/// The grammar's node kinds the walk tells apart, resolved once.
struct Kinds {
    directive: u16,
    lua_directive: u16,
    comment: u16,
    word: u16,
    string: u16,
    block: u16,
    lua_block: u16,
    /// The `}` that ends a block.
    close: u16,
}

fn kinds() -> &'static Kinds {
    static KINDS: std::sync::OnceLock<Kinds> = std::sync::OnceLock::new();
    KINDS.get_or_init(|| Kinds {
        directive: kind_id("directive", true),
        lua_directive: kind_id("lua_block_directive", true),
        comment: kind_id("comment", true),
        word: kind_id("word", true),
        string: kind_id("string", true),
        block: kind_id("block", true),
        lua_block: kind_id("lua_block", true),
        close: kind_id("}", false),
    })
}

fn kind_of(name: &str) -> LevelKind {
    match name {
        "http" => LevelKind::Http,
        "server" => LevelKind::Server,
        "location" => LevelKind::Location,
        "if" => LevelKind::If,
        "limit_except" => LevelKind::LimitExcept,
        "upstream" => LevelKind::Upstream,
        "map" => LevelKind::Map,
        "stream" => LevelKind::Stream,
        "mail" => LevelKind::Mail,
        _ => LevelKind::Other,
    }
}

#[cfg(test)]
mod tests {
    /// A file re-parsed statement by statement reads as the whole text
    /// does, in the cases a review found or that sit on an edge: a marker
    /// after a block whose lines an edit changed (the original tree's
    /// rows would say it still ends on its line), text put between two
    /// statements with no space, at the very start and end.
    #[test]
    fn a_spliced_file_reads_as_the_whole_text() {
        use crate::model::workspace::{Paths, Reparse, Unit, UnitKind, Workspace};
        use crate::syntax::edit::{self, Edit};
        let cases: Vec<(&str, Vec<Edit>)> = vec![
            (
                "m { a; } # upkeep:ignore\nz;\n",
                vec![Edit::insert(4, "\n  b;\n  ", Default::default())],
            ),
            (
                "u {u {p x;}} # upkeep:ignore\n",
                vec![Edit::insert(6, "\n", Default::default())],
            ),
            ("a;b;", vec![Edit::insert(2, "c;", Default::default())]),
            (
                "a;\nb { c; }\n",
                vec![
                    Edit::insert(0, "x { y; }\n", Default::default()),
                    Edit::insert(12, "\nz;", Default::default()),
                ],
            ),
            (
                "a 1;\nb {}\n",
                vec![Edit::insert(9, " c; ", Default::default())],
            ),
        ];
        for (text, mut edits) in cases {
            edit::normalize(&mut edits).unwrap();
            let mut ws = Workspace::new(Paths::default());
            let id = ws.add_text("t.conf", text.as_bytes().to_vec());
            let unit = Unit::layout(&mut ws, UnitKind::Snippets, &[id], None);
            let by_file = std::collections::HashMap::from([(id, edits.as_slice())]);
            let read = |how| {
                let mut again = ws.with_edits(&by_file, how);
                let unit = Unit::layout(&mut again, unit.kind.clone(), &unit.entries, None);
                assert!(unit.errors.is_empty(), "{text:?}: {:?}", unit.errors);
                let spliced = matches!(
                    again.file(id).tree.as_ref().unwrap().syntax(),
                    Some(crate::model::workspace::Syntax::Spliced(_))
                );
                (Model::build_unit(&unit, &again).summary(), spliced)
            };
            let (spliced, was_spliced) = read(Reparse::FromOldTree);
            let (whole, _) = read(Reparse::Whole);
            assert!(was_spliced, "{text:?} was not spliced");
            assert_eq!(spliced, whole, "{text:?}");
        }
    }

    use super::*;
    use crate::syntax::parse::parse;

    #[test]
    fn inheritance_of_headers_skips_if_and_stops_at_the_defining_level() {
        let source = Source::new(
            "t",
            b"http { proxy_set_header A 1; server { location / { if ($x) { proxy_pass http://a; } } location /b { proxy_set_header B 2; } } }".to_vec(),
        );
        let tree = parse(&source).unwrap();
        let model = Model::build(&source, &tree);
        let (if_level, _) = model
            .each_level()
            .find(|(_, l)| l.kind == LevelKind::If)
            .unwrap();
        let location = model.settings_level(if_level);
        assert_eq!(model.levels[location].kind, LevelKind::Location);
        let (from, headers) = model.effective_headers(if_level);
        assert_eq!(model.levels[from.unwrap()].kind, LevelKind::Http);
        assert_eq!(headers[0].0, "a");
        let b = model
            .descendants(ROOT)
            .into_iter()
            .find(|l| model.location_path(*l).map(|p| p.path) == Some("/b".into()));
        let (_, headers) = model.effective_headers(b.unwrap());
        assert_eq!(headers[0].0, "b");
    }

    /// The index holds exactly what the queries match, as the model's own
    /// directives: a quoted name, Lua code and a block-less upstream are not
    /// matches.
    #[test]
    fn the_index_is_what_the_queries_match() {
        let text = "http { upstream api { server a:1; } upstream none;\n\
            map $http_upgrade $c { default upgrade; }\n\
            server { location / { proxy_pass http://api; \"proxy_pass\" http://q;\n\
            content_by_lua_block { proxy_pass = 1 } grpc_pass grpc://g:1; } } }";
        let source = Source::new("t", text.as_bytes().to_vec());
        let tree = parse(&source).unwrap();
        let model = Model::build(&source, &tree);
        let shown = |ids: &[DirId]| -> Vec<String> {
            ids.iter()
                .map(|d| {
                    format!(
                        "{} {}",
                        model.dirs[*d].name.value,
                        model.dirs[*d].arg(0).unwrap_or("")
                    )
                })
                .collect()
        };
        assert_eq!(
            shown(&model.index.pass),
            ["proxy_pass http://api", "grpc_pass grpc://g:1"]
        );
        assert_eq!(shown(&model.index.upstream), ["upstream api"]);
        assert_eq!(shown(&model.index.map), ["map $http_upgrade"]);
    }

    /// In a unit, every file is queried in its own tree and its matches
    /// land at each place it is included: a snippet included by two
    /// locations gives two `proxy_pass` directives, one per inclusion.
    #[test]
    fn the_index_of_a_unit_covers_every_inclusion() {
        use crate::model::workspace::{Paths, Unit, UnitKind, Workspace};
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("nginx.conf"),
            "events {}\nhttp {\n    include ups.conf;\n    server {\n        location /a { include pass.conf; }\n        location /b { include pass.conf; }\n    }\n}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("pass.conf"), "proxy_pass http://api;\n").unwrap();
        std::fs::write(
            dir.path().join("ups.conf"),
            "upstream api { server a:1; }\n",
        )
        .unwrap();
        let mut ws = Workspace::new(Paths::default());
        let main = ws.load(&dir.path().join("nginx.conf")).unwrap();
        let unit = Unit::layout(&mut ws, UnitKind::Main, &[main], Some(dir.path()));
        let model = Model::build_unit(&unit, &ws);
        let locations: Vec<String> = model
            .index
            .pass
            .iter()
            .map(|d| {
                let location = model.settings_level(model.dirs[*d].level);
                model.location_path(location).unwrap().path
            })
            .collect();
        assert_eq!(locations, ["/a", "/b"]);
        assert_eq!(model.index.upstream.len(), 1);
        assert!(model.dirs[model.index.upstream[0]].is("upstream"));
    }
}
