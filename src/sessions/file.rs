//! Low-level file work: positioned reads, line scanning, the header, the write lock, and the
//! atomic replacement used by compaction.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::SessionError;
use super::record::{HeaderLine, VERSION, header_line, parse_header};

/// Identifies a file (not a path): device and inode. A path whose id changed was replaced.
pub(crate) type FileId = (u64, u64);

#[cfg(unix)]
pub(crate) fn file_id(meta: &Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// Without inode numbers, replacement by another process is not detected.
#[cfg(not(unix))]
pub(crate) fn file_id(_meta: &Metadata) -> FileId {
    (0, 0)
}

/// Reads at `offset` without moving any file position.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
}

/// Fills `buf` from `offset` as far as the file goes; returns how many bytes were read.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match read_at(file, &mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The result of scanning lines: where the complete lines end, and the incomplete rest.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The offset just after the last complete (newline-terminated) line.
    pub end: u64,
    /// The bytes after `end` up to the end of the range: a line still being written, or torn.
    pub partial: Vec<u8>,
}

/// Calls `f(line, offset)` for every newline-terminated line in `start..limit` (or to the end
/// of the file), the line without its `\n`. Reads 1 MiB at a time.
pub(crate) fn scan_lines(
    file: &File,
    start: u64,
    limit: Option<u64>,
    mut f: impl FnMut(&[u8], u64),
) -> io::Result<Scan> {
    const CHUNK: usize = 1 << 20;
    let mut buf = vec![0u8; CHUNK];
    let mut filled = 0usize; // bytes in buf
    let mut base = start; // file offset of buf[0]
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0); // one line longer than the buffer
        }
        let want = match limit {
            Some(l) => (buf.len() - filled)
                .min(usize::try_from(l.saturating_sub(base + filled as u64)).unwrap_or(usize::MAX)),
            None => buf.len() - filled,
        };
        let n = if want == 0 {
            0
        } else {
            read_full_at(file, &mut buf[filled..filled + want], base + filled as u64)?
        };
        let data_end = filled + n;
        let mut pos = 0;
        while let Some(i) = memchr::memchr(b'\n', &buf[pos..data_end]) {
            f(&buf[pos..pos + i], base + pos as u64);
            pos += i + 1;
        }
        if n == 0 {
            return Ok(Scan {
                end: base + pos as u64,
                partial: buf[pos..data_end].to_vec(),
            });
        }
        buf.copy_within(pos..data_end, 0);
        base += pos as u64;
        filled = data_end - pos;
    }
}

/// The header of a file and where the records start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The offset just after the header line.
    pub end: u64,
    /// The length of the sorted region after the header (0: none).
    pub sorted_bytes: u64,
}

/// What the start of a file says.
pub(crate) enum Start {
    /// A valid header.
    Header(Header),
    /// Empty, or a header cut short: no records.
    Empty,
}

/// Reads and checks the first line of an open file.
pub(crate) fn read_header(file: &File, path: &Path) -> Result<Start, SessionError> {
    let mut buf = [0u8; 4096];
    let n = read_full_at(file, &mut buf, 0).map_err(SessionError::io(path))?;
    let (line, terminated) = match memchr::memchr(b'\n', &buf[..n]) {
        Some(i) => (&buf[..i], true),
        None if n == buf.len() => {
            return Err(SessionError::NotAnIndex {
                path: path.to_path_buf(),
            });
        }
        None => (&buf[..n], false),
    };
    let end = line.len() as u64 + u64::from(terminated);
    match parse_header(line, terminated) {
        HeaderLine::Header { version, .. } if version > VERSION => {
            Err(SessionError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            })
        }
        HeaderLine::Header { sorted_bytes, .. } => Ok(Start::Header(Header { end, sorted_bytes })),
        HeaderLine::Torn => Ok(Start::Empty),
        HeaderLine::Foreign => Err(SessionError::NotAnIndex {
            path: path.to_path_buf(),
        }),
    }
}

