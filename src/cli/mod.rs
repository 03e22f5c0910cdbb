//! The command line: clap's derive [`Args`] (what the user typed), then a
//! validated [`Config`] (what the run does). Values are checked by clap's
//! value parsers, so a bad flag gets clap's message and exit code 2.

pub mod settings;
pub mod values;

use values::{
    parse_exclude, parse_include_glob, parse_keepalive, parse_name, parse_path_map,
    parse_protocols, parse_resolver, parse_version, parse_websocket, KeepaliveArg, NginxVersion,
};

use std::collections::{BTreeMap, BTreeSet};

use clap::{ArgGroup, Parser, ValueEnum};

use crate::rules::RuleId;
use crate::vocab::names::{BackendKey, UpstreamName};
use crate::vocab::tuning::{self, Count, Time, Tuning};
use crate::vocab::{HostHeaderMode, Options, Protocol};

/// The nginx release whose `upstream` blocks re-resolve names: `server
/// ... resolve`, and `resolver` inside `upstream` (changes.xml, 1.27.3).
pub const RESOLVE_VERSION: (u32, u32, u32) = (1, 27, 3);

/// The nginx release from which keepalive, HTTP/1.1 and no `Connection`
/// header are upstream defaults.
pub const NEW_DEFAULTS_VERSION: (u32, u32, u32) = (1, 29, 7);
/// nginx sends a `grpc_set_header Host` value as `:authority` from this
/// version on (commit dea68dbf, in release-1.31.4).
pub const GRPC_AUTHORITY_VERSION: (u32, u32, u32) = (1, 31, 4);

/// `upkeep --version`: the version, the commit and its date (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("UPKEEP_COMMIT"),
    " ",
    env!("UPKEEP_COMMIT_DATE"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "upkeep",
    version = VERSION,
    about = "Give nginx reverse proxies pooled, keep-alive upstream connections",
    long_about = "upkeep rewrites nginx configs so that proxied locations reuse backend connections: \
it adds `upstream` blocks with `keepalive`, points `proxy_pass` at them, sets `proxy_http_version 1.1`, \
and makes the `Connection` header empty for ordinary traffic and `upgrade` only where WebSockets need it.\n\n\
By default it prints a unified diff and changes nothing.",
    after_help = "`upkeep rule` lists the rules and `upkeep rule ID` documents one; `upkeep explain FILE:LINE` says why upkeep changes (or leaves alone) that place.\n\
A config file named like a subcommand (rule, explain, completions, man) is a PATH when written as a path or after `--`: `upkeep ./rule`, `upkeep -- rule`.",
    group(ArgGroup::new("mode").multiple(false).args(["diff", "check", "write"])),
    // A flag typed twice (or typed over upkeep.toml's value) takes the last.
    args_override_self = true,
    // `upkeep rule` is the subcommand; a file of that name is `./rule`
    // or `-- rule` (a subcommand is only ever the first word).
    args_conflicts_with_subcommands = true
)]
pub struct Args {
    #[command(subcommand)]
    pub tool: Option<Tool>,

    /// nginx config files or directories; `-` reads standard input. A main
    /// config is read with everything it includes; a directory means its
    /// main configs and their trees, and its other *.conf files (and the
    /// files of a sites-enabled/) as snippets.
    /// (Default: `paths` from upkeep.toml, else the current directory.)
    /// A file named like a subcommand is `./rule` or `-- rule`.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,

    /// The name standard input is shown under (`-` as PATH, or no PATH):
    /// in the diff, reports and annotations, as an editor knows the file.
    /// Its includes are not read.
    #[arg(long, value_name = "PATH")]
    pub stdin_filename: Option<String>,

    /// Read the settings from this file instead of the upkeep.toml found
    /// from the current directory upward (up to the repository root).
    #[arg(long, value_name = "FILE", conflicts_with = "no_config")]
    pub config: Option<std::path::PathBuf>,

    /// Ignore any upkeep.toml.
    #[arg(long)]
    pub no_config: bool,

    /// Leave out files and directories matching GLOB when walking a
    /// directory (gitignore syntax, relative to the directory walked:
    /// `generated/`, `*.bak.conf`). Repeatable. Files named as arguments,
    /// and files a config includes, are still read.
    #[arg(long, value_name = "GLOB", value_parser = parse_exclude)]
    pub exclude: Vec<String>,

