//! The files of a run and how nginx ties them together: `include`s followed
//! the way nginx follows them, and the *units* upkeep plans as one.
//!
//! A unit is one `http` context with every file nginx reads for it: a main
//! config and its includes, or (without a main config) the snippets of one
//! directory, read as `include DIR/*.conf;` would read them. The model is
//! built over a unit's *joined text*: each inclusion of a file gets its own
//! copy (a *segment*), one byte apart, so that every directive nginx reads
//! has its own position even when a snippet is included from several
//! places. An edit's position therefore names its segment and through it
//! its [`FileId`]; `plan::units` maps edits back to files (the one place a
//! joined-text offset becomes a [`FilePos`] or [`FileRange`]) and accepts an edit to
//! a shared snippet only when every inclusion asks for the same one.
//!
//! Resolution follows `ngx_conf_include` (src/core/ngx_conf_file.c):
//! relative names are taken from the prefix (the main config's directory
//! unless `--prefix` says otherwise); a name with `*`, `?` or `[` is a glob,
//! matched with `glob(3)` in the C locale (sorted by bytes, dot files only
//! when the pattern names the dot), and matching nothing is not an error;
//! any other name must be a readable file. `--path-map FROM=TO` rewrites
//! names below FROM to TO before any of that.

use crate::model::paths::{normalize, shown_path, sort_as_glob};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tree_sitter::Tree;

use crate::syntax::edit::Edit;
use crate::syntax::parse::{self, SyntaxError};
use crate::syntax::source::Source;
use crate::syntax::splice::{self, Spliced};

/// A file of the run, by the order it was first reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(u32);

impl FileId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

pub use crate::syntax::source::SegmentId;

/// A place in one file's own bytes (not the unit's joined text). Made
/// only by `plan::units`, the one place joined-text offsets become file
/// offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FilePos {
    pub file: FileId,
    pub offset: usize,
}

/// A range of one file's own bytes, and the segment (which reading of
/// the file) it was found in. Made only by `plan::units`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileRange {
    pub segment: SegmentId,
    pub file: FileId,
    pub range: Range<usize>,
}

/// Where upkeep reads relative and mapped include names from.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    /// `--prefix`: relative includes are read from here.
    pub prefix: Option<PathBuf>,
    /// `--path-map FROM=TO`, in the order given; the first match applies.
    pub maps: Vec<(PathBuf, PathBuf)>,
    /// `--ignore-include GLOB`: includes that count as read and empty when
    /// upkeep cannot read them.
    pub ignored: Vec<glob::Pattern>,
}

impl Paths {
    /// The path upkeep reads for an include name seen from `prefix`.
    pub fn resolve(&self, name: &str, prefix: &Path) -> PathBuf {
        let named = Path::new(name);
        let full = if named.is_absolute() {
            named.to_path_buf()
        } else {
            prefix.join(named)
        };
        crate::model::paths::map(&full, &self.maps)
    }

    /// Whether an include upkeep could not read was declared irrelevant:
    /// its name as written, or the path it resolves to, matches a glob.
    pub fn is_ignored(&self, name: &str, prefix: Option<&Path>) -> bool {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        let resolved = prefix.map(|p| self.resolve(name, p));
        self.ignored.iter().any(|g| {
            g.matches_with(name, options)
                || resolved
                    .as_deref()
                    .is_some_and(|r| g.matches_path_with(r, options))
        })
    }
}

/// An `include` directive of a file, found once per file.
#[derive(Debug, Clone)]
pub struct IncludeSite {
    /// Start of the directive in its file.
    pub start: usize,
    /// The name as nginx reads it (quotes removed).
    pub name: String,
    /// The blocks around it in its file.
    pub depth: usize,
}

