//! A run from the command line: find the units the arguments name, process
//! each, and emit one diff, one report, or one all-or-nothing write.
//!
//! How arguments become units (see README, "How upkeep reads a tree"):
//! - a main config (top-level `http`, `events`, `stream` or `mail`, or the
//!   file named by `--root`) is one unit with every file it includes;
//! - every other file is a snippet; snippets that no main config of the run
//!   reaches are grouped by directory, and each directory is one unit (one
//!   `http` context, as `include DIR/*.conf;` would read it);
//! - a directory argument contributes its `*.conf` files (at any depth) and
//!   every file in a directory named `sites-enabled`, skipping hidden
//!   entries, what `.gitignore` ignores in a repository, and `--exclude`
//!   globs; other files are read when an include names them;
//! - standard input (`-`) is one unit on its own, its includes unseen.

pub(crate) mod explain;
pub(crate) mod nginx_test;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::check::verify::{self, Rewrite, UnitRewrite};
use crate::cli::{Config, Mode, NginxTest};
use crate::model::files::describe_io;
use crate::model::roots::Roots;
use crate::model::workspace::{FileId, Unit, UnitKind, Workspace};
use crate::model::{self, files::MAX_FILE_SIZE};
use crate::output::emit;
use crate::output::emitter::{Emitter, Output};
use crate::output::report::{ChangeReport, FileReport, FileStatus, NoteReport};
use crate::output::{diff, write};
use crate::vocab::Seen;
use crate::vocab::{ExitStatus, FileError};

/// One unit to process, with the note that says what upkeep assumed.
struct Job {
    unit: Unit,
    assumed: Option<String>,
    /// New upstream names carry `_PORT`: the unit's `http` context may
    /// hold targets upkeep cannot see (see `siblings.rs`).
    qualified_names: bool,
}

