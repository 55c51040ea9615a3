//! What a trustless-gateway CAR answer holds, in the order it is sent (IPFS trustless gateway
//! spec: `dag-scope`, `entity-bytes`, `dups`): the blocks crossed on the path first (each
//! directory and the HAMT shards searched in it), then the blocks the scope asks for, depth
//! first. No IO: blocks come from a [`BlockGetter`] one at a time, so an answer of any size is
//! planned in constant memory (plus the set of CIDs already sent when duplicates are left out).
//!
//! Raw leaves are not read by the plan: they have no links, so the plan names them
//! ([`Section::Leaf`]) and the caller reads them, possibly ahead and in parallel.

use super::pb::DataType;
use super::reader::{decode_block, invalid, Decoded};
use super::{hamt, ReadError, Reader};
use crate::content::{is_inline, Block, Cid, RAW};
use crate::store::BlockGetter;
use std::collections::HashSet;
use std::str::FromStr;

/// How much of the DAG at the end of the path an answer holds (`dag-scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DagScope {
    /// The whole DAG (the default).
    #[default]
    All,
    /// The UnixFS entity: all of a file (or the blocks of a byte range), a directory's own
    /// blocks (its HAMT shards, not its entries), any other block alone.
    Entity,
    /// Only the block at the end of the path.
    Block,
}

impl FromStr for DagScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(DagScope::All),
            "entity" => Ok(DagScope::Entity),
            "block" => Ok(DagScope::Block),
            other => Err(format!(
                "dag-scope `{other}` is not one of `all`, `entity`, `block`"
            )),
        }
    }
}

impl DagScope {
    pub fn as_str(self) -> &'static str {
        match self {
            DagScope::All => "all",
            DagScope::Entity => "entity",
            DagScope::Block => "block",
        }
    }
}

/// An `entity-bytes=from:to` range: inclusive offsets, negative ones counted from the end,
/// `to = None` for `*` (the end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityBytes {
    pub from: i64,
    pub to: Option<i64>,
}

impl FromStr for EntityBytes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("entity-bytes `{s}` is not `FROM:TO` (integers, TO may be `*`)");
        let (from, to) = s.split_once(':').ok_or_else(bad)?;
        let from: i64 = from.parse().map_err(|_| bad())?;
        let to = match to {
            "*" => None,
            t => Some(t.parse::<i64>().map_err(|_| bad())?),
        };
        if let Some(to) = to {
            if from >= 0 && to >= 0 && to < from {
                return Err(format!("entity-bytes `{s}` ends before it starts"));
            }
        }
        Ok(EntityBytes { from, to })
    }
}

impl std::fmt::Display for EntityBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to {
            Some(to) => write!(f, "{}:{to}", self.from),
            None => write!(f, "{}:*", self.from),
        }
    }
}

impl EntityBytes {
    /// The absolute inclusive `[first, last]` of this range in an entity of `size` bytes;
    /// `None` when it selects nothing (an empty entity, or an end before the start).
    pub fn resolve(&self, size: u64) -> Result<Option<(u64, u64)>, PlanError> {
        let first = if self.from < 0 {
            size.saturating_sub(self.from.unsigned_abs())
        } else {
            self.from as u64
        };
        if size > 0 && first >= size {
            return Err(PlanError::OutOfRange { range: *self, size });
        }
        if size == 0 {
            return Ok(None);
        }
        let last = match self.to {
            None => size - 1,
            Some(to) if to < 0 => match size.checked_sub(to.unsigned_abs()) {
                Some(last) => last,
                None => return Ok(None),
            },
            Some(to) => (to as u64).min(size - 1),
        };
        Ok((last >= first).then_some((first, last)))
    }
}

/// One section of the answer.
#[derive(Debug)]
pub enum Section {
    /// A block the plan read (it needed its links).
    Block(Block),
    /// A raw leaf to read and send as it is.
    Leaf(Cid),
}

impl Section {
    pub fn cid(&self) -> &Cid {
        match self {
            Section::Block(b) => b.cid(),
            Section::Leaf(c) => c,
        }
    }
}

/// Why an answer cannot be planned or continued.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("entity-bytes `{range}` starts past the end of the {size}-byte entity")]
    OutOfRange { range: EntityBytes, size: u64 },
    #[error("the answer would hold more than {0} sections with duplicates (dups=y)")]
    TooManySections(u64),
}

impl crate::Hint for PlanError {
    fn hint(&self) -> Option<String> {
        match self {
            PlanError::Read(e) => e.hint(),
            PlanError::OutOfRange { .. } => Some(
                "ask for a range that starts inside the entity, or leave entity-bytes out".into(),
            ),
            PlanError::TooManySections(_) => {
                Some("ask without duplicates (dups=n), or for a smaller dag-scope".into())
            }
        }
    }
}