/// One file as read.
#[derive(Debug, Clone)]
pub struct File {
    pub id: FileId,
    /// The path as reached (an argument or an include), for messages.
    pub shown: String,
    /// The file to write: symlinks resolved (`None` for standard input).
    pub real: Option<PathBuf>,
    /// Shared with the rewritten copy while unchanged ([`Workspace::with_edits`]).
    pub source: Arc<Source>,
    /// `Ok`: it parsed (its tree may have been dropped since, see
    /// [`TreeSlot`]).
    pub tree: Result<TreeSlot, SyntaxError>,
    pub includes: Arc<[IncludeSite]>,
    /// The deepest nesting of its blocks (0 for a file without any).
    pub depth: usize,
    /// The file's state when it was read (`None` for text not read from a
    /// path): a write replaces it only while it still matches.
    pub stamp: Option<crate::model::files::Stamp>,
}

impl File {
    /// A file read from `text`; `old` is the tree of the text it was edited
    /// from, told about the edits, for an incremental parse.
    fn parsed(
        id: FileId,
        shown: String,
        real: Option<PathBuf>,
        text: Vec<u8>,
        old: Option<&Tree>,
    ) -> File {
        let source = Source::new(shown.clone(), text);
        let tree = parse::parse_incremental(&source, old);
        let (includes, depth) = match &tree {
            Ok(tree) => include_sites(&source.text, tree.root_node(), [(0, 0..usize::MAX)]),
            Err(_) => (Vec::new(), 0),
        };
        let tree = tree.map(|tree| TreeSlot::new(Syntax::Whole(tree)));
        File {
            id,
            shown,
            real,
            source: Arc::new(source),
            tree,
            includes: includes.into(),
            depth,
            stamp: None,
        }
    }

    /// `original` rewritten by `edits` (normalized) into `text`, re-parsed
    /// statement by statement from its tree; the text back where the
    /// splice declines (the caller parses it whole).
    fn spliced(
        original: &File,
        tree: &Tree,
        edits: &[Edit],
        text: Vec<u8>,
    ) -> Result<File, Vec<u8>> {
        let source = Source::new(original.shown.clone(), text);
        let Some(spliced) = splice::splice(&original.source.text, tree, edits, &source) else {
            return Err(source.text);
        };
        // The includes: the original's outside every region, carried over,
        // and those of the regions' statements.
        let regions = &spliced.regions;
        let mut includes: Vec<IncludeSite> = original
            .includes
            .iter()
            .filter(|site| !splice::replaced(regions, site.start))
            .map(|site| IncludeSite {
                start: splice::new_offset(regions, site.start, splice::Edge::Start),
                ..site.clone()
            })
            .collect();
        let mut deepest = 0;
        for (number, piece) in spliced.pieces.iter().enumerate() {
            let (found, depth) = include_sites(
                &piece.text,
                piece.tree.root_node(),
                regions
                    .iter()
                    .filter(|r| r.piece == number)
                    .map(|r| (r.depth, r.parsed..r.parsed + r.new.len())),
            );
            deepest = deepest.max(depth);
            includes.extend(found.into_iter().map(|site| IncludeSite {
                start: splice::from_fragments(regions, number, site.start),
                ..site
            }));
        }
        includes.sort_by_key(|s| s.start);
        Ok(File {
            id: original.id,
            shown: original.shown.clone(),
            real: original.real.clone(),
            source: Arc::new(source),
            tree: Ok(TreeSlot::new(Syntax::Spliced(Arc::new(SplicedFile {
                spliced,
                original: original.source.clone(),
            })))),
            includes: includes.into(),
            // At most: a region may have replaced the file's deepest block
            // (upkeep's edits never take nesting away, and a bound too
            // high fails a run rather than passing one).
            depth: original.depth.max(deepest),
            stamp: None,
        })
    }
}

/// A parsed file's tree, until the run drops it: a tree weighs about 8x
/// its text, and only the model of its unit (and an incremental re-parse)
/// reads it, so a run whose units are modelled lets it go while the files
/// are still shared ([`Workspace::release_trees`], and
/// `verify::process_unit` for the original of a run's only unit). Reading
/// it gives a handle of its own (tree-sitter counts references), which
/// keeps the tree alive while it is read.
#[derive(Debug)]
pub struct TreeSlot(std::sync::Mutex<Option<Syntax>>);