    /// The main config: read the tree it includes even when it does not
    /// look like one (no top-level `http`/`events`).
    #[arg(long, value_name = "FILE")]
    pub root: Option<std::path::PathBuf>,

    /// Where relative `include` names are read from (nginx's conf prefix;
    /// default: the main config's directory, or for snippets the directory
    /// above theirs).
    #[arg(long, value_name = "DIR")]
    pub prefix: Option<std::path::PathBuf>,

    /// Read includes below FROM from TO instead (repeatable), e.g.
    /// `--path-map /etc/nginx=deploy/nginx` for a repository's copy.
    #[arg(long = "path-map", value_name = "FROM=TO", value_parser = parse_path_map)]
    pub path_maps: Vec<(std::path::PathBuf, std::path::PathBuf)>,

    /// An include upkeep may not be able to read and that sets nothing a
    /// rewrite depends on (a `mime.types` absent on CI): one it cannot
    /// read whose name as written, or path as resolved, matches GLOB
    /// (`*` also matches `/`) counts as read and empty instead of leaving
    /// alone what depends on it. Repeatable; `ignore-includes` in upkeep.toml.
    #[arg(long = "ignore-include", value_name = "GLOB", value_parser = parse_include_glob)]
    pub ignore_includes: Vec<glob::Pattern>,

    /// Print a unified diff of the changes (the default).
    #[arg(long)]
    pub diff: bool,

    /// Print the diff and exit 1 if any file would change (for CI).
    #[arg(long)]
    pub check: bool,

    /// Apply the changes in place, atomically; print one summary line per changed file.
    #[arg(short = 'w', long)]
    pub write: bool,

