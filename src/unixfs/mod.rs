//! UnixFS: files and directories as dag-pb DAGs. The importer builds them the way Kubo does; the
//! reader walks them back into files, byte ranges and directory listings. No IO here: blocks come
//! from a [`crate::store::BlockGetter`] and go out through callbacks.

pub mod chunker;
pub mod dir;
pub mod file;
pub mod hamt;
pub mod params;
pub mod pb;
pub mod reader;
pub mod scope;

pub use chunker::{split_bytes, Splitter};
pub use dir::{check_entry_name, symlink_block, DirBuilder, NameError};
pub use file::{import_bytes, leaf_block, leaf_root, make_leaf, DagRoot, FileBuilder, Leaf};
pub use params::{parse_chunker, Chunker, ImportOverrides, ImportParams, Profile};
pub use reader::{DirEntry, NodeKind, ReadError, Reader};
pub use scope::{CarPlan, DagScope, EntityBytes, PlanError, Section};
