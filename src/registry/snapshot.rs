//! [`Snapshot`]: one immutable, consistent generation of the registry.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use compact_str::CompactString;

use crate::catalog::{Entry, Lookup};
use crate::registry::sharded::Sharded;

/// The personas of one generation of a [`Registry`](crate::Registry): immutable, so a reader
/// that holds one sees a consistent set however many reloads happen meanwhile.
///
/// Snapshots share their entries: a reload that changes one file allocates one new
/// [`Entry`]; every other entry is the same `Arc` as in the generation before.
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) generation: u64,
    pub(crate) dir: Arc<Path>,
    pub(crate) default_id: Arc<str>,
    /// Live personas by id (ids of up to 24 bytes are stored inline: no pointer to follow).
    pub(crate) by_id: Sharded<CompactString, Arc<Entry>>,
    /// The live ids, sorted (shared between generations that add or remove no id).
    pub(crate) order: Arc<[Arc<str>]>,
    /// Former ids (`aliases`) → the live id that lists them.
    pub(crate) aliases: Sharded<Arc<str>, Arc<str>>,
}

/// A fast hash for persona ids (foldhash, fixed seed). Ids come from file names in the
/// team's own repository, not from requests, so the map needs speed more than resistance to
/// chosen collisions; a lookup by a request's id only reads.
pub(crate) type IdHash = foldhash::fast::FixedState;

impl Snapshot {
    pub(crate) fn empty(dir: Arc<Path>, default_id: Arc<str>) -> Self {
        Snapshot {
            generation: 0,
            dir,
            default_id,
            by_id: Sharded::default(),
            order: Arc::from(Vec::new()),
            aliases: Sharded::default(),
        }
    }

    /// The generation: 1 for the initial load, one more for each reload that changed
    /// anything.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The persona with exactly this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).map(|e| &**e)
    }

    /// The persona with exactly this id, as a shared handle that outlives the snapshot.
    #[must_use]
    pub fn get_arc(&self, id: &str) -> Option<Arc<Entry>> {
        self.by_id.get(id).cloned()
    }

    /// The persona that lists `alias` among its former ids. When two personas list the same
    /// alias (an error `validate` reports), the one with the smaller id wins.
    #[must_use]
    pub fn by_alias(&self, alias: &str) -> Option<&Entry> {
        self.aliases.get(alias).and_then(|id| self.get(id))
    }

    /// The persona with this id, or else the one that lists `id` among its aliases.
    #[must_use]
    pub fn find(&self, id: &str) -> Option<&Entry> {
        self.get(id).or_else(|| self.by_alias(id))
    }

    /// The persona with this id or alias, or else the default persona: what a chat service
    /// uses for a request.
    #[must_use]
    pub fn find_or_default(&self, id: &str) -> Option<&Entry> {
        self.find(id).or_else(|| self.default_persona())
    }

    /// The default persona, when it is live.
    #[must_use]
    pub fn default_persona(&self) -> Option<&Entry> {
        self.get(&self.default_id)
    }

    /// The id of the default persona (whether or not it is live).
    #[must_use]
    pub fn default_id(&self) -> &str {
        &self.default_id
    }

    /// The personas directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many personas are live.
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no persona is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The live personas in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> + '_ {
        // Every id in `order` is a key of `by_id`: both are built together.
        self.order.iter().filter_map(|id| self.get(id))
    }

    /// The live ids, sorted.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.order.iter().map(|id| &**id)
    }

    /// The file each live persona was loaded from, by id.
    #[must_use]
    pub fn paths(&self) -> Vec<(&str, &Path)> {
        self.iter()
            .map(|e| (e.id.as_str(), e.path.as_path()))
            .collect()
    }
}

impl Lookup for Snapshot {
    fn get(&self, id: &str) -> Option<&Entry> {
        Snapshot::get(self, id)
    }

    fn by_alias(&self, alias: &str) -> Option<&Entry> {
        Snapshot::by_alias(self, alias)
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation)
            .field("dir", &self.dir)
            .field("ids", &self.order)
            .finish_non_exhaustive()
    }
}