/// Runs upkeep as configured; `out` gets the diff, JSON or rewritten stdin,
/// `err` the notes and errors (see `emit`).
pub fn run(
    config: &Config,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<ExitStatus> {
    let Some(path) = &config.output_file else {
        return run_into(config, stdin, out, err, &mut false);
    };
    // `-o FILE` is opened only once the run is over and FILE is known not
    // to be one of the files it read: opening it first would empty a
    // config named by mistake (`upkeep --check -o site.conf site.conf`)
    // before it was read.
    let mut buffer = Vec::new();
    let mut aliased = false;
    let status = run_into(config, stdin, &mut buffer, err, &mut aliased)?;
    if aliased {
        return Ok(ExitStatus::Error);
    }
    let written = std::fs::File::create(path).and_then(|mut f| {
        f.write_all(&buffer)?;
        f.flush()
    });
    if let Err(e) = written {
        let label =
            crate::output::style::paint(config.err_color, crate::output::style::ERROR, "error:");
        writeln!(
            err,
            "{label} {}: {} (-o names the file the output is written to)",
            path.display(),
            describe_io(&e)
        )?;
        return Ok(ExitStatus::Error);
    }
    Ok(status)
}

/// `-o FILE` when it is a file of the run (compared by device and inode,
/// so a symlink or a hard link to it counts): the file's name in the run.
fn output_aliases_input(config: &Config, ws: &Workspace) -> Option<String> {
    let output = crate::model::files::stamp(config.output_file.as_deref()?).ok()?;
    ws.files()
        .find(|f| {
            f.stamp
                .is_some_and(|s| (s.dev, s.ino) == (output.dev, output.ino))
        })
        .map(|f| f.shown.clone())
}

fn run_into(
    config: &Config,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
    aliased: &mut bool,
) -> io::Result<ExitStatus> {
    run_with(config, stdin, emit::for_config(config, out, err), aliased)
}

/// The run, its outcome told to `emitter`: the printers of `--format`, or
/// what `upkeep explain` makes of the same reports (`explain.rs`), so
/// that explain says what this run would do.
pub(crate) fn run_with(
    config: &Config,
    stdin: &mut dyn Read,
    mut emitter: Box<dyn Emitter + '_>,
    aliased: &mut bool,
) -> io::Result<ExitStatus> {
    let roots = Roots::of_inputs(&config.inputs, config.root.as_deref());
    let mut ws = Workspace::new(config.paths.clone());
    let (candidates, stdin_file) = read_inputs(config, stdin, &mut ws, emitter.as_mut())?;
    let root = match &config.root {
        Some(r) => match ws.load(r) {
            Ok(id) => Some(id),
            Err(e) => {
                emitter.error(error_report(&r.display().to_string(), e.0))?;
                None
            }
        },
        None => None,
    };

    let (jobs, broken, unreadable) = units(config, &mut ws, &candidates, root, stdin_file);
    // A tree an interrupted write left part old, part new is not worth
    // analysing: it is completed first, either way, on request.
    let dirs: Vec<PathBuf> = ws
        .files()
        .filter_map(|f| f.real.as_deref()?.parent().map(Path::to_path_buf))
        .collect();
    let journals = write::find_journals(dirs.iter().map(PathBuf::as_path));
    if let Some(how) = config.recover {
        if journals.is_empty() {
            emitter.warning(
                "--recover: no interrupted write was found beside these files; nothing to do",
            )?;
        }
        for journal in &journals {
            let writable = |p: &Path| {
                let real = p
                    .parent()
                    .and_then(|d| std::fs::canonicalize(d).ok())
                    .map(|d| d.join(p.file_name().unwrap_or_default()));
                real.is_some_and(|r| roots.holding(&r).is_some())
            };
            match write::recover(journal, how, &writable) {
                Ok(done) => emitter.recovered(journal, &done)?,
                Err(message) => emitter.run_error(&message)?,
            }
        }
        let summary = emitter.finish(&[], None)?;
        return Ok(if summary.errors > 0 {
            ExitStatus::Error
        } else {
            ExitStatus::Success
        });
    }
    if !journals.is_empty() {
        for journal in &journals {
            emitter.run_error(&write::journal_error(journal).to_string())?;
        }
        emitter.finish(&[], None)?;
        return Ok(ExitStatus::Error);
    }
    if let Some(input) = output_aliases_input(config, &ws) {
        let output = config
            .output_file
            .as_deref()
            .unwrap_or(Path::new(""))
            .display();
        emitter.run_error(&format!(
            "-o {output} is {input}, a file this run reads; nothing was written and {input} is untouched (send the output to another file)"
        ))?;
        emitter.finish(&[], None)?;
        *aliased = true;
        return Ok(ExitStatus::Error);
    }
    for e in broken {
        emitter.error(failed_file(&e.path, FileError::Syntax(e.clone())))?;
    }
    for (path, message) in unreadable {
        emitter.error(error_report(&path, message))?;
    }
    if config.parse_only {
        for job in &jobs {
            for e in &job.unit.errors {
                emitter.error(failed_file(&e.path, FileError::Syntax(e.clone())))?;
            }
        }
    }
    let processed: Vec<Result<UnitRewrite, Failure>> = if config.parse_only {
        Vec::new()
    } else {
        // Units are independent: every core takes some, and the results
        // come back in the units' order, as with one thread.
        // A run's only unit is the last reader of its files' trees.
        let trees = if jobs.len() == 1 {
            verify::Trees::Release
        } else {
            verify::Trees::Keep
        };
        crate::par::map(&jobs, |job| {
            process_job(&ws, job, &config.options, trees).map_err(Failure::from)
        })
    };
    // A flag value that names nothing is a typo: say so before anything is
    // shown or written. Only when every unit was read: what a broken file
    // holds is unknown.
    if !processed.is_empty() && processed.iter().all(Result::is_ok) {
        let mut seen = Seen::default();
        for unit in processed.iter().flatten() {
            seen.extend(&unit.seen);
        }
        let unmatched = unmatched_flags(&config.options, &seen);
        if !unmatched.is_empty() {
            for (flag, message) in unmatched {
                emitter.run_error(&format!("{flag}: {message} (nothing was changed)"))?;
            }
            emitter.finish(&[], None)?;
            return Ok(ExitStatus::Error);
        }
    }
    // A dump names the files it is about, wherever they are.
    let roots = if ws.is_dump() {
        Roots::everywhere()
    } else {
        roots
    };
    read_outside(&ws, &jobs, &roots, emitter.as_mut())?;
    // Outside the roots first: a tree failed there fails the trees that
    // share its files too.
    let results = keep_outside_unchanged(
        &ws,
        &jobs,
        &roots,
        processed.into_iter().map(|r| r.map(|u| u.files)).collect(),
    );
    let results = settle_shared_files(&ws, &jobs, results);
    // Every changed file of the run, for one all-or-nothing write.
    let mut pending: Vec<(FileId, Vec<u8>, usize)> = Vec::new();
    let mut written_by: HashSet<FileId> = HashSet::new();
    let mut changed_files = 0;
    // `path:line:column` of every place upkeep could not decide.
    let mut undecided: Vec<String> = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        let entry = ws.file(job.unit.entries[0]).shown.clone();
        let rewrites = match result {
            Ok(r) => r,
            Err(Failure { message, at }) => {
                emitter.error(FileReport {
                    error_at: at,
                    ..error_report(&entry, message)
                })?;
                continue;
            }
        };
        for (file, rewrite) in &rewrites {
            // Settled: a file two trees share comes out of both the same.
            if !written_by.insert(*file) {
                continue;
            }
            let f = ws.file(*file);
            let changed = rewrite.new_text != f.source.text;
            // The diff and the annotations name the file written (symlinks
            // resolved), relative to its repository's root (else the
            // current directory).
            let written_path = match f.real.as_deref() {
                // `patch -p1 -d /` applies a dump's diff on its server.
                Some(real) if ws.is_dump() => {
                    real.strip_prefix("/").unwrap_or(real).display().to_string()
                }
                Some(real) => roots.diff_path(real),
                None => f.shown.clone(),
            };
            let report = FileReport {
                path: f.shown.clone(),
                written_path: written_path.clone(),
                status: if changed {
                    FileStatus::Changed
                } else {
                    FileStatus::Unchanged
                },
                changes: rewrite
                    .changes
                    .iter()
                    .map(|c| ChangeReport::new(&f.source, c))
                    .collect(),
                notes: rewrite
                    .notes
                    .iter()
                    .map(|n| NoteReport::new(&f.source, n))
                    .collect(),
                suppressed: rewrite
                    .suppressed
                    .iter()
                    .map(|n| NoteReport::new(&f.source, n))
                    .collect(),
                error: None,
                error_at: None,
            };
            let output = if f.real.is_none() && config.mode == Mode::Write {
                // Standard input: the rewritten text is the output.
                Output::Stdout(&rewrite.new_text)
            } else if !changed {
                Output::None
            } else if config.mode == Mode::Write {
                pending.push((*file, rewrite.new_text.clone(), report.changes.len()));
                Output::None
            } else {
                Output::Diff(diff::unified(&written_path, &f.source, &rewrite.edits))
            };
            changed_files += usize::from(changed);
            undecided.extend(
                report
                    .notes
                    .iter()
                    .filter(|n| n.kind == crate::vocab::NoteKind::Undecided)
                    .map(|n| match (n.line, n.column) {
                        (Some(l), Some(c)) => format!("{}:{l}:{c}", report.path),
                        _ => report.path.clone(),
                    }),
            );
            emitter.file(report, output)?;
        }
    }
    let mut failed = Vec::new();
    let mut failure = None;
    if !pending.is_empty() {
        let writes: Vec<write::Pending> = pending
            .iter()
            .map(|(f, new, _)| write::Pending {
                path: ws
                    .file(*f)
                    .real
                    .clone()
                    .expect("files to write were read from paths"),
                shown: ws.file(*f).shown.clone(),
                original: ws.file(*f).source.text.clone(),
                new: new.clone(),
                stamp: ws.file(*f).stamp,
                root: {
                    let real = ws.file(*f).real.as_deref().expect("read from a path");
                    roots
                        .holding(real)
                        .map(|r| r.dir.clone())
                        .unwrap_or_else(|| real.parent().unwrap_or(Path::new("/")).to_path_buf())
                },
            })
            .collect();
        let shown: Vec<(String, usize)> = pending
            .iter()
            .map(|(f, _, n)| (ws.file(*f).shown.clone(), *n))
            .collect();
        let differ = if ws.is_dump() {
            differ_from_dump(&ws, &pending)
        } else {
            Vec::new()
        };
        if !differ.is_empty() {
            failed = shown.into_iter().map(|(path, _)| path).collect();
            failure = Some(format!(
                "{}: the dump is not of the files on this disk (take a new one with nginx -T, or apply the diff where it was taken: patch -p1 -d /)",
                differ.join(", ")
            ));
        } else {
            let written = match &config.nginx_test {
                None => write::write_all(&writes).map_err(|e| e.to_string()),
                Some(test) => tested_write(test, &writes),
            };
            match written {
                Ok(()) => emitter.written(&shown)?,
                Err(e) => {
                    failed = shown.into_iter().map(|(path, _)| path).collect();
                    failure = Some(e);
                }
            }
        }
    }
    if config.options.new_defaults && changed_files > 0 {
        // The output drops what only older nginx needs; run on an older
        // nginx it would open a connection per request again.
        emitter.warning("--nginx-version is 1.29.7 or later: this output relies on that nginx's defaults (keepalive in upstream blocks, HTTP/1.1 to backends, no `Connection: close`); on an older nginx it pools no connections — omit --nginx-version for output that works on any version")?;
    }
    if config.mode == Mode::Check && !undecided.is_empty() {
        // A gate that saw only part of the config is not green: what the
        // unread includes decide may need a change.
        emitter.run_error(&undecided_message(&undecided))?;
    }
    let summary = emitter.finish(&failed, failure.as_deref())?;
    Ok(summary.status(config.mode))
}