/// A parsed file's syntax: one tree of its text, or (a rewritten file
/// re-parsed statement by statement, `syntax::splice`) the tree of the
/// text it was edited from and the tree of the statements the edits
/// touched.
#[derive(Debug, Clone)]
pub enum Syntax {
    Whole(Tree),
    Spliced(Arc<SplicedFile>),
}

/// A file re-parsed statement by statement: the splice, and the text
/// the original tree was parsed from (its nodes' text).
#[derive(Debug)]
pub struct SplicedFile {
    pub spliced: Spliced,
    pub original: Arc<Source>,
}

impl TreeSlot {
    fn new(syntax: Syntax) -> TreeSlot {
        TreeSlot(std::sync::Mutex::new(Some(syntax)))
    }

    /// The file's syntax; `None` once dropped.
    pub fn syntax(&self) -> Option<Syntax> {
        self.0.lock().expect("no panic while held").clone()
    }

    /// The tree of the whole text; `None` once dropped, and for a file
    /// re-parsed statement by statement (only rewritten files are, and
    /// only their model reads them).
    pub fn get(&self) -> Option<Tree> {
        match self.syntax()? {
            Syntax::Whole(tree) => Some(tree),
            Syntax::Spliced(_) => None,
        }
    }

    fn release(&self) {
        *self.0.lock().expect("no panic while held") = None;
    }
}

impl Clone for TreeSlot {
    fn clone(&self) -> TreeSlot {
        TreeSlot(std::sync::Mutex::new(self.syntax()))
    }
}

/// Whether a rewritten file is parsed incrementally from its old tree:
/// tree-sitter's incremental parse pays off for a few edits; with edits
/// all over the file (one per 4 KiB or more: a generated config with
/// thousands of locations) telling the old tree about each costs more than
/// it saves, and a fresh parse is faster (stages bench: 230 ms -> 205 ms,
/// 2.5 MB), and re-parsing only the statements the edits touch faster
/// still (`syntax::splice`: 146 -> 97 ms).
fn reparsed_incrementally(edits: &[Edit], text_len: usize) -> bool {
    edits.len() <= text_len / 4096
}

/// How [`Workspace::with_edits`] parses a rewritten file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reparse {
    /// From its old tree where the run still holds it.
    FromOldTree,
    /// The whole text afresh (the check that the other way reads the same).
    Whole,
}

/// A file [`Workspace::read`] found: one already held, or a new one (not
/// numbered yet).
enum Read {
    Known(FileId),
    New(Box<File>),
}

/// What an `include` reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    Files(Vec<FileId>),
    /// A glob that matches nothing: nginx includes nothing, and so does upkeep.
    Nothing {
        pattern: String,
    },
    /// A file upkeep could not read: what it holds is unknown.
    Unseen {
        reason: String,
    },
}

/// Every file of a run, each read and parsed once.
///
/// A rewritten copy ([`Workspace::with_edits`]) shares the files, the
/// paths read and the include resolutions with its original, and holds
/// only the files it changes: making one costs the edited files, not the
/// run (a run of thousands of trees verifies each against the same files).
#[derive(Debug, Default)]
pub struct Workspace {
    files: Arc<Vec<File>>,
    /// The rewritten files of a copy, in place of the shared ones.
    edited: HashMap<FileId, File>,
    pub paths: Paths,
    by_real: Arc<HashMap<PathBuf, FileId>>,
    /// Include resolutions, by (full name, prefix).
    reached: Arc<HashMap<(String, PathBuf), Reached>>,
    /// An `nginx -T` dump's paths: includes resolve among them, never on
    /// this machine's disk.
    dumped: Option<Arc<Vec<PathBuf>>>,
}