    /// With --write: run CMD before writing and again after. It must pass
    /// before (else nothing is written); if it fails after, every written
    /// file gets its original bytes back and upkeep exits 2 with its
    /// output. CMD is a shell command line, run with `sh -c`; default:
    /// upkeep.toml's `nginx-test`, else `nginx -t`. The `=` is required:
    /// `--nginx-test site.conf` is the default command and a PATH.
    #[arg(
        long,
        value_name = "CMD",
        num_args = 0..=1,
        require_equals = true
    )]
    pub nginx_test: Option<Option<String>>,

    /// upkeep.toml's `nginx-test`: the command `--nginx-test` runs when
    /// given without one (it does not turn the test on).
    #[arg(long, hide = true, value_name = "CMD")]
    pub nginx_test_command: Option<String>,

    /// Where upkeep.toml's `nginx-test` runs: the file's directory.
    #[arg(long, hide = true, value_name = "DIR")]
    pub nginx_test_dir: Option<std::path::PathBuf>,

    /// Pool size for new upstreams (`N`, default 32), or for one upstream (`NAME=N`). Repeatable.
    #[arg(long, value_name = "N|NAME=N", value_parser = parse_keepalive)]
    pub keepalive: Vec<KeepaliveArg>,

    /// The upstream name for one backend. Repeatable.
    #[arg(long = "name", value_name = "HOST:PORT=NAME", value_parser = parse_name)]
    pub names: Vec<(BackendKey, String)>,

    /// A URI path that carries WebSocket traffic. Repeatable.
    #[arg(long, value_name = "PATH", value_parser = parse_websocket)]
    pub websocket: Vec<String>,

    /// Pool only these protocols: a comma-separated list of `proxy`
    /// (proxy_pass), `fastcgi`, `grpc`, `memcached`. Repeatable; the others'
    /// `*_pass` directives are left as they are.
    #[arg(long, value_name = "LIST", value_parser = parse_protocols)]
    pub only: Vec<Vec<Protocol>>,

    /// Leave these protocols' `*_pass` directives as they are (same names as
    /// --only). Repeatable.
    #[arg(long, value_name = "LIST", value_parser = parse_protocols)]
    pub skip: Vec<Vec<Protocol>>,

    /// The nginx.org version the config runs on (default: any, so emit
    /// what older versions need); a fork's as FORK:X.Y.Z (openresty, angie,
    /// freenginx, tengine).
    #[arg(long, value_name = "[FORK:]X.Y.Z", value_parser = parse_version)]
    pub nginx_version: Option<NginxVersion>,

    /// `keepalive_timeout` of the pools upkeep adds: how long nginx keeps
    /// an idle backend connection (nginx time: 4s, 500ms, 1m30s; nginx's
    /// default is 60s). Must be below --backend-idle-timeout.
    #[arg(long, value_name = "DUR", value_parser = tuning::parse_time_flag)]
    pub keepalive_timeout: Option<Time>,

    /// `keepalive_requests` of the pools upkeep adds: requests over one
    /// connection before nginx closes it (nginx's default: 1000; 100 before
    /// 1.19.10).
    #[arg(long, value_name = "N", value_parser = tuning::parse_count_flag)]
    pub keepalive_requests: Option<Count>,

    /// `keepalive_time` of the pools upkeep adds: how long one connection
    /// is used at most (nginx 1.19.10 or later; nginx's default is 1h).
    #[arg(long, value_name = "DUR", value_parser = tuning::parse_time_flag)]
    pub keepalive_time: Option<Time>,

    /// How long the backends keep an idle connection open (Node.js and
    /// uvicorn: 5s, gunicorn: 2s). upkeep sets `keepalive_timeout` one
    /// second below it (at least half of it), so that nginx never sends a
    /// request on a connection the backend is closing.
    #[arg(long, value_name = "DUR", value_parser = tuning::parse_time_flag)]
    pub backend_idle_timeout: Option<Time>,

    /// Also write the pool settings above into existing `upstream` blocks
    /// that keep connections (a different value there is replaced).
    #[arg(long)]
    pub tune_existing: bool,

    /// Pool `proxy_pass` targets whose host a `set` in the location fixes
    /// (`set $app app; proxy_pass http://$app:8080;`): an upstream with
    /// `zone`, `server app:8080 resolve` and `keepalive`, so that nginx
    /// still re-resolves the name. Needs --nginx-version 1.27.3 or later.
    #[arg(long)]
    pub resolve: bool,

    /// With --resolve: the DNS server(s) for an http context that has no
    /// `resolver` (`127.0.0.11` is Docker's embedded DNS), as the
    /// `resolver` directive takes them: `ADDR[:PORT] ... [valid=TIME]
    /// [ipv4=on|off] [ipv6=on|off]`.
    #[arg(long, value_name = "ADDR", value_parser = parse_resolver)]
    pub resolver: Option<String>,

    /// What `$proxy_host`/`$proxy_port` decided (Host, proxy_redirect, TLS name, cache key, explicit uses): `keep` keeps every old value; `upstream` accepts the new ones (the upstream name).
    #[arg(long = "proxy-host", alias = "host-header", value_enum, default_value_t = HostHeaderArg::Keep, value_name = "keep|upstream")]
    pub host_header: HostHeaderArg,

    /// `text` prints the diff; `json` one machine-readable report instead (schemas/report.schema.json); `github` GitHub Actions annotations (`::warning file=…,line=…::…`); `sarif` a SARIF 2.1.0 log for code scanning.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Complete a `--write` that was interrupted (killed, or the machine
    /// went down): `rollback` puts every file back as it was, `finish`
    /// writes the rest. Only needed when upkeep says it found a journal.
    #[arg(long, value_enum, value_name = "rollback|finish")]
    pub recover: Option<crate::vocab::Recovery>,

    /// Write what goes to standard output (the diff, report or
    /// annotations) to FILE instead.
    #[arg(short = 'o', long = "output-file", value_name = "FILE")]
    pub output_file: Option<std::path::PathBuf>,

    /// Color the diff and the messages. `auto` colors a terminal that
    /// supports it, honouring NO_COLOR, CLICOLOR=0, CLICOLOR_FORCE and
    /// TERM=dumb; a file named by -o only with `always`.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Print nothing on stderr but errors (not even the summary line).
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Also print why each change is made, and notes on what was left alone and why.
    #[arg(short, long)]
    pub verbose: bool,

    /// After the summary line, print how many changes each rule made.
    #[arg(long, conflicts_with = "quiet")]
    pub statistics: bool,

    /// Benchmarks only: read and parse each file (syntax check included), plan nothing.
    #[arg(long, hide = true)]
    pub parse_only: bool,
}