/// `--write --nginx-test`: the write between two runs of the test command.
/// A config that fails before is not written: a failure after could not be
/// told apart from the one already there, and writing would bury upkeep's
/// changes under it. A config that passes before and fails after gets
/// every file back (the write transaction's rollback). Nothing to write
/// runs nothing: the run changed nothing nginx reads.
fn tested_write(test: &NginxTest, writes: &[write::Pending]) -> Result<(), String> {
    let before = nginx_test::run(test)?;
    if !before.passed {
        return Err(format!(
            "--nginx-test: `{}` fails on the config as it is, before upkeep changes anything ({}), so it cannot tell whether upkeep's changes are valid: fix what it reports first, or run without --nginx-test{}",
            test.command,
            before.status,
            nginx_test::shown_output(&before)
        ));
    }
    write::write_checked(writes, &mut || {
        let after = nginx_test::run(test)?;
        if after.passed {
            return Ok(());
        }
        Err(format!(
            "--nginx-test: `{}` passed before the write and fails after it ({}), so upkeep put every file back as it was{}",
            test.command,
            after.status,
            nginx_test::shown_output(&after)
        ))
    })
    .map_err(|e| e.to_string())
}

/// `--check`'s error for the places upkeep could not decide.
fn undecided_message(places: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut list = places[..places.len().min(SHOWN)].join(", ");
    if places.len() > SHOWN {
        list.push_str(&format!(", and {} more", places.len() - SHOWN));
    }
    format!(
        "could not decide {} place{}: {list}: they depend on includes upkeep could not read (see the warnings); make them readable, point upkeep at them with --path-map FROM=TO, or declare them irrelevant with ignore-includes in upkeep.toml",
        places.len(),
        if places.len() == 1 { "" } else { "s" }
    )
}