/// Why a file could not be read.
#[derive(Debug, Clone)]
pub struct ReadError(pub String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Workspace {
    pub fn new(paths: Paths) -> Self {
        Workspace {
            paths,
            ..Workspace::default()
        }
    }

    /// Every file read so far, in the order they were reached.
    pub fn files(&self) -> impl Iterator<Item = &File> {
        (0..self.files.len()).map(|i| self.file(FileId(i as u32)))
    }

    pub fn file(&self, id: FileId) -> &File {
        self.edited
            .get(&id)
            .unwrap_or_else(|| &self.files[id.index()])
    }

    /// Adds text that is not read from a path (standard input, tests).
    pub fn add_text(&mut self, shown: &str, text: Vec<u8>) -> FileId {
        self.push(shown.to_string(), None, text)
    }

    /// Reads a file once: a path reached twice (through a symlink, `..`, or
    /// an include and an argument) is one file.
    pub fn load(&mut self, path: &Path) -> Result<FileId, ReadError> {
        let read = self.read(path)?;
        Ok(self.add(read))
    }

    /// [`Workspace::load`] for every path, in order, the files read and
    /// parsed on every core; the ids are those loading them one by one
    /// would give.
    pub fn load_all(&mut self, paths: &[PathBuf]) -> Vec<Result<FileId, ReadError>> {
        let read: Vec<Result<Read, ReadError>> = crate::par::map(paths, |p| self.read(p));
        read.into_iter().map(|r| r.map(|r| self.add(r))).collect()
    }

    /// Reads and parses a file this workspace does not hold yet.
    fn read(&self, path: &Path) -> Result<Read, ReadError> {
        let shown = shown_path(path);
        // Symlinks resolved, absolute link targets through --path-map.
        let real = crate::model::paths::real_path(path, &self.paths.maps)
            .map_err(|e| ReadError(format!("{shown}: {}", crate::model::files::describe_io(&e))))?;
        if let Some(id) = self.by_real.get(&real) {
            return Ok(Read::Known(*id));
        }
        let (text, stamp) = crate::model::files::read_regular(&real)
            .map_err(|e| ReadError(format!("{shown}: {}", e.describe())))?;
        let mut file = File::parsed(FileId(0), shown, Some(real), text, None);
        file.stamp = Some(stamp);
        Ok(Read::New(Box::new(file)))
    }

    /// Numbers a file read by [`Workspace::read`]; one read twice in a batch
    /// (two paths to it) is added once.
    fn add(&mut self, read: Read) -> FileId {
        let mut file = match read {
            Read::Known(id) => return id,
            Read::New(file) => *file,
        };
        let real = file.real.clone().expect("read from a path");
        if let Some(id) = self.by_real.get(&real) {
            return *id;
        }
        let id = self.next_id();
        file.id = id;
        Arc::make_mut(&mut self.files).push(file);
        Arc::make_mut(&mut self.by_real).insert(real, id);
        id
    }

    fn next_id(&self) -> FileId {
        FileId(u32::try_from(self.files.len()).expect("fewer than 2^32 files"))
    }

    fn push(&mut self, shown: String, real: Option<PathBuf>, text: Vec<u8>) -> FileId {
        let id = self.next_id();
        let file = File::parsed(id, shown, real, text, None);
        Arc::make_mut(&mut self.files).push(file);
        id
    }

    /// A copy whose files are rewritten with `edits` (normalized, in file
    /// offsets): the rewritten tree, to be planned and observed again.
    /// Unchanged files are shared; a changed one is re-parsed from its old
    /// tree, incrementally for a few edits, else statement by statement
    /// (`syntax::splice`), or whole where that declines (or `reparse` says
    /// so). Includes resolve as they did here.
    pub fn with_edits(&self, edits: &HashMap<FileId, &[Edit]>, reparse: Reparse) -> Workspace {
        let rewrite = |id: FileId, edits: &[Edit]| {
            let f = self.file(id);
            let text = crate::syntax::edit::apply(&f.source.text, edits);
            let whole = |text, old: Option<&Tree>| {
                File::parsed(id, f.shown.clone(), f.real.clone(), text, old)
            };
            // A tree the run dropped is parsed afresh: slower, the same
            // text either way.
            let old = match reparse {
                Reparse::FromOldTree => f.tree.as_ref().ok().and_then(TreeSlot::get),
                Reparse::Whole => None,
            };
            let file = match old {
                Some(tree) if reparsed_incrementally(edits, f.source.text.len()) => {
                    whole(text, Some(&parse::edited_tree(&f.source, &tree, edits)))
                }
                Some(tree) => {
                    File::spliced(f, &tree, edits, text).unwrap_or_else(|text| whole(text, None))
                }
                None => whole(text, None),
            };
            (id, file)
        };
        // Several rewritten files: parsed on every core; one, on this
        // thread (the pool not started for it: see `crate::par`).
        let edited: Vec<_> = edits
            .iter()
            .filter(|(_, edits)| !edits.is_empty())
            .collect();
        let edited = crate::par::map(&edited, |&(id, edits)| rewrite(*id, edits))
            .into_iter()
            .collect();
        Workspace {
            files: self.files.clone(),
            edited,
            paths: self.paths.clone(),
            by_real: self.by_real.clone(),
            reached: self.reached.clone(),
            dumped: self.dumped.clone(),
        }
    }

    /// Drops the trees of the rewritten files, which only their model
    /// reads: the rewritten tree of a large config weighs more than its
    /// model (about 9x its text), and it would otherwise live beside the
    /// second plan and both observations, the run's peak of memory.
    pub fn release_trees(&mut self) {
        for file in self.edited.values_mut() {
            if let Ok(tree) = &file.tree {
                tree.release();
            }
        }
    }

    /// Drops this workspace's hold on the trees of the files that `edits`
    /// rewrite, once they are re-parsed: for the run's only unit, when
    /// nothing else of the run models these files again. An unchanged
    /// file keeps its tree (the model of the output reads it, shared); a
    /// rewritten file re-parsed statement by statement holds its original
    /// tree itself, until its own model is built.
    pub fn release_original_trees(&self, edits: &HashMap<FileId, &[Edit]>) {
        for id in edits.keys() {
            if let Ok(tree) = &self.file(*id).tree {
                tree.release();
            }
        }
    }

    /// Adds the files of an `nginx -T` dump, each at its path: includes
    /// then resolve among them, as nginx resolved them when it wrote the
    /// dump. Returns their ids, in the dump's order.
    pub fn add_dump(&mut self, dump: crate::model::dump::Dump) -> Vec<FileId> {
        let paths: Vec<PathBuf> = dump.files.iter().map(|(p, _)| p.clone()).collect();
        let ids = dump
            .files
            .into_iter()
            .map(|(path, text)| {
                let id = self.push(path.display().to_string(), Some(path.clone()), text);
                Arc::make_mut(&mut self.by_real).insert(path, id);
                id
            })
            .collect();
        self.dumped = Some(Arc::new(paths));
        ids
    }

    /// Whether the files came from an `nginx -T` dump (a dump is the only
    /// input of its run).
    pub fn is_dump(&self) -> bool {
        self.dumped.is_some()
    }

    /// What `include` reaches in a dump: the dumped files the name (or
    /// glob, matched as `glob(3)` matches) names. A name nginx read is in
    /// the dump; one that is not was never read (a glob matching nothing).
    fn reach_dumped(&self, dumped: &[PathBuf], name: &str, full: &Path) -> Reached {
        let shown = full.display().to_string();
        let full = normalize(full);
        if !name.contains(['*', '?', '[']) {
            return match self.by_real.get(&full) {
                Some(id) => Reached::Files(vec![*id]),
                None => Reached::Unseen {
                    reason: format!("{shown} is not in the dump"),
                },
            };
        }
        let Ok(pattern) = glob::Pattern::new(&full.display().to_string()) else {
            return Reached::Unseen {
                reason: format!("{shown}: not a valid pattern"),
            };
        };
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let mut found: Vec<&PathBuf> = dumped
            .iter()
            .filter(|p| pattern.matches_path_with(p, options))
            .collect();
        sort_as_glob(&mut found);
        if found.is_empty() {
            return Reached::Nothing { pattern: shown };
        }
        Reached::Files(found.iter().map(|p| self.by_real[*p]).collect())
    }

    /// What `include NAME` reaches, seen from `prefix`.
    pub fn reach(&mut self, name: &str, prefix: &Path) -> Reached {
        let key = (name.to_string(), prefix.to_path_buf());
        if let Some(r) = self.reached.get(&key) {
            return r.clone();
        }
        let full = self.paths.resolve(name, prefix);
        let reached = if let Some(dumped) = self.dumped.clone() {
            self.reach_dumped(&dumped, name, &full)
        } else if name.contains(['*', '?', '[']) {
            self.reach_glob(&full)
        } else {
            match self.load(&full) {
                Ok(id) => Reached::Files(vec![id]),
                Err(e) => Reached::Unseen { reason: e.0 },
            }
        };
        Arc::make_mut(&mut self.reached).insert(key, reached.clone());
        reached
    }

    fn reach_glob(&mut self, pattern: &Path) -> Reached {
        let shown = shown_path(pattern);
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let Some(text) = pattern.to_str() else {
            return Reached::Unseen {
                reason: format!("{shown}: not a pattern upkeep can match (not UTF-8)"),
            };
        };
        let paths = match glob::glob_with(text, options) {
            Ok(paths) => paths,
            Err(e) => {
                return Reached::Unseen {
                    reason: format!("{shown}: not a valid pattern: {e}"),
                }
            }
        };
        let mut found = Vec::new();
        for p in paths {
            match p {
                Ok(p) => found.push(p),
                Err(e) => {
                    return Reached::Unseen {
                        reason: format!("{shown}: {e}"),
                    }
                }
            }
        }
        sort_as_glob(&mut found);
        if found.is_empty() {
            return Reached::Nothing { pattern: shown };
        }
        let read: Vec<Result<Read, ReadError>> = crate::par::map(&found, |p| self.read(p));
        let mut ids = Vec::new();
        for r in read {
            // Added up to the first file that cannot be read, as one by one.
            match r {
                Ok(r) => ids.push(self.add(r)),
                Err(e) => return Reached::Unseen { reason: e.0 },
            }
        }
        Reached::Files(ids)
    }
}

/// How one inclusion of a file came out in a unit.
#[derive(Debug, Clone)]
pub enum Inclusion {
    Segments(Vec<SegmentId>),
    Nothing {
        pattern: String,
    },
    Unseen {
        reason: String,
    },
    /// A file upkeep could not read that `--ignore-include` declares
    /// irrelevant: read as empty.
    Ignored,
    /// The file includes itself, directly or through others: nginx would
    /// never finish reading it.
    Cycle {
        chain: String,
    },
}

#[derive(Debug, Clone)]
pub struct Segment {
    pub file: FileId,
    /// Where the file's bytes start in the joined text.
    pub base: usize,
    pub len: usize,
    /// The `include` that brought it in (joined-text start of that
    /// directive), `None` for an entry file.
    pub included_by: Option<usize>,
}

impl Segment {
    pub fn range(&self) -> Range<usize> {
        self.base..self.base + self.len
    }
}

/// What kind of unit this is: it decides where includes are read from and
/// what the notes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitKind {
    /// A main config (top-level `http`/`events`, or `--root`).
    Main,
    /// Snippets without their main config: the files of one directory, read
    /// as one `http` context.
    Snippets,
}