/// With duplicates sent (`dups=y`) a DAG that links the same block many times can grow an
/// answer without bound; it is cut after this many sections.
pub const MAX_SECTIONS_WITH_DUPS: u64 = 4 << 20;

enum Task {
    /// This block alone.
    One(Cid),
    /// The whole DAG under this block.
    All(Cid),
    /// The blocks of the file under this node that hold its bytes `[first, last]`.
    Range { cid: Cid, first: u64, last: u64 },
    /// A HAMT directory's shards (not its entries).
    Shards(Cid),
}

/// The sections of one CAR answer, produced one at a time by [`CarPlan::next_section`].
pub struct CarPlan<G> {
    reader: Reader<G>,
    terminal: Cid,
    dups: bool,
    seen: HashSet<Cid>,
    sections: u64,
    stack: Vec<Task>,
}

impl<G: BlockGetter> CarPlan<G> {
    /// Plans the answer for `root/path` with `scope` (`range` implies the entity scope): the
    /// path is resolved and the range checked now, so a missing root, an unknown path or a
    /// range past the end fails before anything is sent.
    pub fn new(
        getter: G,
        root: &Cid,
        path: &str,
        scope: DagScope,
        range: Option<EntityBytes>,
        dups: bool,
    ) -> Result<Self, PlanError> {
        let reader = Reader::new(getter);
        reader.block(root)?;
        let (terminal, crossed) = reader.resolve_traced(root, path)?;
        let scope = if range.is_some() {
            DagScope::Entity
        } else {
            scope
        };
        let last = match scope {
            DagScope::Block => Task::One(terminal),
            DagScope::All => {
                reader.block(&terminal)?;
                Task::All(terminal)
            }
            DagScope::Entity => entity_task(&reader, &terminal, range)?,
        };
        let mut stack = vec![last];
        stack.extend(crossed.into_iter().rev().map(Task::One));
        Ok(CarPlan {
            reader,
            terminal,
            dups,
            seen: HashSet::new(),
            sections: 0,
            stack,
        })
    }

    /// The CID at the end of the path.
    pub fn terminal(&self) -> &Cid {
        &self.terminal
    }

    /// The next section, `None` at the end. Identity CIDs are never sections (their bytes are
    /// the CID). A block missing from the getter is [`ReadError::MissingBlock`].
    pub fn next_section(&mut self) -> Result<Option<Section>, PlanError> {
        while let Some(task) = self.stack.pop() {
            let cid = match &task {
                Task::One(c) | Task::All(c) | Task::Shards(c) => *c,
                Task::Range { cid, .. } => *cid,
            };
            if is_inline(&cid) || !self.first_time(&cid)? {
                continue;
            }
            if cid.codec() == RAW {
                return Ok(Some(Section::Leaf(cid)));
            }
            let block = self.reader.block(&cid)?;
            match task {
                Task::One(_) => {}
                Task::All(_) => {
                    let links = crate::dag::links(&cid, block.data())
                        .map_err(|e| invalid(&cid, e.to_string()))?;
                    self.stack.extend(links.into_iter().rev().map(Task::All));
                }
                Task::Range { first, last, .. } => self.plan_range(&block, first, last)?,
                Task::Shards(_) => self.plan_shards(&block)?,
            }
            return Ok(Some(Section::Block(block)));
        }
        Ok(None)
    }

    /// Whether `cid` is to be sent now (always with duplicates, else the first time only).
    fn first_time(&mut self, cid: &Cid) -> Result<bool, PlanError> {
        if self.dups {
            self.sections += 1;
            if self.sections > MAX_SECTIONS_WITH_DUPS {
                return Err(PlanError::TooManySections(MAX_SECTIONS_WITH_DUPS));
            }
            return Ok(true);
        }
        Ok(self.seen.insert(*cid))
    }

    /// Pushes the children of the file node `block` that hold its bytes `[first, last]`.
    fn plan_range(&mut self, block: &Block, first: u64, last: u64) -> Result<(), PlanError> {
        let cid = *block.cid();
        let Decoded::Pb { node, data } = decode_block(&cid, block.clone())? else {
            return Ok(());
        };
        if !matches!(data.kind, DataType::File | DataType::Raw) {
            return Ok(());
        }
        super::reader::declared_file_size(&cid, &node, &data)?;
        let mut offset = data.data.as_ref().map_or(0, |d| d.len() as u64);
        let mut children = Vec::new();
        for (link, size) in node.links.iter().zip(&data.blocksizes) {
            if offset > last {
                break;
            }
            let end = offset + size;
            if *size > 0 && end > first {
                children.push(Task::Range {
                    cid: link.hash,
                    first: first.max(offset) - offset,
                    last: last.min(end - 1) - offset,
                });
            }
            offset = end;
        }
        self.stack.extend(children.into_iter().rev());
        Ok(())
    }