/// Reads the arguments: files, directories (their configs), `-`. Returns
/// the files to consider and standard input's file, if any.
fn read_inputs(
    config: &Config,
    stdin: &mut dyn Read,
    ws: &mut Workspace,
    emitter: &mut dyn Emitter,
) -> io::Result<(Vec<FileId>, Option<FileId>)> {
    let mut candidates: Vec<FileId> = Vec::new();
    let mut named: HashSet<FileId> = HashSet::new();
    let mut stdin_file = None;
    for p in &config.inputs {
        if p == "-" && stdin_file.is_some() {
            // Read once, it would count once: a second `-` would be empty,
            // "nothing to change", and `--check` green on a config that
            // needs changes.
            emitter.run_error("`-` (standard input) is named more than once; name it once")?;
            continue;
        }
        if p == "-" {
            let mut text = Vec::new();
            stdin.take(MAX_FILE_SIZE + 1).read_to_end(&mut text)?;
            if text.len() as u64 > MAX_FILE_SIZE {
                let name = &config.stdin_name;
                emitter.error(error_report(
                    name,
                    format!(
                        "{name}: input is larger than {} MiB; upkeep reads nginx configs, not this",
                        MAX_FILE_SIZE >> 20
                    ),
                ))?;
                continue;
            }
            if crate::model::dump::is_dump(&text) {
                read_dump(
                    config,
                    &config.stdin_name,
                    &text,
                    ws,
                    &mut candidates,
                    emitter,
                )?;
                continue;
            }
            stdin_file = Some(ws.add_text(&config.stdin_name, text));
            continue;
        }
        let path = Path::new(p);
        if let Some(text) = dump_file(path) {
            read_dump(config, p, &text, ws, &mut candidates, emitter)?;
            continue;
        }
        let maps = &config.paths.maps;
        let found = match crate::model::paths::real_path(path, maps).and_then(std::fs::metadata) {
            Ok(meta) if meta.is_dir() => {
                let (mut found, errors) = walk(path, &config.exclude, maps);
                for (at, message) in errors {
                    emitter.error(error_report(&at, message))?;
                }
                found.sort();
                if found.is_empty() {
                    emitter.error(error_report(
                        p,
                        format!("{p}: no nginx configs here (*.conf, or files in sites-enabled/); name the files to check"),
                    ))?;
                }
                found
            }
            Ok(_) => vec![path.to_path_buf()],
            Err(e) => {
                emitter.error(error_report(p, format!("{p}: {}", describe_io(&e))))?;
                continue;
            }
        };
        // Read and parsed on every core; reported in order.
        for (f, loaded) in found.iter().zip(ws.load_all(&found)) {
            match loaded {
                Ok(id) if named.insert(id) => candidates.push(id),
                Ok(_) => {}
                Err(e) => emitter.error(error_report(&f.display().to_string(), e.0))?,
            }
        }
    }
    Ok((candidates, stdin_file))
}

/// A file read by several trees of a run is one file: a tree may change it
/// only if every tree that reads it wants exactly the same new text, and
/// never when a tree that reads it is left unchanged (an error there), since
/// the change would alter that tree's behaviour unverified. Trees that
/// break either condition become errors too, until nothing changes.
fn settle_shared_files(
    ws: &Workspace,
    jobs: &[Job],
    mut results: Vec<Result<Vec<(FileId, Rewrite)>, Failure>>,
) -> Vec<Result<Vec<(FileId, Rewrite)>, Failure>> {
    let name = |j: usize| ws.file(jobs[j].unit.entries[0]).shown.clone();
    loop {
        let mut fail: Vec<(usize, String)> = Vec::new();
        // Two trees that want different text for one file.
        let mut first: HashMap<FileId, (usize, &[u8])> = HashMap::new();
        for (j, r) in results.iter().enumerate() {
            let Ok(rewrites) = r else { continue };
            for (f, rewrite) in rewrites {
                match first.get(f) {
                    Some((k, text)) if *text != rewrite.new_text.as_slice() => {
                        let file = &ws.file(*f).shown;
                        let why = |other: String| {
                            format!("{file} is also read by {other}, which needs other changes to it; nothing was changed in either tree (give each tree its own copy, or make them agree)")
                        };
                        fail.push((j, why(name(*k))));
                        fail.push((*k, why(name(j))));
                    }
                    Some(_) => {}
                    None => {
                        first.insert(*f, (j, &rewrite.new_text));
                    }
                }
            }
        }
        // A tree that changes a file a failed tree reads.
        for (j, r) in results.iter().enumerate() {
            let Ok(rewrites) = r else { continue };
            let changed = rewrites
                .iter()
                .filter(|(f, rw)| rw.new_text != ws.file(*f).source.text);
            for (f, _) in changed {
                let failed_reader = results
                    .iter()
                    .enumerate()
                    .find(|(k, other)| other.is_err() && jobs[*k].unit.files.contains(f));
                if let Some((k, _)) = failed_reader {
                    fail.push((j, format!(
                        "{} is also read by {}, which upkeep leaves unchanged (see its error); changing it would change that tree unverified, so nothing was changed in this tree",
                        ws.file(*f).shown,
                        name(k)
                    )));
                }
            }
        }
        if fail.is_empty() {
            return results;
        }
        for (j, message) in fail {
            if results[j].is_ok() {
                results[j] = Err(Failure {
                    message: format!("{}: {message}", name(j)),
                    at: None,
                });
            }
        }
    }
}