/// One http context and every file nginx reads for it.
#[derive(Debug)]
pub struct Unit {
    pub kind: UnitKind,
    pub entries: Vec<FileId>,
    pub source: Source,
    pub segments: Vec<Segment>,
    /// By the joined-text start of each `include` directive.
    pub inclusions: HashMap<usize, Inclusion>,
    /// Syntax errors of the files nginx would read: the unit is not planned.
    pub errors: Vec<SyntaxError>,
    /// The files of the unit, in the order nginx first reads them.
    pub files: Vec<FileId>,
    /// Where relative includes are read from; `None` for text read alone
    /// (standard input, tests): its includes are unseen.
    pub prefix: Option<PathBuf>,
    /// Files read only as context (the siblings of a snippet, which nginx
    /// loads beside it): their locations are left as they are, and no
    /// edit may land in them.
    pub read_only: HashSet<FileId>,
}

impl Unit {
    /// Lays out the unit that starts at `entries` (read in order, as nginx
    /// reads a main config or a directory's snippets).
    pub fn layout(
        ws: &mut Workspace,
        kind: UnitKind,
        entries: &[FileId],
        prefix: Option<&Path>,
    ) -> Unit {
        // The entries' own text is most of a unit's (all of it for one file
        // without includes): reserved at once, not grown by doubling, which
        // left up to half of a large config's joined text unused.
        let entry_bytes: usize = entries
            .iter()
            .map(|id| ws.file(*id).source.text.len() + 1)
            .sum();
        let mut builder = Builder {
            text: Vec::with_capacity(entry_bytes),
            segments: Vec::new(),
            inclusions: HashMap::new(),
            errors: Vec::new(),
            files: Vec::new(),
            known: HashSet::new(),
            stack: Vec::new(),
        };
        for id in entries {
            builder.add(ws, *id, None, prefix, 0);
        }
        let parts: Vec<(usize, Arc<Source>)> = builder
            .segments
            .iter()
            .map(|s| (s.base, Arc::clone(&ws.file(s.file).source)))
            .collect();
        let shown = entries
            .first()
            .map(|f| ws.file(*f).shown.clone())
            .unwrap_or_default();
        Unit {
            kind,
            entries: entries.to_vec(),
            source: Source::joined(shown, builder.text, parts),
            segments: builder.segments,
            inclusions: builder.inclusions,
            errors: builder.errors,
            files: builder.files,
            prefix: prefix.map(Path::to_path_buf),
            read_only: HashSet::new(),
        }
    }

