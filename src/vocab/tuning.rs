//! Pool tuning: the `keepalive_timeout`, `keepalive_requests` and
//! `keepalive_time` values upkeep writes into `upstream` blocks, checked the
//! way nginx checks them.
//!
//! Values are read exactly as nginx reads them: times with
//! [`parse_msec`], a port of `ngx_parse_time(line, 0)`
//! (src/core/ngx_parse_time.c, what `ngx_conf_set_msec_slot` calls), and
//! counts with [`parse_count`], a port of `ngx_atoi`
//! (what `ngx_conf_set_num_slot` calls). So a value upkeep accepts is one
//! nginx accepts, and the other way round. Zero is refused although nginx
//! takes it: every one of these turns pooling off at 0, which is never what
//! a pooling tool is asked for.
//!
//! `--backend-idle-timeout` is the backend's own idle timeout (Node.js and
//! uvicorn close an idle connection after 5 s, gunicorn after 2 s). A
//! pooled connection the backend closes while nginx sends a request on it
//! fails that request ("upstream prematurely closed connection"; nginx
//! tries an idempotent request again, a POST gets a 502), so upkeep makes
//! nginx give idle connections up first: `keepalive_timeout` one second
//! less than the backend's, but never less than half of it
//! ([`timeout_below`]).

use std::fmt;

/// The nginx release whose `upstream` blocks take `keepalive_timeout` and
/// `keepalive_requests` (changes.xml, 1.15.3: "the keepalive_timeout and
/// keepalive_requests directives in the upstream block").
pub const TIMEOUT_AND_REQUESTS_SINCE: (u32, u32, u32) = (1, 15, 3);

/// The nginx release that added `keepalive_time` (changes.xml, 1.19.10;
/// the same commit added it to the upstream keepalive module).
pub const TIME_SINCE: (u32, u32, u32) = (1, 19, 10);

/// nginx's `keepalive_timeout` in an upstream block when none is set
/// (`ngx_http_upstream_keepalive_module.c`: 60000 ms).
pub const DEFAULT_TIMEOUT_MS: i64 = 60_000;

/// What the margin below a backend's idle timeout is: one second...
const MARGIN_MS: i64 = 1000;

/// `NGX_MAX_INT_T_VALUE` on the 64-bit platforms nginx runs on.
const MAX: i64 = i64::MAX;

/// A time as the user wrote it (nginx syntax) and what nginx makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Time {
    pub text: String,
    pub ms: i64,
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Time {
    /// A computed time, written the way an operator would: whole seconds
    /// as `4s`, anything else in milliseconds.
    pub fn from_ms(ms: i64) -> Time {
        let text = if ms % 1000 == 0 {
            format!("{}s", ms / 1000)
        } else {
            format!("{ms}ms")
        };
        Time { text, ms }
    }
}

/// A count as the user wrote it and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    pub text: String,
    pub value: i64,
}

/// The pool settings the user asked for, validated one by one (the
/// combination is checked by [`Tuning::check`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tuning {
    /// `keepalive_timeout` for pools (`--keepalive-timeout`).
    pub keepalive_timeout: Option<Time>,
    /// `keepalive_requests` for pools (`--keepalive-requests`).
    pub keepalive_requests: Option<Count>,
    /// `keepalive_time` for pools (`--keepalive-time`).
    pub keepalive_time: Option<Time>,
    /// The backends' idle timeout: `keepalive_timeout` goes below it.
    pub backend_idle_timeout: Option<Time>,
    /// Also write the settings into existing `upstream` blocks that pool.
    pub tune_existing: bool,
}

/// One directive to write, with its value for comparing with what a
/// block already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: &'static str,
    /// The value as one nginx word.
    pub word: String,
    /// Milliseconds for times, the number for counts.
    pub value: i64,
    /// Why this value (for reports): what asked for it.
    pub why: String,
}

impl Directive {
    /// `name word;`
    pub fn line(&self) -> String {
        format!("{} {};", self.name, self.word)
    }

    /// `name word (why)`, for reports.
    pub fn described(&self) -> String {
        format!("{} {} ({})", self.name, self.word, self.why)
    }
}