/// The files of the run read from outside its roots, said once: upkeep
/// reads them as nginx would, but never writes them, and they may not be
/// the files the repository means (the machine's own `/etc/nginx`).
fn read_outside(
    ws: &Workspace,
    jobs: &[Job],
    roots: &Roots,
    emitter: &mut dyn Emitter,
) -> io::Result<()> {
    let mut seen: HashSet<FileId> = HashSet::new();
    let mut outside: Vec<String> = Vec::new();
    for id in jobs.iter().flat_map(|j| j.unit.files.iter().copied()) {
        let f = ws.file(id);
        let Some(real) = &f.real else { continue };
        if !seen.insert(id) || roots.holding(real).is_some() {
            continue;
        }
        let at = crate::model::paths::shown_path(real);
        outside.push(if at == f.shown {
            at
        } else {
            format!("{at} (as {})", f.shown)
        });
    }
    if outside.is_empty() {
        return Ok(());
    }
    emitter.warning(&format!(
        "read {} file{} from outside {} (upkeep writes only there, never these): {}",
        outside.len(),
        if outside.len() == 1 { "" } else { "s" },
        roots.shown(),
        outside.join(", ")
    ))
}

/// The text of the file at `path` when it is an `nginx -T` dump. Read
/// with the same guards as every config (regular files only, never
/// blocking, capped); anything that is not a dump, or cannot be read, is
/// left to the workspace, which reads (or refuses) it as a config.
fn dump_file(path: &Path) -> Option<Vec<u8>> {
    // The markers come first in a dump: its head decides.
    let head = crate::model::files::read_prefix(path, 64 * 1024).ok()?;
    if !crate::model::dump::is_dump(&head) {
        return None;
    }
    crate::model::files::read_regular(path)
        .ok()
        .map(|(text, _)| text)
}

/// Adds the files of the dump `text` (named `shown`) at their real paths:
/// its main config is the run's one candidate. A dump is read alone: its
/// paths are another machine's, or this one's as nginx read them.
fn read_dump(
    config: &Config,
    shown: &str,
    text: &[u8],
    ws: &mut Workspace,
    candidates: &mut Vec<FileId>,
    emitter: &mut dyn Emitter,
) -> io::Result<()> {
    if config.inputs.len() > 1 {
        return emitter.error(error_report(
            shown,
            format!("{shown}: an `nginx -T` dump is the whole tree nginx reads; give it alone, without other paths"),
        ));
    }
    match crate::model::dump::parse(text) {
        Ok(dump) => {
            let ids = ws.add_dump(dump);
            candidates.extend(ids.first());
            Ok(())
        }
        Err(e) => emitter.error(error_report(shown, format!("{shown}: {e}"))),
    }
}

/// A dump's files can be written only where the disk holds exactly what
/// nginx dumped: anything else means the dump is not of these files (an
/// older one, another machine's), and the rewrite was planned on the
/// wrong text. `(path, why)` for each file that is not.
fn differ_from_dump(ws: &Workspace, pending: &[(FileId, Vec<u8>, usize)]) -> Vec<String> {
    pending
        .iter()
        .filter_map(|(f, _, _)| {
            let file = ws.file(*f);
            let path = file.real.as_ref()?;
            match crate::model::files::read_regular(path) {
                Ok((disk, _)) if disk == file.source.text => None,
                Ok(_) => Some(format!(
                    "{}: the file on disk differs from the dump",
                    path.display()
                )),
                Err(e) => Some(format!("{}: {}", path.display(), e.describe())),
            }
        })
        .collect()
}

/// A tree that would change a file outside the roots is not changed at
/// all: the file is read-only to upkeep, and the error names the
/// `--path-map` that would bring it into the repository.
fn keep_outside_unchanged(
    ws: &Workspace,
    jobs: &[Job],
    roots: &Roots,
    mut results: Vec<Result<Vec<(FileId, Rewrite)>, Failure>>,
) -> Vec<Result<Vec<(FileId, Rewrite)>, Failure>> {
    for (job, result) in jobs.iter().zip(results.iter_mut()) {
        let Ok(rewrites) = result else { continue };
        let outside: Vec<&std::path::Path> = rewrites
            .iter()
            .filter(|(f, rw)| rw.new_text != ws.file(*f).source.text)
            .filter_map(|(f, _)| ws.file(*f).real.as_deref())
            .filter(|real| roots.holding(real).is_none())
            .collect();
        let Some(first) = outside.first() else {
            continue;
        };
        // Directories to look for the repository's copy in: those of the
        // tree's files inside the roots.
        let near: Vec<PathBuf> = job
            .unit
            .files
            .iter()
            .filter_map(|f| ws.file(*f).real.as_deref()?.parent().map(Path::to_path_buf))
            .filter(|d| roots.holding(d).is_some())
            .collect();
        let shown: Vec<String> = outside
            .iter()
            .map(|p| crate::model::paths::shown_path(p))
            .collect();
        let hint = match crate::model::roots::suggest_map(first, &near, roots) {
            Some((from, to)) => format!(
                "--path-map {}={} reads {} from the repository's copy",
                from.display(),
                crate::model::roots::shown_dir(&to),
                if shown.len() == 1 { "it" } else { "them" }
            ),
            None => "map the directory to the repository's copy with --path-map FROM=TO".into(),
        };
        *result = Err(Failure {
            message: format!(
                "{}: the change would edit {}, outside {}, where upkeep never writes; nothing was changed in this tree ({hint})",
                ws.file(job.unit.entries[0]).shown,
                shown.join(", "),
                roots.shown(),
            ),
            at: None,
        });
    }
    results
}

