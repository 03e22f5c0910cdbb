//! The pipeline's stages one at a time, for the per-stage benchmarks
//! (`benches/stages.rs`) and the test that holds the queries to the
//! model's walk. Not a stable API: it names the crate's own types, which
//! change with the code. Everything else goes through [`crate::process`]
//! and the binary.
#![doc(hidden)]
#![allow(missing_docs)]

pub use crate::check::behaviour::{compare, observe, Allowed, Lens, Observations, ProxyHostValues};
pub use crate::model::{DirId, Model};
pub use crate::output::diff::unified;
pub use crate::output::report::ChangeReport;
pub use crate::plan::plan;
pub use crate::syntax::edit::{apply, normalize, Edit};
pub use crate::syntax::parse::{edited_tree, parse_incremental};
pub use crate::syntax::query::queries;
pub use crate::syntax::splice::{new_offset, region_from, splice, Edge, Region, Spliced};
pub use crate::vocab::GrpcHost;
