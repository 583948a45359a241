//! A text corpus: every `.txt` file under a directory, recursively.
//!
//! Documents are sorted by their path relative to the root (compared component by component), so
//! the order does not depend on the file system. Each file is decoded as UTF-8, or, when it is
//! not valid UTF-8, as ISO-8859-1 (latin-1: every byte is the code point of the same value).
//! Line endings are normalised: CRLF and a lone CR become LF.
//!
//! The project's corpus (`data/text-corpus`) is public-domain English: a Project Gutenberg
//! selection and US presidential addresses, from the NLTK data (see `data/README.md`).

use std::path::{Path, PathBuf};

use super::read::{io_error, read_file};
use crate::{Error, Result};

/// How a document's bytes were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Valid UTF-8 (which includes plain ASCII).
    Utf8,
    /// Not valid UTF-8, read as ISO-8859-1.
    Latin1,
}

/// One text file of a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Path relative to the corpus root, e.g. `gutenberg/melville-moby_dick.txt`.
    pub path: PathBuf,
    /// The decoded text with LF line endings.
    pub text: String,
    /// How the file was decoded.
    pub encoding: Encoding,
}

/// The documents of a corpus, sorted by relative path.
#[derive(Debug, Clone)]
pub struct TextCorpus {
    /// The directory the corpus was read from.
    pub root: PathBuf,
    /// The documents, sorted by [`Document::path`].
    pub documents: Vec<Document>,
}

/// `bytes` decoded as UTF-8, or as latin-1 when they are not valid UTF-8, with line endings
/// normalised to LF.
pub fn decode(bytes: &[u8]) -> (String, Encoding) {
    let (text, encoding) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), Encoding::Utf8),
        Err(_) => (
            bytes.iter().map(|&b| char::from(b)).collect(),
            Encoding::Latin1,
        ),
    };
    (normalize_newlines(&text), encoding)
}

/// `text` with every CRLF and every lone CR replaced by LF.
pub fn normalize_newlines(text: &str) -> String {
    if !text.contains('\r') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' {
            if chars.peek() == Some(&'\n') {
                chars.next();
            }
            out.push('\n');
        } else {
            out.push(c);
        }
    }
    out
}