/// Flag values that name nothing the configs hold: `(flag as typed,
/// what is wrong and what exists)`.
fn unmatched_flags(opts: &crate::vocab::Options, seen: &Seen) -> Vec<(String, String)> {
    fn some<T: std::fmt::Display>(items: impl Iterator<Item = T>, what: &str) -> String {
        let items: Vec<String> = items.map(|i| i.to_string()).collect();
        match items.len() {
            0 => format!("there are no {what}"),
            n if n <= 12 => format!("{what}: {}", items.join(", ")),
            n => format!("{what}: {}, and {} more", items[..12].join(", "), n - 12),
        }
    }
    let mut out = Vec::new();
    for (name, size) in &opts.keepalive_for {
        if !seen.upstreams.contains(name) {
            out.push((
                format!("--keepalive {name}={size}"),
                format!(
                    "no upstream is named `{name}`; {}",
                    some(seen.upstreams.iter(), "upstreams (existing and new)")
                ),
            ));
        }
    }
    for (backend, name) in &opts.names {
        if !seen.backends.contains(backend) {
            out.push((
                format!("--name {backend}={name}"),
                format!(
                    "no proxy_pass goes to {backend}; {}",
                    some(seen.backends.iter(), "proxy_pass backends")
                ),
            ));
        }
    }
    for path in &opts.websocket_paths {
        if let (false, Some(advice)) = (seen.serves(path), seen.handoff_advice(path)) {
            out.push((
                format!("--websocket {path}"),
                format!("{path} cannot get a dedicated WebSocket location: {advice}"),
            ));
        } else if !seen.serves(path) {
            out.push((
                format!("--websocket {path}"),
                format!(
                    "no pooled location serves {path}; {}",
                    some(
                        seen.locations.iter().map(|(p, prefix)| if *prefix {
                            p.clone()
                        } else {
                            format!("= {p}")
                        }),
                        "pooled locations"
                    )
                ),
            ));
        }
    }
    out
}

/// Processes one unit; the note on what upkeep assumed goes to its first file.
fn process_job(
    ws: &Workspace,
    job: &Job,
    opts: &crate::vocab::Options,
    trees: verify::Trees,
) -> Result<UnitRewrite, FileError> {
    let qualified;
    let opts = if job.qualified_names {
        qualified = crate::vocab::Options {
            qualified_names: true,
            ..opts.clone()
        };
        &qualified
    } else {
        opts
    };
    let mut rewrites = verify::process_unit(ws, &job.unit, opts, trees)?;
    // Context only: not reported, and never changed (`plan_unit` keeps
    // every edit out of them).
    if let Some((f, _)) = rewrites
        .files
        .iter()
        .find(|(f, rw)| job.unit.read_only.contains(f) && rw.new_text != ws.file(*f).source.text)
    {
        return Err(FileError::Internal {
            path: ws.file(job.unit.entries[0]).shown.clone(),
            message: format!("{} is read only, and its text changed", ws.file(*f).shown),
        });
    }
    rewrites
        .files
        .retain(|(f, _)| !job.unit.read_only.contains(f));
    if let (Some(assumed), Some((_, first))) = (&job.assumed, rewrites.files.first_mut()) {
        // Said without -v when it decides names (siblings read as context).
        let kind = if job.qualified_names {
            crate::vocab::NoteKind::Assumed
        } else {
            crate::vocab::NoteKind::Info
        };
        first
            .notes
            .insert(0, crate::vocab::Note::new(kind, None, assumed.clone()));
    }
    Ok(rewrites)
}

