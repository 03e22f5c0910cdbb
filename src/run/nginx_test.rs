//! `--write --nginx-test[=CMD]`: the command that must accept the config
//! before upkeep writes it and after (README, "Testing a write with nginx").
//!
//! - CMD is a shell command line, run with `sh -c`, as it would be typed:
//!   quoting, variables, `&&` and wrappers (`docker compose exec nginx
//!   nginx -t`, `sudo nginx -t`) work as in a terminal, and upkeep.toml can
//!   hold it as one string. upkeep splits nothing itself.
//! - It runs in upkeep's working directory, or in upkeep.toml's directory
//!   for the file's `nginx-test` (its relative paths are read from there,
//!   as the file's other paths are), with upkeep's environment and no
//!   standard input (a command that asks a question fails instead of
//!   waiting for an answer nobody sees).
//! - Its standard output and standard error go into one pipe, so that
//!   what it says reads in the order it said it; upkeep shows it when the
//!   command fails. nginx -t says everything on standard error.
//! - It passes when it exits 0. There is no time limit: `nginx -t` takes
//!   milliseconds, and a command that hangs is ended with Ctrl-C, which
//!   reaches it too and rolls the write back.
//!
//! This is the one place upkeep starts another program.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::cli::NginxTest;

/// The most of the command's output kept to show; the rest is read and
/// dropped, so that a chatty command cannot block on a full pipe.
const KEPT: usize = 64 * 1024;

/// How one run of the command ended.
pub(crate) struct Verdict {
    pub passed: bool,
    /// `exit status 1`, `killed by signal 9`.
    pub status: String,
    /// What it printed, standard output and error as they came.
    pub output: String,
}

/// Runs the test command once. The error says why it could not be started
/// (no `sh`, a directory that is gone).
pub(crate) fn run(test: &NginxTest) -> Result<Verdict, String> {
    let (mut reader, writer) = std::io::pipe().map_err(|e| cannot_run(test, &e))?;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&test.command)
        .stdin(Stdio::null())
        .stdout(writer.try_clone().map_err(|e| cannot_run(test, &e))?)
        .stderr(writer);
    if let Some(dir) = &test.dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|e| cannot_run(test, &e))?;
    // The command holds the pipe's writing end; once it is dropped here,
    // the read ends when the child (and whatever it started that kept its
    // output) is done.
    drop(command);
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let room = KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    let status = child.wait().map_err(|e| cannot_run(test, &e))?;
    Ok(Verdict {
        passed: status.success(),
        status: describe(status),
        output: String::from_utf8_lossy(&kept).into_owned(),
    })
}

fn cannot_run(test: &NginxTest, e: &std::io::Error) -> String {
    let place = match &test.dir {
        Some(dir) => format!(" in {}", crate::model::paths::shown_path(dir)),
        None => String::new(),
    };
    format!(
        "--nginx-test: cannot run `sh -c {:?}`{place}: {}",
        test.command,
        crate::model::files::describe_io(e)
    )
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        // sh's own status for a command it could not find.
        (Some(127), _) => "exit status 127: the shell found no such command".into(),
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The command's output below a message: each line indented, so that
/// where upkeep's words end and the command's begin is plain.
pub(crate) fn shown_output(verdict: &Verdict) -> String {
    let text = verdict.output.trim_end();
    if text.is_empty() {
        return "\n  (it printed nothing)".into();
    }
    let mut shown = String::new();
    for line in text.lines() {
        shown.push_str("\n  ");
        shown.push_str(line);
    }
    if verdict.output.len() >= KEPT {
        shown.push_str("\n  (… its output goes on; upkeep kept the first 64 KiB)");
    }
    shown
}