impl Tuning {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.keepalive_timeout.is_none()
            && self.keepalive_requests.is_none()
            && self.keepalive_time.is_none()
            && self.backend_idle_timeout.is_none()
    }

    /// The `keepalive_timeout` to write: the one given, or the one below
    /// the backends' idle timeout.
    pub fn timeout(&self) -> Option<Time> {
        self.keepalive_timeout.clone().or_else(|| {
            self.backend_idle_timeout
                .as_ref()
                .map(|idle| Time::from_ms(timeout_below(idle.ms)))
        })
    }

    /// The directives for a pool, in the order they are written (after
    /// `keepalive N;`).
    pub fn directives(&self) -> Vec<Directive> {
        let mut out = Vec::new();
        if let Some(t) = self.timeout() {
            let why = match (&self.keepalive_timeout, &self.backend_idle_timeout) {
                (None, Some(idle)) => format!(
                    "below the backends' idle timeout of {idle}, so that nginx gives an idle connection up before the backend closes it"
                ),
                _ => "--keepalive-timeout".to_string(),
            };
            out.push(Directive {
                name: "keepalive_timeout",
                word: crate::syntax::word::word(&t.text),
                value: t.ms,
                why,
            });
        }
        if let Some(n) = &self.keepalive_requests {
            out.push(Directive {
                name: "keepalive_requests",
                word: crate::syntax::word::word(&n.text),
                value: n.value,
                why: "--keepalive-requests".into(),
            });
        }
        if let Some(t) = &self.keepalive_time {
            out.push(Directive {
                name: "keepalive_time",
                word: crate::syntax::word::word(&t.text),
                value: t.ms,
                why: "--keepalive-time".into(),
            });
        }
        out
    }

    /// The lines a new pool gets after `keepalive N;`.
    pub fn lines(&self) -> Vec<String> {
        self.directives().iter().map(Directive::line).collect()
    }

    /// The combination, and the nginx release the config runs on (`None`:
    /// any). The error says what to change.
    pub fn check(&self, nginx: Option<(u32, u32, u32)>) -> Result<(), String> {
        if let Some(idle) = &self.backend_idle_timeout {
            // 1ms would give `keepalive_timeout 0s`: nginx closes every idle
            // connection at once, and nothing is pooled.
            if self.keepalive_timeout.is_none() && timeout_below(idle.ms) < 1 {
                return Err(format!(
                    "--backend-idle-timeout {idle} leaves no time to keep a connection: the keepalive_timeout below it would be 0, which turns pooling off; a backend that closes idle connections this fast cannot be pooled (give its real idle timeout, 2ms at least)"
                ));
            }
        }
        if let (Some(t), Some(idle)) = (&self.keepalive_timeout, &self.backend_idle_timeout) {
            if t.ms >= idle.ms {
                return Err(format!(
                    "--keepalive-timeout {t} is not below --backend-idle-timeout {idle}: a pooled connection that the backend closes first makes a request sent on it fail (\"upstream prematurely closed connection\"); give a shorter --keepalive-timeout, or leave it out and upkeep writes {}",
                    Time::from_ms(timeout_below(idle.ms))
                ));
            }
        }
        let Some(version) = nginx else {
            return Ok(());
        };
        let shown = |(a, b, c): (u32, u32, u32)| format!("{a}.{b}.{c}");
        let mut needs: Vec<(&str, &str, (u32, u32, u32))> = Vec::new();
        if self.keepalive_timeout.is_some() {
            needs.push((
                "--keepalive-timeout",
                "keepalive_timeout",
                TIMEOUT_AND_REQUESTS_SINCE,
            ));
        } else if self.backend_idle_timeout.is_some() {
            needs.push((
                "--backend-idle-timeout",
                "keepalive_timeout",
                TIMEOUT_AND_REQUESTS_SINCE,
            ));
        }
        if self.keepalive_requests.is_some() {
            needs.push((
                "--keepalive-requests",
                "keepalive_requests",
                TIMEOUT_AND_REQUESTS_SINCE,
            ));
        }
        if self.keepalive_time.is_some() {
            needs.push(("--keepalive-time", "keepalive_time", TIME_SINCE));
        }
        for (flag, directive, since) in needs {
            if version < since {
                return Err(format!(
                    "{flag} writes `{directive}` into upstream blocks, which nginx accepts there from {} on; --nginx-version is {} (upgrade nginx, or leave {flag} out)",
                    shown(since),
                    shown(version)
                ));
            }
        }
        Ok(())
    }
}

/// The `keepalive_timeout` for backends that close idle connections after
/// `idle_ms`: one second less, but at least half of it (so that a short
/// idle timeout, 1 s say, still leaves a pool: 500 ms).
pub fn timeout_below(idle_ms: i64) -> i64 {
    (idle_ms - MARGIN_MS).max(idle_ms / 2)
}