/// The units of a run: main configs with their trees first (in argument
/// order), then the snippets no tree reached, one unit per directory.
fn units(
    config: &Config,
    ws: &mut Workspace,
    candidates: &[FileId],
    root: Option<FileId>,
    stdin_file: Option<FileId>,
) -> (
    Vec<Job>,
    Vec<crate::syntax::parse::SyntaxError>,
    Vec<(String, String)>,
) {
    let mut unreadable = Vec::new();
    let mut jobs = Vec::new();
    let mut reached: HashSet<FileId> = HashSet::new();
    let mut mains: Vec<FileId> = root.into_iter().collect();
    for id in candidates {
        if !mains.contains(id) && is_main(ws, *id) {
            mains.push(*id);
        }
    }
    for main in mains {
        if reached.contains(&main) {
            continue;
        }
        let prefix = config
            .prefix
            .clone()
            .unwrap_or_else(|| directory_of(ws, main));
        let unit = Unit::layout(ws, UnitKind::Main, &[main], Some(&prefix));
        reached.extend(unit.files.iter().copied());
        jobs.push(Job {
            unit,
            assumed: None,
            qualified_names: false,
        });
    }
    // Snippets by directory, in the order their first file was named.
    let maps = &config.paths.maps;
    let mut groups: BTreeMap<usize, (PathBuf, Vec<FileId>)> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut group_of: HashMap<PathBuf, usize> = HashMap::new();
    for id in candidates {
        if reached.contains(id) {
            continue;
        }
        if let Err(e) = &ws.file(*id).tree {
            // A snippet that does not parse is reported on its own; the
            // other snippets of its directory are still processed.
            broken.push(e.clone());
            continue;
        }
        let dir = match &ws.file(*id).real {
            Some(real) => crate::model::siblings::loaded_from(&directory_of(ws, *id), real, maps),
            None => directory_of(ws, *id),
        };
        let next = group_of.len();
        let g = *group_of.entry(dir.clone()).or_insert(next);
        groups
            .entry(g)
            .or_insert_with(|| (dir, Vec::new()))
            .1
            .push(*id);
    }
    for (_, (dir, mut ids)) in groups {
        // nginx reads `DIR/*.conf` sorted by bytes.
        ids.sort_by(|a, b| {
            let key = |f: &FileId| ws.file(*f).real.clone().unwrap_or_default();
            key(a)
                .as_os_str()
                .as_encoded_bytes()
                .cmp(key(b).as_os_str().as_encoded_bytes())
        });
        let prefix = config
            .prefix
            .clone()
            .unwrap_or_else(|| dir.parent().map(Path::to_path_buf).unwrap_or(dir.clone()));
        if let Some(wholesale) = crate::model::siblings::Wholesale::of(&dir) {
            match with_siblings(ws, wholesale, &dir, &ids, &prefix, maps) {
                Ok(job) => jobs.push(job),
                Err(e) => unreadable.push(e),
            }
            continue;
        }
        let unit = Unit::layout(ws, UnitKind::Snippets, &ids, Some(&prefix));
        let assumed = (ids.len() > 1 || unit.files.len() > 1).then(|| {
            format!(
                "no main config reads these files: upkeep read the {} file(s) given in {} as one http context, relative includes from {} (name the main config with --root, or the include directory with --prefix)",
                ids.len(),
                crate::model::paths::shown_path(&dir),
                crate::model::paths::shown_path(&prefix)
            )
        });
        jobs.push(Job {
            unit,
            assumed,
            qualified_names: false,
        });
    }
    if let Some(id) = stdin_file {
        let unit = Unit::layout(ws, UnitKind::Snippets, &[id], None);
        jobs.push(Job {
            unit,
            assumed: None,
            qualified_names: false,
        });
    }
    (jobs, broken, unreadable)
}

/// The unit of snippets `given` in a directory nginx includes wholesale:
/// with every sibling nginx loads beside them, read only as context, and
/// new names qualified (see `siblings.rs`). A sibling upkeep cannot read
/// is an error for the unit: what it holds could collide.
fn with_siblings(
    ws: &mut Workspace,
    wholesale: crate::model::siblings::Wholesale,
    dir: &Path,
    given: &[FileId],
    prefix: &Path,
    maps: &[(PathBuf, PathBuf)],
) -> Result<Job, (String, String)> {
    let members = wholesale.members(dir, maps);
    let mut siblings: Vec<FileId> = Vec::new();
    for (path, loaded) in members.iter().zip(ws.load_all(&members)) {
        match loaded {
            Ok(id) if !given.contains(&id) && !siblings.contains(&id) => siblings.push(id),
            Ok(_) => {}
            Err(e) => {
                let shown = crate::model::paths::shown_path(path);
                return Err((shown, format!("{e}; upkeep reads it as context for the files given beside it, and nothing was changed there")));
            }
        }
    }
    // What the given files reach is theirs to change; the rest is context.
    let own: HashSet<FileId> = Unit::layout(ws, UnitKind::Snippets, given, Some(prefix))
        .files
        .into_iter()
        .collect();
    // The given files first, so that what upkeep adds for the context as a
    // whole goes into one of them.
    let entries: Vec<FileId> = given.iter().chain(&siblings).copied().collect();
    let mut unit = Unit::layout(ws, UnitKind::Snippets, &entries, Some(prefix));
    unit.read_only = unit
        .files
        .iter()
        .copied()
        .filter(|f| !own.contains(f))
        .collect();
    let names: Vec<String> = given.iter().map(|f| ws.file(*f).shown.clone()).collect();
    let with = match siblings.len() {
        0 => String::new(),
        1 => " with the 1 other file".into(),
        n => format!(" with the {n} other files"),
    };
    let assumed = format!(
        "no main config reads {}: upkeep read {}{with} nginx loads from {}{} as one http context, relative includes from {}; files loaded into that context from elsewhere are unseen, so new upstream names carry _PORT (name the main config with --root to see the whole context)",
        names.join(", "),
        if names.len() == 1 { "it" } else { "them" },
        crate::model::paths::shown_path(dir),
        if siblings.is_empty() { "" } else { " (read only, as context)" },
        crate::model::paths::shown_path(prefix)
    );
    Ok(Job {
        unit,
        assumed: Some(assumed),
        qualified_names: true,
    })
}