/// What upkeep can print about itself instead of reading configs.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Tool {
    /// Print a shell completion script, e.g. `upkeep completions bash >
    /// /etc/bash_completion.d/upkeep`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `upkeep man > upkeep.1`.
    Man,
    /// List the rules, one line each: id, what one change of it is (the
    /// summary line's words), the protocols it serves. With ID, print that
    /// rule's documentation (What, Why, Example, Safety).
    Rule {
        /// A rule id, as reports, `-v` and `upkeep rule` spell it
        /// (`connection-header`).
        #[arg(value_name = "ID")]
        id: Option<String>,
    },
    /// Say what upkeep does at FILE:LINE and why: every change and note of
    /// the directive on that line and of each block around it, innermost
    /// first, in the words `-v` uses; or that nothing there concerns
    /// upkeep. FILE is read as `upkeep FILE` reads it (its includes,
    /// upkeep.toml), with the flags given here: `upkeep explain --only
    /// proxy site.conf:12`. Nothing is written.
    Explain {
        /// FILE:LINE (lines count from 1), and any flags of a run, before
        /// or after it.
        #[arg(
            value_name = "FILE:LINE [FLAGS]",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        args: Vec<std::ffi::OsString>,
    },
}

impl Tool {
    /// Writes what was asked for to `out` (not `explain`, which is a run:
    /// see `crate::explain`). The error is what to print after `error: `.
    pub fn print(&self, out: &mut dyn std::io::Write) -> Result<(), String> {
        use clap::CommandFactory;
        let mut command = Args::command();
        let written = match self {
            Tool::Completions { shell } => {
                clap_complete::generate(*shell, &mut command, "upkeep", out);
                Ok(())
            }
            Tool::Man => clap_mangen::Man::new(command).render(out),
            Tool::Rule { id: None } => out.write_all(rule_list().as_bytes()),
            Tool::Rule { id: Some(id) } => {
                let Some(rule) = RuleId::from_name(id) else {
                    return Err(format!(
                        "no rule is named `{id}`; did you mean `{}`? (`upkeep rule` lists every rule)",
                        RuleId::closest(id).as_str()
                    ));
                };
                writeln!(out, "{}", crate::rules::doc(rule).markdown)
            }
            Tool::Explain { .. } => Err(std::io::Error::other(
                "explain is a run, not something to print",
            )),
        };
        written.map_err(|e| e.to_string())
    }
}