    pub fn segment(&self, id: SegmentId) -> &Segment {
        &self.segments[id.index()]
    }
}

struct Builder {
    text: Vec<u8>,
    segments: Vec<Segment>,
    inclusions: HashMap<usize, Inclusion>,
    errors: Vec<SyntaxError>,
    files: Vec<FileId>,
    /// `files` as a set: a tree of thousands of files asks once per
    /// inclusion.
    known: HashSet<FileId>,
    /// The files being read, outermost first (for cycles).
    stack: Vec<FileId>,
}

impl Builder {
    /// Adds file `id`, whose statements are `depth` levels deep in the
    /// unit, and the files it includes.
    fn add(
        &mut self,
        ws: &mut Workspace,
        id: FileId,
        by: Option<usize>,
        prefix: Option<&Path>,
        depth: usize,
    ) -> SegmentId {
        let base = self.text.len();
        let segment = SegmentId::from_index(self.segments.len());
        let file = ws.file(id);
        self.text.extend_from_slice(&file.source.text);
        // One byte between files, so that the end of one and the start of
        // the next are different positions, and lines never run across.
        self.text.push(b'\n');
        self.segments.push(Segment {
            file: id,
            base,
            len: file.source.text.len(),
            included_by: by,
        });
        if self.known.insert(id) {
            self.files.push(id);
            if let Err(e) = &file.tree {
                self.errors.push(e.clone());
            }
        }
        let sites = file.includes.clone();
        self.stack.push(id);
        for site in sites.iter() {
            let at = base + site.start;
            let reached = match prefix {
                Some(prefix) => ws.reach(&site.name, prefix),
                None => Reached::Unseen {
                    reason: "upkeep read this text alone, without the files around it".into(),
                },
            };
            let inclusion = match reached {
                Reached::Files(ids) => {
                    if let Some(looped) = ids.iter().find(|f| self.stack.contains(f)) {
                        let mut chain: Vec<String> = self
                            .stack
                            .iter()
                            .skip_while(|f| *f != looped)
                            .map(|f| ws.file(*f).shown.clone())
                            .collect();
                        chain.push(ws.file(*looped).shown.clone());
                        Inclusion::Cycle {
                            chain: chain.join(" → "),
                        }
                    } else if let Some(deep) = self.too_deep(ws, id, site, depth, &ids) {
                        // Not read: its blocks (or its own includes) would
                        // nest deeper than any walk of upkeep goes.
                        self.errors.push(deep);
                        Inclusion::Unseen {
                            reason: "nested too deep".into(),
                        }
                    } else {
                        let mut segments = Vec::new();
                        for f in ids {
                            segments.push(self.add(
                                ws,
                                f,
                                Some(at),
                                prefix,
                                depth + site.depth + 1,
                            ));
                        }
                        Inclusion::Segments(segments)
                    }
                }
                Reached::Nothing { pattern } => Inclusion::Nothing { pattern },
                Reached::Unseen { .. } if ws.paths.is_ignored(&site.name, prefix) => {
                    Inclusion::Ignored
                }
                Reached::Unseen { reason } => Inclusion::Unseen { reason },
            };
            self.inclusions.insert(at, inclusion);
        }
        self.stack.pop();
        segment
    }

