//! The live sessions in memory: what replaying the log gives, and [`Link`].

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io;
use std::sync::Arc;

use compact_str::CompactString;
use foldhash::fast::RandomState;

use super::file::{Scan, scan_lines};
use super::record::Record;
use super::time::Timestamp;

/// What a session is linked to: the persona's id, its revision at the time, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The persona's id as it was when the session was linked.
    pub persona: Arc<str>,
    /// The persona's revision (content hash) then, when recorded.
    pub revision: Option<Arc<str>>,
    /// When the link was made.
    pub at: Timestamp,
}

impl Link {
    pub(crate) fn from_record(persona: &str, revision: Option<&str>, at: Timestamp) -> Self {
        Link {
            persona: persona.into(),
            revision: revision.map(Into::into),
            at,
        }
    }
}

/// A record parsed off the apply thread, its persona id and revision already interned: the
/// apply thread only inserts into (or removes from) the table. Short session ids are stored
/// inline, so moving one between threads allocates nothing for typical ids.
enum Parsed {
    Link { session: CompactString, link: Link },
    Unlink { session: CompactString },
}

impl Parsed {
    fn new(record: Record<'_>, interner: &mut Interner) -> Self {
        match record {
            Record::Link {
                session,
                persona,
                revision,
                at,
            } => Parsed::Link {
                session: CompactString::from(&*session),
                link: Link {
                    persona: interner.intern(&persona),
                    revision: revision.map(|r| interner.intern(&r)),
                    at,
                },
            },
            Record::Unlink { session, .. } => Parsed::Unlink {
                session: CompactString::from(&*session),
            },
        }
    }
}

/// Persona ids and revisions shared (`Arc`) between the sessions that name them: a large
/// index names a few personas and at most a few thousand revisions.
#[derive(Debug, Default)]
struct Interner {
    set: HashSet<Arc<str>, RandomState>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.set.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(Arc::clone(&a));
        a
    }
}

/// Sessions by id. Persona ids and revisions are shared (`Arc`), since many sessions name the
/// same few.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub map: HashMap<CompactString, Link, RandomState>,
    interner: Interner,
    /// Lines that could not be read (torn or hand-damaged), skipped.
    pub skipped: usize,
}

impl State {
    /// An empty state with room for about `sessions` sessions.
    pub(crate) fn with_capacity(sessions: usize) -> Self {
        State {
            map: HashMap::with_capacity_and_hasher(sessions, RandomState::default()),
            ..State::default()
        }
    }

    /// Applies one record: a link replaces, an unlink removes.
    pub(crate) fn apply(&mut self, record: Record<'_>) {
        let parsed = Parsed::new(record, &mut self.interner);
        self.apply_owned(parsed);
    }

    fn apply_owned(&mut self, record: Parsed) {
        match record {
            Parsed::Link { session, link } => {
                // One probe: most sessions are new (an old key's copy is simply dropped).
                self.map.insert(session, link);
            }
            Parsed::Unlink { session } => {
                self.map.remove(&session);
            }
        }
    }

    /// [`replay`](Self::replay) in two stages for a whole file: one thread reads and parses
    /// while this one applies (loading a million sessions is about half parsing, half hash
    /// table inserts). Records are applied in file order, so the result is the same.
    pub(crate) fn replay_pipelined(&mut self, file: &File, start: u64) -> io::Result<Scan> {
        const BATCH: usize = 4096;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Parsed>>(8);
        // The parser interns persona ids and revisions too, so that the apply thread (the
        // slower stage: a random insert into a large table per record) does nothing else.
        let mut interner = std::mem::take(&mut self.interner);
        std::thread::scope(|scope| {
            let parser = scope.spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let mut skipped = 0usize;
                let scan = scan_lines(file, start, None, |line, _| match Record::parse(line) {
                    Some(record) => {
                        batch.push(Parsed::new(record, &mut interner));
                        if batch.len() == BATCH {
                            // The receiver only goes away if this thread's caller panicked.
                            let _ =
                                tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
                        }
                    }
                    None => skipped += 1,
                });
                if !batch.is_empty() {
                    let _ = tx.send(batch);
                }
                (scan, skipped, interner)
            });
            for batch in rx {
                for record in batch {
                    self.apply_owned(record);
                }
            }
            match parser.join() {
                Ok((scan, skipped, interner)) => {
                    self.skipped += skipped;
                    self.interner = interner;
                    scan
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Replays the complete lines of `file` from `start`, skipping unreadable ones.
    pub(crate) fn replay(&mut self, file: &File, start: u64) -> io::Result<Scan> {
        scan_lines(file, start, None, |line, _| match Record::parse(line) {
            Some(record) => self.apply(record),
            None => self.skipped += 1,
        })
    }

    /// As [`replay`](Self::replay), then also applies a last line that lacks only its newline
    /// (what the next append would complete): compaction writes what the next append would
    /// have made visible.
    pub(crate) fn replay_all(&mut self, file: &File, start: u64) -> io::Result<()> {
        let scan = self.replay(file, start)?;
        if let Some(record) = Record::parse(&scan.partial) {
            self.apply(record);
        }
        Ok(())
    }
}