/// Makes a rename or a new file durable by syncing its folder.
pub(crate) fn sync_dir(path: &Path) -> Result<(), SessionError> {
    let dir = parent_dir(path);
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(SessionError::io(dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An open, append-only handle on the file at a path, kept between writes.
#[derive(Debug)]
pub(crate) struct Writer {
    pub file: File,
    id: FileId,
    header: Option<Header>,
}

/// A write lock on the current file at a path, its header checked, ready to append.
pub(crate) struct Locked<'a> {
    pub writer: &'a mut Writer,
    pub path: &'a Path,
    /// The file's length when locked.
    pub len: u64,
    /// The file's header.
    pub header: Header,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Closing the file would release the lock too; an unlock error leaves it to that.
        let _ = self.writer.file.unlock();
    }
}

impl Locked<'_> {
    /// Appends `record`, first ending a torn last line so that the record starts a line.
    pub(crate) fn append(&mut self, record: &[u8]) -> Result<(), SessionError> {
        let mut last = [0u8; 1];
        let needs_newline = self.len > 0
            && read_full_at(&self.writer.file, &mut last, self.len - 1)
                .map_err(SessionError::io(self.path))?
                == 1
            && last[0] != b'\n';
        let mut buf = Vec::with_capacity(record.len() + 1);
        if needs_newline {
            buf.push(b'\n');
        }
        buf.extend_from_slice(record);
        if let Err(e) = (&self.writer.file).write_all(&buf) {
            // A full disk (or another write error) part-way: cut back to the length before,
            // so that no torn record is left. If even that fails, the torn tail is skipped on
            // load and ended by the next append.
            let _ = self.writer.file.set_len(self.len);
            return Err(SessionError::io(self.path)(e));
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Whether the sorted region the header announces is missing bytes (the file was cut
    /// inside it): appending after it would break the binary search, so compact first.
    pub(crate) fn sorted_region_damaged(&self) -> bool {
        self.header.sorted_bytes > 0 && self.header.end + self.header.sorted_bytes > self.len
    }
}

/// Locks the file at `path` for writing, creating it (and its folder) with a header when it
/// does not exist. `cached` keeps the handle between calls; a handle on a file that was
/// replaced (compacted by another process) is dropped and the new file opened.
pub(crate) fn lock_for_write<'a>(
    path: &'a Path,
    cached: &'a mut Option<Writer>,
    sync: bool,
) -> Result<Locked<'a>, SessionError> {
    for _ in 0..1000 {
        let writer = match cached.take() {
            Some(w) => w,
            None => open_writer(path)?,
        };
        writer.file.lock().map_err(SessionError::io(path))?;
        let current = match fs::metadata(path) {
            Ok(m) => Some(file_id(&m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(SessionError::io(path)(e)),
        };
        if current != Some(writer.id) {
            continue; // replaced or removed while we waited: dropping the handle unlocks it
        }
        let writer = cached.insert(writer);
        return prepare(path, writer, sync);
    }
    Err(SessionError::Io {
        path: path.to_path_buf(),
        source: io::Error::other("the file keeps being replaced; could not lock it"),
    })
}

fn open_writer(path: &Path) -> Result<Writer, SessionError> {
    let dir = parent_dir(path);
    fs::create_dir_all(dir).map_err(SessionError::io(dir))?;
    // Once per handle: the leftovers of rewrites whose writer was killed.
    super::tmp::remove_stale_temps(path);
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(SessionError::io(path))?;
    let meta = file.metadata().map_err(SessionError::io(path))?;
    Ok(Writer {
        file,
        id: file_id(&meta),
        header: None,
    })
}

/// Under the lock: checks the header (once per file), or writes it into a new or torn file.
fn prepare<'a>(
    path: &'a Path,
    writer: &'a mut Writer,
    sync: bool,
) -> Result<Locked<'a>, SessionError> {
    let mut len = writer
        .file
        .metadata()
        .map_err(SessionError::io(path))?
        .len();
    let header = match writer.header {
        Some(h) if len >= h.end => h,
        _ => match read_header(&writer.file, path)? {
            Start::Header(h) => h,
            Start::Empty => {
                // Empty, or nothing but the start of a header (a crash while creating it).
                writer.file.set_len(0).map_err(SessionError::io(path))?;
                let line = header_line(0);
                (&writer.file)
                    .write_all(&line)
                    .map_err(SessionError::io(path))?;
                if sync {
                    writer.file.sync_all().map_err(SessionError::io(path))?;
                    sync_dir(path)?;
                }
                len = line.len() as u64;
                Header {
                    end: len,
                    sorted_bytes: 0,
                }
            }
        },
    };
    writer.header = Some(header);
    Ok(Locked {
        writer,
        path,
        len,
        header,
    })
}

/// Atomically replaces the file at `path` (whose lock the caller holds) with `header` +
/// `body`: a temporary file in the same folder, fsync, rename over, fsync of the folder.
/// The new file is locked from before the rename until its folder is synced, so no writer
/// appends to it before it is durable.
pub(crate) fn replace(path: &Path, body: &[u8]) -> Result<u64, SessionError> {
    super::tmp::remove_stale_temps(path);
    let tmp: PathBuf = super::tmp::temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(SessionError::io(&tmp))?;
        let header = header_line(body.len() as u64);
        file.write_all(&header)
            .and_then(|()| file.write_all(body))
            .and_then(|()| file.sync_all())
            .map_err(SessionError::io(&tmp))?;
        file.lock().map_err(SessionError::io(&tmp))?;
        fs::rename(&tmp, path).map_err(SessionError::io(path))?;
        sync_dir(path)?;
        Ok((header.len() + body.len()) as u64)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