/// What `ngx_parse_time(line, 0)` returns for `text`: milliseconds, or
/// `None` where nginx says "invalid value". Units, largest first and each
/// at most once: `w`, `d`, `h`, `m`, `s`, `ms` (`y` and `M` are for
/// seconds-only values and refused here, as nginx refuses them); a number
/// without a unit is seconds; spaces may separate the parts.
pub fn parse_msec(text: &str) -> Option<i64> {
    parse_time(text, false)
}

/// What `ngx_parse_time(line, 1)` returns for `text`: seconds (years and
/// months allowed, milliseconds not), or `None`.
pub fn parse_sec(text: &str) -> Option<i64> {
    parse_time(text, true)
}

/// `ngx_parse_time`: milliseconds, or with `is_sec` seconds.
fn parse_time(text: &str, is_sec: bool) -> Option<i64> {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Step {
        Start,
        Year,
        Month,
        Week,
        Day,
        Hour,
        Min,
        Sec,
        Msec,
        Last,
    }
    let bytes = text.as_bytes();
    let (cutoff, cutlim) = (MAX / 10, MAX % 10);
    let mut valid = false;
    let mut value: i64 = 0;
    let mut total: i64 = 0;
    // Milliseconds: years and months are not allowed.
    let mut step = if is_sec { Step::Start } else { Step::Month };
    let mut p = 0;
    while p < bytes.len() {
        let c = bytes[p];
        if c.is_ascii_digit() {
            let digit = i64::from(c - b'0');
            if value >= cutoff && (value > cutoff || digit > cutlim) {
                return None;
            }
            value = value * 10 + digit;
            valid = true;
            p += 1;
            continue;
        }
        p += 1;
        let (next, mut max, mut scale): (Step, i64, i64) = match c {
            b'y' if step <= Step::Start => (Step::Year, MAX / 31_536_000, 31_536_000),
            b'M' if step < Step::Month => (Step::Month, MAX / 2_592_000, 2_592_000),
            b'w' if step < Step::Week => (Step::Week, MAX / 604_800, 604_800),
            b'd' if step < Step::Day => (Step::Day, MAX / 86_400, 86_400),
            b'h' if step < Step::Hour => (Step::Hour, MAX / 3600, 3600),
            b'm' if bytes.get(p) == Some(&b's') => {
                if is_sec || step >= Step::Msec {
                    return None;
                }
                p += 1;
                (Step::Msec, MAX, 1)
            }
            b'm' if step < Step::Min => (Step::Min, MAX / 60, 60),
            b's' if step < Step::Sec => (Step::Sec, MAX, 1),
            b' ' if step < Step::Sec => (Step::Last, MAX, 1),
            _ => return None,
        };
        step = next;
        if step != Step::Msec && !is_sec {
            scale *= 1000;
            max /= 1000;
        }
        if value > max {
            return None;
        }
        value *= scale;
        if total > MAX - value {
            return None;
        }
        total += value;
        value = 0;
        while bytes.get(p) == Some(&b' ') {
            p += 1;
        }
    }
    if !valid {
        return None;
    }
    if !is_sec {
        if value > MAX / 1000 {
            return None;
        }
        value *= 1000;
    }
    if total > MAX - value {
        return None;
    }
    Some(total + value)
}