impl TextCorpus {
    /// Reads every `.txt` file under `root`, recursively. Errors if `root` does not exist
    /// ([`Error::MissingData`]) or holds no `.txt` file.
    pub fn load(root: &Path) -> Result<TextCorpus> {
        if !root.is_dir() {
            return Err(Error::MissingData {
                path: root.to_path_buf(),
            });
        }
        let mut files = Vec::new();
        collect_txt(root, Path::new(""), &mut files)?;
        if files.is_empty() {
            return Err(Error::invalid(
                "text corpus directory",
                format!(
                    "{} holds no .txt files; run `scripts/fetch-data.sh` or point to the corpus \
                     root",
                    root.display()
                ),
            ));
        }
        files.sort();
        let documents = files
            .into_iter()
            .map(|rel| {
                let (text, encoding) = decode(&read_file(&root.join(&rel))?);
                Ok(Document {
                    path: rel,
                    text,
                    encoding,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TextCorpus {
            root: root.to_path_buf(),
            documents,
        })
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether there are no documents (never true for a loaded corpus).
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// Total number of characters (Unicode scalar values) over all documents.
    pub fn total_chars(&self) -> usize {
        self.documents.iter().map(|d| d.text.chars().count()).sum()
    }

    /// The document at relative path `path`, if any.
    pub fn get(&self, path: impl AsRef<Path>) -> Option<&Document> {
        let path = path.as_ref();
        self.documents.iter().find(|d| d.path == path)
    }

    /// Splits the documents into `(train, held_out)`, both in corpus order. A document is held
    /// out when its relative path, written with `/` separators, starts with one of `held_out`
    /// (a full path such as `gutenberg/shakespeare-macbeth.txt`, or a prefix such as
    /// `state_union/2005` or `inaugural/`).
    ///
    /// Errors if a pattern matches no document (a typo would otherwise silently hold out nothing).
    pub fn split(&self, held_out: &[&str]) -> Result<(Vec<Document>, Vec<Document>)> {
        let keys: Vec<String> = self.documents.iter().map(|d| slash_path(&d.path)).collect();
        if let Some(p) = held_out
            .iter()
            .find(|p| !keys.iter().any(|k| k.starts_with(**p)))
        {
            return Err(Error::invalid(
                "held-out paths",
                format!(
                    "{p:?} matches no document under {}; give relative paths or prefixes with `/` \
                     separators, e.g. \"gutenberg/shakespeare-macbeth.txt\"",
                    self.root.display()
                ),
            ));
        }
        let (held, train): (Vec<_>, Vec<_>) = self
            .documents
            .iter()
            .zip(&keys)
            .partition(|(_, k)| held_out.iter().any(|p| k.starts_with(p)));
        Ok((
            train.into_iter().map(|(d, _)| d.clone()).collect(),
            held.into_iter().map(|(d, _)| d.clone()).collect(),
        ))
    }
}

/// `path`'s components joined with `/`.
fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Appends the paths, relative to `root`, of the `.txt` files under `root/rel`.
fn collect_txt(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let child = rel.join(entry.file_name());
        let full = root.join(&child);
        // Follows symbolic links, like opening the file would.
        let meta = std::fs::metadata(&full).map_err(|e| Error::io(&full, e))?;
        if meta.is_dir() {
            collect_txt(root, &child, out)?;
        } else if meta.is_file() && child.extension().is_some_and(|e| e == "txt") {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_fallback_and_newline_normalisation() {
        // "café\r\nnaïve\rend" in latin-1: é = 0xE9, ï = 0xEF.
        let bytes = b"caf\xe9\r\nna\xefve\rend\r\n";
        let (text, enc) = decode(bytes);
        assert_eq!(enc, Encoding::Latin1);
        assert_eq!(text, "caf\u{e9}\nna\u{ef}ve\nend\n");
        let (text, enc) = decode("caf\u{e9}\r\n\r\nx".as_bytes());
        assert_eq!(enc, Encoding::Utf8);
        assert_eq!(text, "caf\u{e9}\n\nx");
        assert_eq!(normalize_newlines("\r\r\n\n"), "\n\n\n");
    }

    fn corpus() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("b/sub")).unwrap();
        std::fs::create_dir_all(p.join("a")).unwrap();
        std::fs::write(p.join("b/sub/z.txt"), "z\r\n").unwrap();
        std::fs::write(p.join("b/y.txt"), b"\xff").unwrap();
        std::fs::write(p.join("a/x.txt"), "x").unwrap();
        std::fs::write(p.join("a/README"), "not text corpus").unwrap();
        std::fs::write(p.join("top.txt"), "t").unwrap();
        dir
    }

    #[test]
    fn loads_recursively_sorted_txt_only() {
        let dir = corpus();
        let c = TextCorpus::load(dir.path()).unwrap();
        let paths: Vec<String> = c.documents.iter().map(|d| slash_path(&d.path)).collect();
        assert_eq!(paths, ["a/x.txt", "b/sub/z.txt", "b/y.txt", "top.txt"]);
        assert_eq!(c.get("b/sub/z.txt").unwrap().text, "z\n");
        let y = c.get("b/y.txt").unwrap();
        assert_eq!((y.text.as_str(), y.encoding), ("\u{ff}", Encoding::Latin1));
        assert_eq!(c.total_chars(), 5);
    }

    #[test]
    fn split_by_path_and_prefix() {
        let dir = corpus();
        let c = TextCorpus::load(dir.path()).unwrap();
        let (train, held) = c.split(&["b/", "top.txt"]).unwrap();
        let names = |ds: &[Document]| ds.iter().map(|d| slash_path(&d.path)).collect::<Vec<_>>();
        assert_eq!(names(&train), ["a/x.txt"]);
        assert_eq!(names(&held), ["b/sub/z.txt", "b/y.txt", "top.txt"]);
        let (train, held) = c.split(&[]).unwrap();
        assert_eq!((train.len(), held.len()), (4, 0));
        let m = c.split(&["a/nope"]).unwrap_err().to_string();
        assert!(m.contains("a/nope"), "{m}");
    }

    #[test]
    fn empty_or_absent_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        std::fs::write(dir.path().join("empty/notes.md"), "x").unwrap();
        let m = TextCorpus::load(&dir.path().join("empty"))
            .unwrap_err()
            .to_string();
        assert!(m.contains("empty") && m.contains("no .txt"), "{m}");
        let err = TextCorpus::load(&dir.path().join("absent")).unwrap_err();
        assert!(matches!(err, Error::MissingData { .. }));
    }
}