    /// The error at `site` (in file `id`, `depth` levels deep) when one of
    /// the files it includes would nest deeper than `parse::MAX_DEPTH`: a
    /// file's own nesting is checked when it is parsed, a chain of includes
    /// adds up here.
    fn too_deep(
        &self,
        ws: &Workspace,
        id: FileId,
        site: &IncludeSite,
        depth: usize,
        ids: &[FileId],
    ) -> Option<SyntaxError> {
        let inner = depth + site.depth + 1;
        let deepest = ids.iter().map(|f| ws.file(*f).depth).max().unwrap_or(0);
        if inner + deepest <= parse::MAX_DEPTH {
            return None;
        }
        let (message, help) = parse::too_deep(&format!(
            "included here, {inner} levels deep, the blocks of {} ({deepest} deep) are",
            site.name
        ));
        Some(parse::error_at(
            &ws.file(id).source,
            site.start,
            message,
            help,
        ))
    }
}

/// The `include NAME;` directives of a parsed file, at any depth, and the
/// deepest nesting of its blocks. `lists`: where to read statements of
/// `root`'s top level, each a depth and the byte range its statements
/// start in (the whole tree's: depth 0, everything; a splice's fragments:
/// one per region, at the region's depth).
fn include_sites(
    text: &[u8],
    root: tree_sitter::Node,
    lists: impl IntoIterator<Item = (usize, Range<usize>)>,
) -> (Vec<IncludeSite>, usize) {
    let mut out = Vec::new();
    let mut cursor = root.walk();
    let mut deepest = 0;
    let mut stack: Vec<(tree_sitter::Node, usize)> = Vec::new();
    for (depth, range) in lists {
        deepest = deepest.max(depth);
        cursor.reset(root);
        if cursor.goto_first_child_for_byte(range.start).is_none() {
            continue;
        }
        loop {
            let node = cursor.node();
            if node.start_byte() >= range.end {
                break;
            }
            stack.push((node, depth));
            if !cursor.goto_next_sibling() {
                break;
            }
        }
    }
    // Statements, each with the blocks around it, read last to first.
    stack.reverse();
    while let Some((child, depth)) = stack.pop() {
        if child.kind() != "directive" {
            continue;
        }
        let name = child.child_by_field_name("name");
        let is_include = name.is_some_and(|n| &text[n.byte_range()] == b"include");
        if is_include {
            let mut args = Vec::new();
            let mut c = child.walk();
            for a in child.children_by_field_name("argument", &mut c) {
                args.push(a);
            }
            if let [arg] = args.as_slice() {
                out.push(IncludeSite {
                    start: child.start_byte(),
                    name: word_value(&text[arg.byte_range()], arg.kind() == "string"),
                    depth,
                });
            }
        } else if let Some(block) = child.child_by_field_name("block") {
            deepest = deepest.max(depth + 1);
            let mut inner = Vec::new();
            for statement in block.named_children(&mut cursor) {
                inner.push((statement, depth + 1));
            }
            stack.extend(inner.into_iter().rev());
        }
    }
    out.sort_by_key(|s| s.start);
    (out, deepest)
}

fn word_value(raw: &[u8], quoted: bool) -> String {
    let inner = if quoted && raw.len() >= 2 {
        &raw[1..raw.len() - 1]
    } else {
        raw
    };
    crate::syntax::word::unescape(inner)
}