/// `upkeep rule`: a line per rule id, in report order, from the registry:
/// the id, what one change of it is, the protocols it serves; in columns.
fn rule_list() -> String {
    let width = |column: fn(&RuleId) -> usize| RuleId::ALL.iter().map(column).max().unwrap_or(0);
    let id_width = width(|r| r.as_str().len());
    let change_width = width(|r| r.one_change().chars().count());
    RuleId::ALL
        .iter()
        .map(|r| {
            format!(
                "{:id_width$}  {:change_width$}  {}\n",
                r.as_str(),
                r.one_change(),
                r.protocols_shown()
            )
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HostHeaderArg {
    Keep,
    Upstream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// GitHub Actions workflow commands: one annotation per change, note
    /// and error, shown on the pull request's lines.
    Github,
    /// A SARIF 2.1.0 log (GitHub code scanning and other viewers).
    Sarif,
    /// A GitLab Code Quality report (`artifacts: reports: codequality:`).
    Gitlab,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Whether standard output and standard error get ANSI colors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Colors {
    pub out: bool,
    pub err: bool,
}

/// The command `--nginx-test` runs before and after a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxTest {
    /// A shell command line (`sh -c`).
    pub command: String,
    /// Where it runs: upkeep.toml's directory for the file's command,
    /// else (`None`) upkeep's own working directory.
    pub dir: Option<std::path::PathBuf>,
}

/// What `--nginx-test` runs when no CMD is given and upkeep.toml names none.
pub const NGINX_TEST_DEFAULT: &str = "nginx -t";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Diff,
    Check,
    Write,
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The PATH arguments.
    pub inputs: Vec<String>,
    pub root: Option<std::path::PathBuf>,
    pub prefix: Option<std::path::PathBuf>,
    /// How include names map to files.
    pub paths: crate::model::workspace::Paths,
    /// `--exclude` globs for directory walks.
    pub exclude: Vec<String>,
    /// What standard input is called in the output (`-` unless
    /// `--stdin-filename`).
    pub stdin_name: String,
    pub mode: Mode,
    pub format: Format,
    /// ANSI colors on standard output (or the -o file).
    pub color: bool,
    /// ANSI colors on standard error.
    pub err_color: bool,
    pub quiet: bool,
    pub verbose: bool,
    pub statistics: bool,
    /// `-o FILE`: where standard output goes instead.
    pub output_file: Option<std::path::PathBuf>,
    /// `--recover`: complete an interrupted write instead of a run.
    pub recover: Option<crate::vocab::Recovery>,
    /// Stop after parsing (the benchmarks' baseline).
    pub parse_only: bool,
    /// `--nginx-test`: the command a write must pass before and after.
    pub nginx_test: Option<NginxTest>,
    /// `--format github` on GitHub Actions: the step summary file
    /// (`GITHUB_STEP_SUMMARY`) a Markdown summary is appended to.
    pub step_summary: Option<std::path::PathBuf>,
    pub options: Options,
}

impl Args {
    /// The nginx.org core version `--nginx-version` names, if it names one.
    fn core_version(&self) -> Option<(u32, u32, u32)> {
        self.nginx_version.and_then(|v| v.0)
    }

    /// Parses the command line with the settings of upkeep.toml (unless
    /// `--no-config`) placed before the typed flags, so that those win.
    /// The error is what to print after `error: ` (exit 2).
    pub fn parse_with_settings(
        argv: Vec<std::ffi::OsString>,
        cwd: &std::path::Path,
    ) -> Result<Args, String> {
        let typed = Args::try_parse_from(&argv).unwrap_or_else(|e| e.exit());
        if typed.no_config || typed.tool.is_some() {
            return typed.checked();
        }
        let Some(path) = typed
            .config
            .clone()
            .or_else(|| crate::cli::settings::find(cwd))
        else {
            return typed.checked();
        };
        // Shown as the other paths of a run are: relative to where upkeep
        // runs when it lies below it (`upkeep.toml:3:1: ...`).
        let shown = path
            .strip_prefix(cwd)
            .unwrap_or(&path)
            .display()
            .to_string();
        let settings = crate::cli::settings::load(&path, &shown)?;
        let mut merged: Vec<std::ffi::OsString> = argv[..1].to_vec();
        merged.extend(settings.args.iter().map(Into::into));
        merged.extend(argv[1..].iter().cloned());
        if typed.paths.is_empty() && typed.stdin_filename.is_none() {
            merged.push("--".into());
            merged.extend(settings.paths.iter().map(Into::into));
        }
        Args::try_parse_from(merged)
            .unwrap_or_else(|e| e.exit())
            .checked()
    }

    /// The flags that are wrong together (each value alone was checked by
    /// its parser): the error is what to print after `error: `.
    pub fn checked(self) -> Result<Args, String> {
        if let Some(cmd) = &self.nginx_test {
            // It tests what a write leaves on disk: the other modes write
            // nothing, so a pass would prove nothing about their output.
            if !self.write {
                return Err("--nginx-test runs its command before and after a --write, and puts the files back when the written config fails it; --diff and --check write nothing to test (test their output with `upkeep --write --nginx-test`, or apply the diff and run nginx -t yourself)".into());
            }
            if self.recover.is_some() {
                return Err("--nginx-test tests a --write; --recover completes an interrupted one as it was started (run nginx -t yourself afterwards)".into());
            }
            if self.paths.iter().any(|p| p == "-")
                || (self.paths.is_empty() && self.stdin_filename.is_some())
            {
                return Err("--nginx-test tests the files --write replaces; standard input (`-`) is written to standard output, not to a file nginx reads".into());
            }
            if cmd.as_deref().is_some_and(|c| c.trim().is_empty()) {
                return Err("--nginx-test= names no command: give one (`--nginx-test='nginx -t -c /etc/nginx/nginx.conf'`), or none at all for upkeep.toml's `nginx-test` or `nginx -t`".into());
            }
        }
        let tuning = self.tuning();
        if tuning.tune_existing && tuning.is_empty() {
            return Err("--tune-existing writes the pool settings into existing upstream blocks, but none was given: add --keepalive-timeout, --keepalive-requests, --keepalive-time or --backend-idle-timeout".into());
        }
        tuning.check(self.core_version())?;
        if self.resolver.is_some() && !self.resolve {
            return Err(
                "--resolver adds a `resolver` for the upstreams --resolve creates; add --resolve"
                    .into(),
            );
        }
        if self.resolve {
            let shown = |(a, b, c): (u32, u32, u32)| format!("{a}.{b}.{c}");
            match self.core_version() {
                None => return Err(format!(
                    "--resolve writes `server NAME:PORT resolve` into upstream blocks, which nginx accepts from {} on: say which nginx the config runs on with --nginx-version",
                    shown(RESOLVE_VERSION)
                )),
                Some(v) if v < RESOLVE_VERSION => return Err(format!(
                    "--resolve writes `server NAME:PORT resolve` into upstream blocks, which nginx accepts from {} on; --nginx-version is {} (nginx resolves such targets per request and never pools them before that)",
                    shown(RESOLVE_VERSION),
                    shown(v)
                )),
                Some(_) => {}
            }
        }
        Ok(self)
    }

    /// The pool settings asked for.
    pub fn tuning(&self) -> Tuning {
        Tuning {
            keepalive_timeout: self.keepalive_timeout.clone(),
            keepalive_requests: self.keepalive_requests.clone(),
            keepalive_time: self.keepalive_time.clone(),
            backend_idle_timeout: self.backend_idle_timeout.clone(),
            tune_existing: self.tune_existing,
        }
    }

    /// Whether each stream gets colors: `--color`, and for `auto` what
    /// the environment and the stream say (anstream's policy: NO_COLOR,
    /// then CLICOLOR_FORCE, then CLICOLOR=0, then a terminal that is not
    /// TERM=dumb). An -o file is not a terminal: `always` only.
    pub fn colors(&self) -> Colors {
        let auto = |terminal: anstream::ColorChoice| terminal != anstream::ColorChoice::Never;
        match self.color {
            ColorChoice::Always => Colors {
                out: true,
                err: true,
            },
            ColorChoice::Never => Colors::default(),
            ColorChoice::Auto => Colors {
                out: self.output_file.is_none()
                    && auto(anstream::AutoStream::choice(&std::io::stdout())),
                err: auto(anstream::AutoStream::choice(&std::io::stderr())),
            },
        }
    }

    /// The command `--nginx-test` runs: the one typed, else upkeep.toml's
    /// (in the file's directory), else `nginx -t`.
    fn nginx_test(&self) -> Option<NginxTest> {
        let typed = self.nginx_test.as_ref()?;
        Some(match (typed, &self.nginx_test_command) {
            (Some(command), _) => NginxTest {
                command: command.clone(),
                dir: None,
            },
            (None, Some(command)) => NginxTest {
                command: command.clone(),
                dir: self.nginx_test_dir.clone(),
            },
            (None, None) => NginxTest {
                command: NGINX_TEST_DEFAULT.into(),
                dir: None,
            },
        })
    }

    /// `colors` as [`Args::colors`] resolved them for the real streams.
    pub fn into_config(self, colors: Colors) -> Config {
        let nginx_test = self.nginx_test();
        let mode = if self.check {
            Mode::Check
        } else if self.write {
            Mode::Write
        } else {
            Mode::Diff
        };
        let tuning = self.tuning();
        let mut keepalive = 32;
        let mut keepalive_for = BTreeMap::new();
        for k in self.keepalive {
            match k {
                KeepaliveArg::Default(n) => keepalive = n,
                KeepaliveArg::Named(name, n) => {
                    keepalive_for.insert(UpstreamName::new(name), n);
                }
            }
        }
        let absolute = |p: std::path::PathBuf| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().unwrap_or_default().join(p)
            }
        };
        let prefix = self.prefix.map(absolute);
        let only: BTreeSet<Protocol> = self.only.iter().flatten().copied().collect();
        let skipped = Protocol::ALL
            .into_iter()
            .filter(|p| {
                (!only.is_empty() && !only.contains(p))
                    || self.skip.iter().flatten().any(|s| s == p)
            })
            .collect();
        Config {
            inputs: if self.paths.is_empty() && self.stdin_filename.is_some() {
                vec!["-".into()]
            } else if self.paths.is_empty() {
                vec![".".into()]
            } else {
                self.paths
            },
            root: self.root,
            prefix: prefix.clone(),
            exclude: self.exclude,
            stdin_name: self.stdin_filename.clone().unwrap_or_else(|| "-".into()),
            paths: crate::model::workspace::Paths {
                prefix,
                maps: self
                    .path_maps
                    .into_iter()
                    .map(|(from, to)| (from, absolute(to)))
                    .collect(),
                ignored: self.ignore_includes,
            },
            mode,
            format: self.format,
            color: colors.out,
            err_color: colors.err,
            quiet: self.quiet,
            verbose: self.verbose,
            statistics: self.statistics,
            output_file: self.output_file,
            recover: self.recover,
            parse_only: self.parse_only,
            nginx_test,
            step_summary: (self.format == Format::Github)
                .then(|| std::env::var_os("GITHUB_STEP_SUMMARY"))
                .flatten()
                .filter(|v| !v.is_empty())
                .map(std::path::PathBuf::from),
            options: Options {
                keepalive,
                keepalive_for,
                names: self.names.into_iter().collect(),
                websocket_paths: self.websocket,
                new_defaults: self
                    .nginx_version
                    .and_then(|v| v.0)
                    .is_some_and(|v| v >= NEW_DEFAULTS_VERSION),
                grpc_host: match self.nginx_version.and_then(|v| v.0) {
                    None => crate::vocab::GrpcHost::Either,
                    Some(v) if v >= GRPC_AUTHORITY_VERSION => crate::vocab::GrpcHost::Authority,
                    Some(_) => crate::vocab::GrpcHost::HostHeader,
                },
                host_header: match self.host_header {
                    HostHeaderArg::Keep => HostHeaderMode::Keep,
                    HostHeaderArg::Upstream => HostHeaderMode::Upstream,
                },
                skipped,
                tuning,
                resolve: self.resolve,
                resolver: self.resolver,
                // Set per unit (see run.rs): a run's main configs know
                // their context.
                qualified_names: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Args::command().debug_assert();
    }

    /// upkeep.toml's flags come first; typed ones win: the last scalar,
    /// and per upstream for `--keepalive NAME=N`; lists add up.
    #[test]
    fn typed_flags_override_the_settings_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(
            dir.path().join("upkeep.toml"),
            "keepalive = 16\nnginx-version = \"1.22.1\"\nwebsocket = [\"/a\"]\npaths = [\"site.conf\"]\n[upstreams]\ngateway = 64\nother = 4\n",
        )
        .unwrap();
        let parse = |typed: &[&str]| {
            let mut argv: Vec<std::ffi::OsString> = vec!["upkeep".into()];
            argv.extend(typed.iter().map(Into::into));
            Args::parse_with_settings(argv, dir.path())
                .unwrap()
                .into_config(Colors::default())
        };
        let c = parse(&[
            "--keepalive",
            "8",
            "--keepalive",
            "gateway=2",
            "--websocket",
            "/b",
            "--nginx-version",
            "1.29.7",
        ]);
        assert_eq!(c.options.keepalive, 8);
        assert_eq!(c.options.keepalive_for[&UpstreamName::new("gateway")], 2);
        assert_eq!(c.options.keepalive_for[&UpstreamName::new("other")], 4);
        assert_eq!(c.options.websocket_paths, ["/a", "/b"]);
        assert!(c.options.new_defaults);
        assert_eq!(
            c.inputs,
            [dir.path().join("site.conf").display().to_string()]
        );
        // Typed paths replace the file's; --no-config ignores it.
        let c = parse(&["x.conf"]);
        assert_eq!(
            (c.inputs.as_slice(), c.options.keepalive),
            (&["x.conf".to_string()][..], 16)
        );
        let c = parse(&["--no-config"]);
        assert_eq!(
            (c.inputs.as_slice(), c.options.keepalive),
            (&[".".to_string()][..], 32)
        );
        assert!(c.options.keepalive_for.is_empty());
    }

    #[test]
    fn value_parsers() {
        assert!(
            matches!(parse_keepalive("gateway=64"), Ok(KeepaliveArg::Named(n, 64)) if n == "gateway")
        );
        assert!(parse_keepalive("0").is_err());
        assert_eq!(
            parse_name("Stack-Auth:8102=stack_auth_api").unwrap().0,
            BackendKey::tcp("stack-auth", 8102)
        );
        assert!(parse_name("stack-auth=x").is_err());
        assert!(parse_websocket("ws").is_err());
        assert_eq!(parse_version("1.29.7").unwrap().0, Some((1, 29, 7)));
        assert!(parse_version("latest").is_err());
        // A fork's number never switches on what depends on nginx's.
        assert!(parse_version("3.2.0").is_err());
        assert_eq!(parse_version("tengine:3.2.0").unwrap().0, None);
        assert_eq!(parse_version("Angie:1.12.0").unwrap().0, None);
        assert_eq!(parse_version("freenginx:1.29.7").unwrap().0, None);
        assert_eq!(
            parse_version("openresty:1.31.3.1").unwrap().0,
            Some((1, 31, 3))
        );
        assert!(parse_version("caddy:2.0.0").is_err());
    }
}
