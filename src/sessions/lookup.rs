//! Point lookups without loading the whole file: a binary search of the sorted region that
//! compaction writes, then a scan of the log after it.

use std::cmp::Ordering;
use std::fs::File;
use std::io;

use super::file::{Header, read_full_at, scan_lines};
use super::record::Record;
use super::state::Link;

/// The link of `session` in an open file, or `None`.
pub(crate) fn find(
    file: &File,
    header: Header,
    len: u64,
    session: &str,
) -> io::Result<Option<Link>> {
    let region_end = header.end + header.sorted_bytes;
    let sorted = header.sorted_bytes > 0 && region_end <= len && {
        let mut last = [0u8; 1];
        read_full_at(file, &mut last, region_end - 1)? == 1 && last[0] == b'\n'
    };
    let (mut found, tail) = if sorted {
        (search(file, header.end, region_end, session)?, region_end)
    } else {
        (None, header.end)
    };
    let needle = session.as_bytes();
    scan_lines(file, tail, None, |line, _| {
        // A line without backslashes holds its strings verbatim: skip it unless the id is in it.
        if memchr::memmem::find(line, needle).is_none() && memchr::memchr(b'\\', line).is_none() {
            return;
        }
        match Record::parse(line) {
            Some(Record::Link {
                session: s,
                persona,
                revision,
                at,
            }) if s == session => {
                found = Some(Link::from_record(&persona, revision.as_deref(), at))
            }
            Some(Record::Unlink { session: s, .. }) if s == session => found = None,
            _ => {}
        }
    })?;
    Ok(found)
}

/// Binary search of the sorted, newline-separated records in `lo..hi`.
fn search(file: &File, mut lo: u64, mut hi: u64, session: &str) -> io::Result<Option<Link>> {
    const PROBE: usize = 8192;
    let mut buf = vec![0u8; PROBE];
    while hi - lo > PROBE as u64 {
        let mid = lo + (hi - lo) / 2;
        let n = read_full_at(file, &mut buf, mid)?;
        let data = &buf[..n];
        // The first line that starts after `mid`, and its end.
        let Some(nl) = memchr::memchr(b'\n', data) else {
            break;
        };
        let start = mid + nl as u64 + 1;
        let Some(len) = memchr::memchr(b'\n', &data[nl + 1..]) else {
            break;
        };
        if start >= hi {
            break;
        }
        let line = &data[nl + 1..nl + 1 + len];
        let Some(record) = Record::parse(line) else {
            break;
        };
        match record.session().as_bytes().cmp(session.as_bytes()) {
            Ordering::Less => lo = start + len as u64 + 1,
            Ordering::Greater => hi = start,
            Ordering::Equal => return Ok(link_of(record)),
        }
    }
    let mut found = None;
    scan_lines(file, lo, Some(hi), |line, _| {
        if let Some(record) = Record::parse(line)
            && record.session() == session
        {
            found = link_of(record);
        }
    })?;
    Ok(found)
}

fn link_of(record: Record<'_>) -> Option<Link> {
    match record {
        Record::Link {
            persona,
            revision,
            at,
            ..
        } => Some(Link::from_record(&persona, revision.as_deref(), at)),
        Record::Unlink { .. } => None,
    }
}
