//! The one way tests run the upkeep binary: a [`Case`] says what to run
//! (arguments, standard input, environment, files laid out first) and
//! what must come out (exit code, stdout and stderr, files afterwards);
//! [`Case::run`] runs it, checks every expectation and fails with
//! [`failure`], the one place a failed run is described (case name,
//! command, exit code, stdout, stderr, and each unmet expectation).
//! A table of cases is a `&[Case]` run with [`run_all`], which reports
//! every failing case, not just the first. Tests that need more than a
//! table says (a signal, a terminal, a JSON report read field by field)
//! still run through [`Case::run`]/[`Case::run_in`] and check the rest
//! on the returned [`Ran`] with [`Ran::ensure`], which fails the same way.
//! A test that must start the process itself (to kill it, to close a
//! pipe) builds it with [`Case::command`] and hands the output back to
//! [`Case::check`] (or [`Case::ran`], for a run killed on purpose).
//! A story whose directory needs what [`Case::files`] cannot make (a
//! directory, a symlink, a mode) is laid out by the test and run with
//! [`run_story_in`].

use std::fmt::Display;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// What a stream (stdout or stderr) must hold.
#[derive(Clone, Copy, Debug)]
pub enum Out<'a> {
    /// Exactly this text.
    Exact(&'a str),
    /// This text somewhere.
    Has(&'a str),
    /// Not this text anywhere.
    Lacks(&'a str),
    Starts(&'a str),
    Ends(&'a str),
    /// A whole line equal to this.
    Line(&'a str),
    /// A line that starts with this.
    LineStarts(&'a str),
    /// The last line (without its newline) equal to this.
    LastLine(&'a str),
    /// This text exactly this many times.
    Times(&'a str, usize),
    /// Nothing at all.
    Empty,
}

/// What a file must be after the run (its path relative to the
/// directory upkeep ran in).
#[derive(Clone, Copy, Debug)]
pub enum After<'a> {
    /// As [`Case::files`] laid it out.
    Same,
    Is(&'a [u8]),
    Has(&'a str),
    Lacks(&'a str),
    Starts(&'a [u8]),
    Ends(&'a [u8]),
    Absent,
}

/// One run of upkeep and what it must give. Build one from [`NONE`]:
/// `Case { name: "...", args: &[...], status: 2, ..NONE }`.
#[derive(Clone, Copy, Debug)]
pub struct Case<'a> {
    pub name: &'a str,
    /// Where upkeep runs: a directory of the repository (`Some("")` is its
    /// root), or, for `None`, a fresh temporary directory that holds
    /// [`Case::files`].
    pub cwd: Option<&'a str>,
    /// Arguments read from the `args` file of this directory of the
    /// repository (`fixtures/01-motivating-frontend`), one per line, go
    /// before [`Case::args`].
    pub args_file: Option<&'a str>,
    pub args: &'a [&'a str],
    /// A program (and its arguments) the binary runs through, such as
    /// `setpriv --reuid=65534`; none: run directly.
    pub via: &'a [&'a str],
    /// Standard input (none: empty).
    pub stdin: Option<&'a [u8]>,
    /// Set for the run. `NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`, `CI`
    /// and `TERM` are removed first, so that the tests' own environment
    /// does not decide the colors.
    pub env: &'a [(&'a str, &'a str)],
    /// Files written before the run, relative to where it runs (parent
    /// directories made).
    pub files: &'a [(&'a str, &'a [u8])],
    /// The exit code.
    pub status: i32,
    pub stdout: &'a [Out<'a>],
    pub stderr: &'a [Out<'a>],
    pub files_after: &'a [(&'a str, After<'a>)],
}

/// A case that runs `upkeep` with nothing in a fresh directory and
/// expects exit 0 and nothing else: the base of every case.
pub const NONE: Case<'static> = Case {
    name: "",
    cwd: None,
    args_file: None,
    args: &[],
    via: &[],
    stdin: None,
    env: &[],
    files: &[],
    status: 0,
    stdout: &[],
    stderr: &[],
    files_after: &[],
};

/// `cwd` of a case that runs at the repository's root.
pub const REPO: Option<&str> = Some("");

/// A finished run: its output and where it ran (kept until dropped).
pub struct Ran {
    pub name: String,
    pub command: String,
    pub dir: PathBuf,
    pub out: Output,
    _temp: Option<tempfile::TempDir>,
}

impl Ran {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Fails the test, described as every failed run is, unless `ok`.
    #[track_caller]
    pub fn ensure(&self, ok: bool, what: impl Display) {
        if !ok {
            panic!("{}", self.failure(&[what.to_string()]));
        }
    }

    /// [`Ran::ensure`] that `got` is `want`.
    #[track_caller]
    pub fn ensure_eq<T: PartialEq + std::fmt::Debug>(&self, got: T, want: T, what: impl Display) {
        if got != want {
            panic!(
                "{}",
                self.failure(&[format!("{what}: got {got:?}, expected {want:?}")])
            );
        }
    }

    /// Standard output read as JSON (a failure when it is not).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.out.stdout)
            .unwrap_or_else(|e| panic!("{}", self.failure(&[format!("stdout is not JSON: {e}")])))
    }

    /// A file of the directory the run happened in.
    pub fn file(&self, path: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(path))
            .unwrap_or_else(|e| panic!("{}", self.failure(&[format!("{path}: {e}")])))
    }

    pub fn failure(&self, problems: &[String]) -> String {
        failure(&self.name, &self.command, &self.out, problems)
    }
}

/// The one description of a failed run.
pub fn failure(name: &str, command: &str, out: &Output, problems: &[String]) -> String {
    let mut text = format!("case `{name}` failed:\n");
    for p in problems {
        text.push_str(&format!("  - {p}\n"));
    }
    text.push_str(&format!(
        "command: {command}\nexit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}--- end ---",
        match out.status.code() {
            Some(c) => c.to_string(),
            None => format!("none ({})", out.status),
        },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    ));
    text
}

pub fn repo() -> PathBuf {
    super::repo()
}

impl Case<'_> {
    /// The arguments upkeep gets: the `args_file`'s, then `args`.
    pub fn argv(&self) -> Vec<String> {
        let mut argv: Vec<String> = match self.args_file {
            Some(dir) => {
                let path = repo().join(dir).join("args");
                std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            }
            None => Vec::new(),
        };
        argv.extend(self.args.iter().map(|a| a.to_string()));
        argv
    }

    /// The command the case runs in `dir`, not started: for a test that
    /// must spawn it itself (to kill it, to close a pipe).
    pub fn command(&self, dir: &Path) -> Command {
        let bin = env!("CARGO_BIN_EXE_upkeep");
        let mut cmd = match self.via.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin);
                cmd
            }
            None => Command::new(bin),
        };
        cmd.args(self.argv()).current_dir(dir);
        for var in ["NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "CI", "TERM"] {
            cmd.env_remove(var);
        }
        cmd.envs(self.env.iter().copied());
        cmd
    }

    /// The command as a shell line, for failures.
    pub fn command_line(&self, dir: &Path) -> String {
        let quote = |a: &str| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c))
            {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        };
        let mut line = format!("(cd {} && ", quote(&dir.display().to_string()));
        for (k, v) in self.env {
            line.push_str(&format!("{k}={} ", quote(v)));
        }
        for a in self.via {
            line.push_str(&quote(a));
            line.push(' ');
        }
        line.push_str("upkeep");
        for a in self.argv() {
            line.push(' ');
            line.push_str(&quote(&a));
        }
        match self.stdin {
            Some(input) => line.push_str(&format!(" <<< {:?})", String::from_utf8_lossy(input))),
            None => line.push(')'),
        }
        line
    }

    /// Runs the case (in its `cwd` or a fresh directory) and checks it;
    /// panics with [`failure`] on any unmet expectation.
    #[track_caller]
    pub fn run(&self) -> Ran {
        self.try_run().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs the case in `dir` (a directory the test prepared; the case's
    /// `files` are written there first) and checks it.
    #[track_caller]
    pub fn run_in(&self, dir: &Path) -> Ran {
        let ran = self.start(dir.to_path_buf(), None);
        match self.problems(&ran) {
            problems if problems.is_empty() => ran,
            problems => panic!("{}", ran.failure(&problems)),
        }
    }

    /// [`Case::run`], the failure as text.
    pub fn try_run(&self) -> Result<Ran, String> {
        let (dir, temp) = match self.cwd {
            Some(sub) => (repo().join(sub), None),
            None => {
                let temp = tempfile::tempdir().unwrap();
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let ran = self.start(dir, temp);
        match self.problems(&ran) {
            problems if problems.is_empty() => Ok(ran),
            problems => Err(ran.failure(&problems)),
        }
    }

    /// A run the test started itself (from [`Case::command`] in `dir`)
    /// and waited for, checked as [`Case::run`] checks one.
    #[track_caller]
    pub fn check(&self, dir: &Path, out: Output) -> Ran {
        let ran = self.ran(dir, out);
        match self.problems(&ran) {
            problems if problems.is_empty() => ran,
            problems => panic!("{}", ran.failure(&problems)),
        }
    }

    /// [`Case::check`] without the checks: for a run the test killed, whose
    /// exit code and output mean nothing; what it left is checked with
    /// [`Ran::ensure`].
    pub fn ran(&self, dir: &Path, out: Output) -> Ran {
        Ran {
            name: self.name.to_string(),
            command: self.command_line(dir),
            dir: dir.to_path_buf(),
            out,
            _temp: None,
        }
    }

    fn start(&self, dir: PathBuf, temp: Option<tempfile::TempDir>) -> Ran {
        for (path, bytes) in self.files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, bytes).unwrap();
        }
        let mut child = self
            .command(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run upkeep");
        let mut input = child.stdin.take().unwrap();
        // upkeep may exit before reading (a bad flag): a closed pipe then.
        let _ = input.write_all(self.stdin.unwrap_or_default());
        drop(input);
        let out = child.wait_with_output().unwrap();
        Ran {
            name: self.name.to_string(),
            command: self.command_line(&dir),
            dir,
            out,
            _temp: temp,
        }
    }

    /// Every expectation the run does not meet.
    fn problems(&self, ran: &Ran) -> Vec<String> {
        let mut problems = Vec::new();
        if ran.out.status.code() != Some(self.status) {
            problems.push(format!(
                "exit {:?}, expected {}",
                ran.out.status.code(),
                self.status
            ));
        }
        for (stream, text, wants) in [
            ("stdout", ran.stdout(), self.stdout),
            ("stderr", ran.stderr(), self.stderr),
        ] {
            for want in wants {
                if let Some(p) = unmet(&text, want) {
                    problems.push(format!("{stream} {p}"));
                }
            }
        }
        for (path, want) in self.files_after {
            let got = std::fs::read(ran.dir.join(path)).ok();
            let laid_out = self.files.iter().find(|(p, _)| p == path).map(|(_, b)| *b);
            let ok = match (*want, &got) {
                (After::Absent, got) => got.is_none(),
                (_, None) => false,
                (After::Same, Some(g)) => Some(g.as_slice()) == laid_out,
                (After::Is(b), Some(g)) => g == b,
                (After::Has(t), Some(g)) => String::from_utf8_lossy(g).contains(t),
                (After::Lacks(t), Some(g)) => !String::from_utf8_lossy(g).contains(t),
                (After::Starts(b), Some(g)) => g.starts_with(b),
                (After::Ends(b), Some(g)) => g.ends_with(b),
            };
            if !ok {
                // Bytes shown as text, as the file is.
                let text = |b: &[u8]| format!("{:?}", String::from_utf8_lossy(b));
                let want = match *want {
                    After::Is(b) => format!("Is({})", text(b)),
                    After::Starts(b) => format!("Starts({})", text(b)),
                    After::Ends(b) => format!("Ends({})", text(b)),
                    other => format!("{other:?}"),
                };
                problems.push(format!(
                    "{path} afterwards: expected {want}, got {}",
                    match &got {
                        Some(g) => format!("{:?}", String::from_utf8_lossy(g)),
                        None => "no file".into(),
                    }
                ));
            }
        }
        problems
    }
}

/// Why `text` does not meet `want`, or `None` when it does.
fn unmet(text: &str, want: &Out) -> Option<String> {
    let ok = match *want {
        Out::Exact(t) => text == t,
        Out::Has(t) => text.contains(t),
        Out::Lacks(t) => !text.contains(t),
        Out::Starts(t) => text.starts_with(t),
        Out::Ends(t) => text.ends_with(t),
        Out::Line(t) => text.lines().any(|l| l == t),
        Out::LineStarts(t) => text.lines().any(|l| l.starts_with(t)),
        Out::LastLine(t) => text.lines().last() == Some(t),
        Out::Times(t, n) => text.matches(t).count() == n,
        Out::Empty => text.is_empty(),
    };
    (!ok).then(|| match *want {
        Out::Times(t, n) => format!(
            "holds {t:?} {} times, expected {n}",
            text.matches(t).count()
        ),
        other => format!("does not meet {other:?}"),
    })
}

/// Runs every case of a table and fails once, describing each case that
/// failed; a table without cases fails too.
#[track_caller]
pub fn run_all(cases: &[Case]) {
    assert!(!cases.is_empty(), "an empty table checks nothing");
    let mut names = std::collections::BTreeSet::new();
    for case in cases {
        assert!(
            names.insert(case.name),
            "two cases are named `{}`",
            case.name
        );
    }
    let failures: Vec<String> = cases.iter().filter_map(|c| c.try_run().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Runs the cases one after the other in one fresh directory (each
/// writes its `files` first and sees what the ones before left), each
/// checked as [`Case::run`] checks it; the directory is returned for
/// what the test checks afterwards.
#[track_caller]
pub fn run_story(cases: &[Case]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    run_story_in(dir.path(), cases);
    dir
}

/// [`run_story`] in a directory the test laid out (with what
/// [`Case::files`] cannot make: directories, symlinks, modes).
#[track_caller]
pub fn run_story_in(dir: &Path, cases: &[Case]) {
    assert!(!cases.is_empty(), "an empty story checks nothing");
    for case in cases {
        case.run_in(dir);
    }
}