/// A main config: `http`, `events`, `stream` or `mail` at its top level.
fn is_main(ws: &Workspace, id: FileId) -> bool {
    let f = ws.file(id);
    let Some(tree) = f.tree.as_ref().ok().and_then(|t| t.get()) else {
        return false;
    };
    let mut cursor = tree.walk();
    let root = tree.root_node();
    let names: Vec<&[u8]> = root
        .named_children(&mut cursor)
        .filter_map(|c| c.child_by_field_name("name"))
        .map(|n| &f.source.text[n.byte_range()])
        .collect();
    model::is_main_config(names.iter().map(|n| String::from_utf8_lossy(n)))
}

/// The directory a file lives in (its real location: a symlinked site is
/// read where its target is, but grouped where the link is).
fn directory_of(ws: &Workspace, id: FileId) -> PathBuf {
    let f = ws.file(id);
    let shown = Path::new(&f.shown);
    let absolute = if shown.is_absolute() {
        shown.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(shown)
    };
    absolute.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Files below `dir` that look like nginx configs: `*.conf`, and every file
/// of a `sites-enabled` directory (Debian's links have no extension). The
/// walk is ripgrep's (the `ignore` crate): hidden entries are skipped, and
/// in a git repository so is what `.gitignore` (or `.ignore`) ignores;
/// `exclude` globs (gitignore syntax, relative to `dir`) too. Symlinked
/// directories are not followed (no loops); symlinked files are read.
/// Entries that cannot be read are returned as errors, one each: `(path,
/// message)`.
fn walk(
    dir: &Path,
    exclude: &[String],
    maps: &[(PathBuf, PathBuf)],
) -> (Vec<PathBuf>, Vec<(String, String)>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut overrides = ignore::overrides::OverrideBuilder::new(dir);
    for glob in exclude {
        // Checked when the flag was parsed.
        let _ = overrides.add(&format!("!{glob}"));
    }
    let mut builder = ignore::WalkBuilder::new(dir);
    builder.standard_filters(true).follow_links(false);
    match overrides.build() {
        Ok(o) => {
            builder.overrides(o);
        }
        Err(e) => errors.push(("--exclude".into(), format!("--exclude: {e}"))),
    }
    for entry in builder.build() {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                errors.push(walk_error(dir, &e));
                continue;
            }
        };
        if entry.depth() == 0 || entry.file_type().is_some_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let in_sites = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "sites-enabled");
        if !(in_sites || path.extension().is_some_and(|e| e == "conf")) {
            continue;
        }
        // A symlink counts when it leads to a file (a link to a directory
        // is not followed; an absolute target through --path-map); a
        // dangling one is an error like any unreadable file.
        match crate::model::paths::real_path(path, maps).and_then(std::fs::metadata) {
            Ok(meta) if meta.is_file() => found.push(path.to_path_buf()),
            Ok(_) => {}
            Err(e) => {
                let shown = crate::model::paths::shown_path(path);
                errors.push((shown.clone(), format!("{shown}: {}", describe_io(&e))));
            }
        }
    }
    (found, errors)
}

/// An entry the walk could not read: `(path, "path: what happened")`
/// (`dir` when the error names no path).
fn walk_error(dir: &Path, e: &ignore::Error) -> (String, String) {
    match e {
        ignore::Error::WithPath { path, err } => {
            let shown = crate::model::paths::shown_path(path);
            let what = match err.io_error() {
                Some(io) => describe_io(io),
                None => err.to_string(),
            };
            (shown.clone(), format!("{shown}: {what}"))
        }
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(dir, err)
        }
        ignore::Error::Loop { child, .. } => {
            let shown = crate::model::paths::shown_path(child);
            (
                shown.clone(),
                format!("{shown}: a symlink loop; not followed"),
            )
        }
        other => {
            let shown = crate::model::paths::shown_path(dir);
            (shown.clone(), format!("{shown}: {other}"))
        }
    }
}

/// Why a unit was not processed, and where, when that is a place in a file.
struct Failure {
    message: String,
    at: Option<crate::vocab::Place>,
}

impl From<FileError> for Failure {
    fn from(e: FileError) -> Failure {
        Failure {
            message: e.to_string(),
            at: e.place(),
        }
    }
}

/// The report of a file that could not be processed because of `error`.
fn failed_file(path: &str, error: FileError) -> FileReport {
    FileReport {
        error_at: error.place(),
        ..error_report(path, error.to_string())
    }
}

fn error_report(path: &str, message: String) -> FileReport {
    FileReport {
        path: path.to_string(),
        written_path: path.to_string(),
        status: FileStatus::Error,
        changes: Vec::new(),
        notes: Vec::new(),
        suppressed: Vec::new(),
        error: Some(message),
        error_at: None,
    }
}
