//! The registry of rules: [`registry!`] turns the one table of rules (in
//! `rules/mod.rs`, where the rule files are modules) into everything
//! that names them. A row is a rule file: the module, the type that
//! implements [`Rule`], and the ids of the changes it makes, each with its
//! place in reports (`rank`: summaries, statistics, SARIF and the JSON
//! schema list ids in that order), the protocols it serves (`on`: the
//! [`Protocol`](crate::vocab::Protocol)s whose `*_pass` sites it changes
//! something for; `upkeep rule` lists them) and how the summary line
//! counts it.
//! Rows are in the order the rules run within a phase: the WebSocket mode
//! is decided before `Connection` follows it, maps before the upstream
//! blocks that carry new ones, upstream blocks before their pool settings.
//!
//! Everything else that names rules comes from here: [`RuleId`],
//! [`RuleId::ALL`], [`RuleId::as_str`], [`RuleId::counted`],
//! [`RuleId::protocols`], [`RULES`], the rule files' text for
//! [`super::doc`], SARIF's rule list and help, `upkeep rule`.
//! `schemas/report.schema.json` lists the ids for JSON readers; a test
//! holds it to [`RuleId::ALL`]. Adding a rule: its file, one row here, a
//! fixture.

/// Declares the rule modules and generates [`RuleId`] and [`RULES`] from
/// the table (see the module doc).
macro_rules! registry {
    ($(
        $module:ident :: $rule:ident => {
            $( $variant:ident = $id:literal, rank $rank:literal, on [$( $protocol:ident ),+], counted ($one:literal, $many:literal); )+
        }
    )+) => {
        $( pub mod $module; )+

        /// A rule's stable id, as reports and `# upkeep:ignore` reasons
        /// name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum RuleId {
            $( $( #[doc = concat!("`", $id, "`")] $variant, )+ )+
        }

        /// Every id with its rank, in row order.
        pub(crate) const RANKED: &[(usize, RuleId)] = &[ $( $( ($rank, RuleId::$variant), )+ )+ ];

        /// How many ids there are.
        const COUNT: usize = RANKED.len();

        impl RuleId {
            /// Every id, in the order reports list them (by rank): what
            /// pools first, then what keeps behaviour the same.
            pub const ALL: [RuleId; COUNT] = {
                let mut all = [RANKED[0].1; COUNT];
                let mut i = 0;
                while i < COUNT {
                    all[RANKED[i].0] = RANKED[i].1;
                    i += 1;
                }
                all
            };

            /// The id's place in reports.
            pub fn rank(self) -> usize {
                match self { $( $( RuleId::$variant => $rank, )+ )+ }
            }

            /// The id as reports and the command line spell it.
            pub fn as_str(self) -> &'static str {
                match self { $( $( RuleId::$variant => $id, )+ )+ }
            }

            /// The protocols whose `*_pass` sites this id changes something
            /// for (`upkeep rule` lists them; `--only`/`--skip` name them).
            pub fn protocols(self) -> &'static [$crate::vocab::Protocol] {
                match self { $( $( RuleId::$variant => &[$( $crate::vocab::Protocol::$protocol ),+], )+ )+ }
            }

            /// `n` changes of this rule, as the summary line says it.
            pub fn counted(self, n: usize) -> String {
                let (one, many) = match self { $( $( RuleId::$variant => ($one, $many), )+ )+ };
                format!("{n} {}", if n == 1 { one } else { many })
            }

            /// One change of this rule, in the summary line's words
            /// (`upstream added`): `upkeep rule`'s line for it.
            pub fn one_change(self) -> &'static str {
                match self { $( $( RuleId::$variant => $one, )+ )+ }
            }

            /// The text of the rule file that makes this change (its header
            /// is the rule's documentation).
            pub fn source(self) -> &'static str {
                match self {
                    $( $( RuleId::$variant => include_str!(concat!(stringify!($module), ".rs")), )+ )+
                }
            }
        }

        /// Ids sort as reports list them.
        impl Ord for RuleId {
            fn cmp(&self, other: &RuleId) -> std::cmp::Ordering {
                self.rank().cmp(&other.rank())
            }
        }

        impl PartialOrd for RuleId {
            fn partial_cmp(&self, other: &RuleId) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        /// Every rule, in the order they run within a phase.
        pub static RULES: &[&dyn $crate::rules::api::Rule] = &[ $( &$module::$rule, )+ ];

        /// The text of every rule file, in row order.
        #[cfg(test)]
        pub(crate) const SOURCES: &[&str] = &[ $( include_str!(concat!(stringify!($module), ".rs")), )+ ];
    };
}

pub(crate) use registry;