    /// Pushes the child shards of the HAMT node `block`.
    fn plan_shards(&mut self, block: &Block) -> Result<(), PlanError> {
        let cid = *block.cid();
        let Decoded::Pb { node, data } = decode_block(&cid, block.clone())? else {
            return Ok(());
        };
        if data.kind != DataType::HamtShard {
            return Ok(());
        }
        let fanout = data
            .fanout
            .ok_or_else(|| invalid(&cid, "HAMT node without fanout".into()))?;
        hamt::check_fanout(fanout).map_err(|e| invalid(&cid, e))?;
        let pad = hamt::prefix_len(fanout);
        let shards: Vec<Cid> = node
            .links
            .iter()
            .filter(|l| l.name.as_deref().is_some_and(|n| n.len() == pad))
            .map(|l| l.hash)
            .collect();
        self.stack
            .extend(shards.into_iter().rev().map(Task::Shards));
        Ok(())
    }
}

/// The task for the entity scope at `cid`, checking `range` against the entity's size.
fn entity_task<G: BlockGetter>(
    reader: &Reader<G>,
    cid: &Cid,
    range: Option<EntityBytes>,
) -> Result<Task, PlanError> {
    let block = reader.block(cid)?;
    let file_size = match decode_block(cid, block)? {
        Decoded::Raw(block) => Some(block.data().len() as u64),
        Decoded::Pb { node, data } => match data.kind {
            DataType::File | DataType::Raw => {
                Some(super::reader::declared_file_size(cid, &node, &data)?)
            }
            DataType::HamtShard => return Ok(Task::Shards(*cid)),
            _ => None,
        },
        Decoded::Other(_) => None,
    };
    let Some(size) = file_size else {
        return Ok(Task::One(*cid));
    };
    match range {
        None if cid.codec() == RAW => Ok(Task::One(*cid)),
        None => Ok(Task::All(*cid)),
        Some(range) => match range.resolve(size)? {
            Some((first, last)) => Ok(Task::Range {
                cid: *cid,
                first,
                last,
            }),
            None => Ok(Task::One(*cid)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{BlockPutter, MemoryStore};
    use crate::unixfs::{import_bytes, DagRoot, DirBuilder, ImportParams};

    fn put_all(store: &MemoryStore, blocks: Vec<Block>) {
        for b in blocks {
            store.put_block(&b).unwrap();
        }
    }

    fn store_bytes(store: &MemoryStore, bytes: &[u8]) -> DagRoot {
        let (root, blocks) = import_bytes(&small_chunks(), bytes);
        put_all(store, blocks);
        root
    }

    fn store_file(store: &MemoryStore, len: usize) -> Cid {
        store_bytes(store, &crate::test_blocks::pseudo_random(7, len)).cid
    }

    /// CIDv1, raw leaves of 1 KiB, 4 links per node: small files make deep DAGs.
    fn small_chunks() -> ImportParams {
        ImportParams {
            cid_version: cid::Version::V1,
            raw_leaves: true,
            chunker: crate::unixfs::Chunker::Size(1024),
            max_links: 4,
            ..ImportParams::default()
        }
    }

    fn sections<G: BlockGetter>(mut plan: CarPlan<G>) -> Vec<Cid> {
        let mut out = Vec::new();
        while let Some(s) = plan.next_section().unwrap() {
            out.push(*s.cid());
        }
        out
    }

    #[test]
    fn entity_bytes_parse_and_resolve() {
        let r: EntityBytes = "0:*".parse().unwrap();
        assert_eq!(r.resolve(10).unwrap(), Some((0, 9)));
        let r: EntityBytes = "-3:*".parse().unwrap();
        assert_eq!(r.resolve(10).unwrap(), Some((7, 9)));
        let r: EntityBytes = "2:-2".parse().unwrap();
        assert_eq!(r.resolve(10).unwrap(), Some((2, 8)));
        let r: EntityBytes = "2:100".parse().unwrap();
        assert_eq!(r.resolve(10).unwrap(), Some((2, 9)));
        assert!(matches!(
            "10:*".parse::<EntityBytes>().unwrap().resolve(10),
            Err(PlanError::OutOfRange { .. })
        ));
        assert_eq!(
            "0:*".parse::<EntityBytes>().unwrap().resolve(0).unwrap(),
            None
        );
        assert!("5:2".parse::<EntityBytes>().is_err());
        assert!("a:b".parse::<EntityBytes>().is_err());
        assert!("5".parse::<EntityBytes>().is_err());
    }

    #[test]
    fn all_is_depth_first_and_dups_are_left_out_unless_asked() {
        let store = MemoryStore::new();
        let root = store_file(&store, 20 * 1024);
        let all = sections(CarPlan::new(&store, &root, "", DagScope::All, None, false).unwrap());
        assert_eq!(all[0], root);
        // Every block of the DAG once, in the order a depth-first export writes them.
        let mut car = Vec::new();
        crate::car::export_dag(&store, &root, &mut car).unwrap();
        let mut reader = crate::car::CarReader::new(&car[..]).unwrap();
        let mut exported = Vec::new();
        while let Some((cid, _)) = reader.next_section().unwrap() {
            exported.push(cid);
        }
        assert_eq!(all, exported);
        // A file of identical chunks links the same leaf many times.
        let dag = store_bytes(&store, &[0u8; 8 * 1024]);
        let once =
            sections(CarPlan::new(&store, &dag.cid, "", DagScope::All, None, false).unwrap());
        let dups = sections(CarPlan::new(&store, &dag.cid, "", DagScope::All, None, true).unwrap());
        assert!(dups.len() > once.len(), "{} vs {}", dups.len(), once.len());
        assert_eq!(once.iter().collect::<HashSet<_>>().len(), once.len());
    }

    #[test]
    fn ranges_select_only_the_blocks_that_hold_the_bytes() {
        let store = MemoryStore::new();
        let root = store_file(&store, 20 * 1024);
        let plan = |r: &str| {
            sections(
                CarPlan::new(
                    &store,
                    &root,
                    "",
                    DagScope::Entity,
                    Some(r.parse().unwrap()),
                    false,
                )
                .unwrap(),
            )
        };
        let all = sections(CarPlan::new(&store, &root, "", DagScope::All, None, false).unwrap());
        let leaves = |cids: &[Cid]| cids.iter().filter(|c| c.codec() == RAW).count();
        assert_eq!(plan("0:*"), all);
        assert_eq!(leaves(&plan("0:0")), 1);
        assert_eq!(leaves(&plan("1023:1024")), 2);
        assert_eq!(leaves(&plan("-1:*")), 1);
        assert_eq!(leaves(&plan("2048:4095")), 2);
        // The bytes the selected leaves hold cover the range: reading through a store holding
        // only the planned blocks gives the same bytes as the whole file.
        let only = MemoryStore::new();
        for cid in plan("5000:9000") {
            only.put_block(&store.get_block(&cid).unwrap().unwrap())
                .unwrap();
        }
        let mut want = Vec::new();
        Reader::new(&store)
            .read_file(&root, 5000, Some(4001), &mut want)
            .unwrap();
        let mut got = Vec::new();
        Reader::new(&only)
            .read_file(&root, 5000, Some(4001), &mut got)
            .unwrap();
        assert_eq!(got, want);
        assert!(matches!(
            CarPlan::new(
                &store,
                &root,
                "",
                DagScope::Entity,
                Some("999999:*".parse().unwrap()),
                false
            ),
            Err(PlanError::OutOfRange { .. })
        ));
    }

    #[test]
    fn paths_send_the_blocks_crossed_then_the_scope() {
        let store = MemoryStore::new();
        let file = store_bytes(&store, &crate::test_blocks::pseudo_random(7, 3000));
        let mut inner = DirBuilder::new(small_chunks());
        inner.add("data.bin", file.clone()).unwrap();
        let inner = inner.finish(&mut |b: Block| {
            store.put_block(&b).unwrap();
        });
        let mut outer = DirBuilder::new(small_chunks());
        outer.add("sub", inner.clone()).unwrap();
        let outer = outer.finish(&mut |b: Block| {
            store.put_block(&b).unwrap();
        });
        let block = sections(
            CarPlan::new(
                &store,
                &outer.cid,
                "sub/data.bin",
                DagScope::Block,
                None,
                false,
            )
            .unwrap(),
        );
        assert_eq!(block, vec![outer.cid, inner.cid, file.cid]);
        let entity = sections(
            CarPlan::new(&store, &outer.cid, "sub", DagScope::Entity, None, false).unwrap(),
        );
        assert_eq!(entity, vec![outer.cid, inner.cid]);
        let missing = CarPlan::new(&store, &outer.cid, "sub/nope", DagScope::All, None, false);
        assert!(matches!(
            missing,
            Err(PlanError::Read(ReadError::NotFound { .. }))
        ));
        let absent =
            Cid::try_from("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy").unwrap();
        assert!(matches!(
            CarPlan::new(&store, &absent, "", DagScope::All, None, false),
            Err(PlanError::Read(ReadError::MissingBlock(_)))
        ));
    }
}