/// What `ngx_atoi` returns for `text`: digits only, at least one, within
/// nginx's integer range.
pub fn parse_count(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A time flag's value: nginx's syntax, not zero.
pub fn parse_time_flag(text: &str) -> Result<Time, String> {
    match parse_msec(text) {
        Some(0) => Err(format!(
            "`{text}` is zero: nginx would close every idle connection at once, so nothing would be pooled"
        )),
        Some(ms) => Ok(Time {
            text: text.to_string(),
            ms,
        }),
        None => Err(format!(
            "`{text}` is not an nginx time: a number with units from largest to smallest, each once (w, d, h, m, s, ms), e.g. 4s, 500ms or 1m30s; a number alone is seconds"
        )),
    }
}

/// A count flag's value: nginx's syntax, not zero.
pub fn parse_count_flag(text: &str) -> Result<Count, String> {
    match parse_count(text) {
        Some(0) => Err(format!(
            "`{text}` is zero: nginx would close every connection after its first request, so nothing would be pooled"
        )),
        Some(value) => Ok(Count {
            text: text.to_string(),
            value,
        }),
        None => Err(format!(
            "`{text}` is not a number nginx accepts: use digits only, e.g. 1000"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases read off `ngx_parse_time`'s state machine, one per branch.
    #[test]
    fn times_as_nginx_parses_them() {
        let ok = [
            ("4s", 4000),
            ("4", 4000),
            ("500ms", 500),
            ("1m30s", 90_000),
            ("1m 30s", 90_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1h30m15s250ms", 5_415_250),
            ("1m30", 90_000),
            ("0", 0),
            // A space after a number ends that part as seconds.
            ("5 3", 8000),
            // A unit without digits adds nothing, once some digit was seen.
            ("1hs", 3_600_000),
        ];
        for (text, ms) in ok {
            assert_eq!(parse_msec(text), Some(ms), "{text}");
        }
        let bad = [
            "", "s", "ms", "5x", "1y", "1M", "30s1m", "1s1s", "1ms1s", "5 s", "-5s", "1.5s", " 5s",
            "4S",
        ];
        for text in bad {
            assert_eq!(parse_msec(text), None, "{text:?}");
        }
        // Overflow is refused, the largest value is not.
        assert_eq!(parse_msec("9223372036854775807ms"), Some(i64::MAX));
        assert_eq!(parse_msec("9223372036854775808ms"), None);
        assert_eq!(
            parse_msec("9223372036854775s"),
            Some(9_223_372_036_854_775_000)
        );
        assert_eq!(parse_msec("9223372036854776s"), None);
        assert_eq!(parse_msec("9223372036854776"), None);
    }

    #[test]
    fn seconds_as_nginx_parses_them() {
        assert_eq!(parse_sec("30s"), Some(30));
        assert_eq!(parse_sec("30"), Some(30));
        assert_eq!(parse_sec("1y2M"), Some(31_536_000 + 5_184_000));
        assert_eq!(parse_sec("1h30m"), Some(5400));
        assert_eq!(parse_sec("500ms"), None);
        assert_eq!(parse_sec("1M1y"), None);
    }

    #[test]
    fn counts_as_nginx_parses_them() {
        assert_eq!(parse_count("1000"), Some(1000));
        assert_eq!(parse_count("0"), Some(0));
        for text in ["", "-1", "+1", "1e3", "10 ", "9223372036854775808"] {
            assert_eq!(parse_count(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_timeout_stays_below_the_backends() {
        assert_eq!(timeout_below(5000), 4000);
        assert_eq!(timeout_below(2000), 1000);
        assert_eq!(timeout_below(1000), 500);
        assert_eq!(timeout_below(1500), 750);
        assert_eq!(timeout_below(75_000), 74_000);
        assert_eq!(Time::from_ms(4000).text, "4s");
        assert_eq!(Time::from_ms(750).text, "750ms");
    }

    #[test]
    fn combinations_and_versions() {
        let t = |s: &str| parse_time_flag(s).unwrap();
        let tuning = Tuning {
            keepalive_timeout: Some(t("5s")),
            backend_idle_timeout: Some(t("5s")),
            ..Tuning::default()
        };
        assert!(tuning.check(None).unwrap_err().contains("upkeep writes 4s"));
        let tuning = Tuning {
            keepalive_time: Some(t("1h")),
            ..Tuning::default()
        };
        assert!(tuning.check(Some((1, 19, 10))).is_ok());
        assert!(tuning
            .check(Some((1, 19, 9)))
            .unwrap_err()
            .contains("from 1.19.10 on"));
        let tuning = Tuning {
            backend_idle_timeout: Some(t("2s")),
            ..Tuning::default()
        };
        assert!(tuning.check(Some((1, 15, 3))).is_ok());
        assert!(tuning
            .check(Some((1, 14, 2)))
            .unwrap_err()
            .starts_with("--backend-idle-timeout writes `keepalive_timeout`"));
        assert_eq!(tuning.lines(), ["keepalive_timeout 1s;"]);
        assert!(parse_time_flag("0s").unwrap_err().contains("zero"));
        assert!(parse_count_flag("0").unwrap_err().contains("zero"));
        // A value with a space is written quoted.
        let tuning = Tuning {
            keepalive_time: Some(t("1h 30m")),
            ..Tuning::default()
        };
        assert_eq!(tuning.lines(), ["keepalive_time \"1h 30m\";"]);
    }
}
