//! The filesystem scanner: walks directories (std only, bounded in files, bytes and depth) and reports every
//! certificate it finds in PEM, DER, PKCS#7, PKCS#12 and Java keystore files, grouped into chains, with whether
//! the matching private key sits beside it. It is blocking; callers run it on a blocking thread. What a finding
//! means for the inventory is core's business.

use super::glob::Glob;
use super::jks::{self, JksEntryKind};
use certwright_pki::cert::Cert;
use certwright_pki::key::PrivateKey;
use certwright_pki::{pem, pkcs12, pkcs7, pkcs8, PkiError};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// `on_progress` is called after every this many files examined, and once at the end.
const PROGRESS_EVERY: u64 = 100;

/// What to scan and how far to go.
#[derive(Clone)]
pub struct FileScan {
    /// Directories to walk, or single files. A root given as a symbolic link is followed.
    pub roots: Vec<PathBuf>,
    /// Files whose path matches one of these are examined; empty means every file.
    pub include: Vec<Glob>,
    /// Files and directories whose path matches one of these are left alone; an excluded directory is not
    /// entered.
    pub exclude: Vec<Glob>,
    /// Tried in order on PKCS#12 files and encrypted private keys, after the empty password, which is always
    /// tried first.
    pub passwords: Vec<Zeroizing<String>>,
    /// Files examined at most: the scan stops there and says so in [`FileScanReport::stopped_at_limit`].
    pub max_files: u64,
    /// Larger files are not read; they are counted in [`FileScanReport::files_skipped`].
    pub max_file_bytes: u64,
    /// Directory levels entered below a root: 0 examines only the files directly in it.
    pub max_depth: u32,
    /// Whether symbolic links are followed. Directories are entered once at most (known by device and inode),
    /// so a link loop ends.
    pub follow_symlinks: bool,
    /// Whether a private key that matches a certificate is returned ([`KeyPresence::Read`]) rather than only
    /// noted ([`KeyPresence::Present`]).
    pub read_private_keys: bool,
    /// Set from elsewhere to stop the walk before the next file (it then ends as if at its limit).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for FileScan {
    fn default() -> Self {
        FileScan {
            roots: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            passwords: Vec::new(),
            max_files: 100_000,
            max_file_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            follow_symlinks: false,
            read_private_keys: false,
            stop: None,
        }
    }
}

impl fmt::Debug for FileScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileScan")
            .field("roots", &self.roots)
            .field("include", &self.include.iter().map(Glob::as_str).collect::<Vec<_>>())
            .field("exclude", &self.exclude.iter().map(Glob::as_str).collect::<Vec<_>>())
            .field("passwords", &format_args!("<{} redacted>", self.passwords.len()))
            .field("max_files", &self.max_files)
            .field("max_file_bytes", &self.max_file_bytes)
            .field("max_depth", &self.max_depth)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("read_private_keys", &self.read_private_keys)
            .finish()
    }
}

/// Whether the private key of a finding's certificate was found.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPresence {
    /// No matching key was found.
    Absent,
    /// A matching key was found and not read (keystore keys are never decrypted, so they are always this).
    Present,
    /// An encrypted key sits with the certificate and no password opened it, so it could not be matched: it is
    /// attributed to the file's first finding.
    Encrypted,
    /// The matching key as PKCS#8 DER, when [`FileScan::read_private_keys`] asked for it.
    Read(Zeroizing<Vec<u8>>),
}

impl fmt::Debug for KeyPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPresence::Absent => f.write_str("Absent"),
            KeyPresence::Present => f.write_str("Present"),
            KeyPresence::Encrypted => f.write_str("Encrypted"),
            KeyPresence::Read(_) => f.write_str("Read(<redacted>)"),
        }
    }
}

/// One certificate (with its chain) found in a file.
#[derive(Clone, PartialEq, Eq)]
pub struct FileFinding {
    pub path: PathBuf,
    /// `"pem"`, `"der"`, `"pkcs7"`, `"pkcs12"` or `"jks"` (JCEKS included).
    pub format: &'static str,
    /// Which part of the file: the alias in a keystore (the friendly name in PKCS#12), else, when the file gives
    /// several findings, the position of the certificate (the PEM block index; `block.n` for the n-th
    /// certificate of a PEM `PKCS7` block; the index in a PKCS#7 or PKCS#12 bundle).
    pub entry: Option<String>,
    /// Certificates (DER): the end-entity (or the single certificate) first, then its issuers found in the same
    /// file, in chain order.
    pub chain: Vec<Vec<u8>>,
    pub private_key: KeyPresence,
}

impl fmt::Debug for FileFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileFinding")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("entry", &self.entry)
            .field("chain", &format_args!("<{} certificates>", self.chain.len()))
            .field("private_key", &self.private_key)
            .finish()
    }
}

/// How a scan went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileScanReport {
    /// Files opened (or tried), whatever they held.
    pub files_examined: u64,
    /// Files not read: larger than the limit, or not regular files (pipes, sockets, devices).
    pub files_skipped: u64,
    /// Files and directories that could not be read, or that look like certificate files but are malformed.
    pub problems: Vec<(PathBuf, String)>,
    /// The scan stopped at [`FileScan::max_files`] with files left to examine.
    pub stopped_at_limit: bool,
}

/// Scans `spec.roots`, handing each finding to `on_finding` as it is made. Files that hold none of the known
/// formats are passed over silently. An unreadable file or directory is noted in the report and the scan goes
/// on. Symbolic links inside the roots are ignored (and not counted) unless [`FileScan::follow_symlinks`].
pub fn scan(
    spec: &FileScan,
    on_finding: &mut dyn FnMut(FileFinding),
    on_progress: &mut dyn FnMut(u64),
) -> FileScanReport {
    let mut passwords = vec![""];
    passwords.extend(spec.passwords.iter().map(|p| p.as_str()).filter(|p| !p.is_empty()));
    let mut scanner = Scanner {
        spec,
        passwords,
        report: FileScanReport::default(),
        visited: HashSet::new(),
        on_finding,
        on_progress,
    };
    for root in &spec.roots {
        if scanner.report.stopped_at_limit {
            break;
        }
        scanner.root(root);
    }
    (scanner.on_progress)(scanner.report.files_examined);
    scanner.report
}

#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

#[cfg(unix)]
fn dir_id(_path: &Path, meta: &fs::Metadata) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn dir_id(path: &Path, _meta: &fs::Metadata) -> Option<DirId> {
    fs::canonicalize(path).ok()
}

struct Scanner<'a> {
    spec: &'a FileScan,
    passwords: Vec<&'a str>,
    report: FileScanReport,
    visited: HashSet<DirId>,
    on_finding: &'a mut dyn FnMut(FileFinding),
    on_progress: &'a mut dyn FnMut(u64),
}

impl Scanner<'_> {
    fn problem(&mut self, path: &Path, message: impl Into<String>) {
        self.report.problems.push((path.to_path_buf(), message.into()));
    }

    fn excluded(&self, path: &Path) -> bool {
        let text = path.to_string_lossy();
        self.spec.exclude.iter().any(|g| g.matches(&text))
    }

    fn included(&self, path: &Path) -> bool {
        let text = path.to_string_lossy();
        self.spec.include.is_empty() || self.spec.include.iter().any(|g| g.matches(&text))
    }

    fn root(&mut self, root: &Path) {
        if self.excluded(root) {
            return;
        }
        match fs::metadata(root) {
            Err(e) => self.problem(root, format!("cannot read: {e}")),
            Ok(meta) if meta.is_dir() => self.walk(root, &meta),
            Ok(meta) => self.entry(root, &meta),
        }
    }

    /// Walks a directory tree depth first, in name order, with an explicit stack.
    fn walk(&mut self, root: &Path, meta: &fs::Metadata) {
        if let Some(id) = dir_id(root, meta) {
            if !self.visited.insert(id) {
                return;
            }
        }
        let mut stack = vec![(root.to_path_buf(), 0u32)];
        while let Some((dir, depth)) = stack.pop() {
            let listing = match fs::read_dir(&dir) {
                Ok(listing) => listing,
                Err(e) => {
                    self.problem(&dir, format!("cannot list the directory: {e}"));
                    continue;
                }
            };
            let mut children = Vec::new();
            for child in listing {
                match child {
                    Ok(child) => children.push(child.path()),
                    Err(e) => self.problem(&dir, format!("cannot list the directory: {e}")),
                }
            }
            children.sort();
            let mut subdirs = Vec::new();
            for path in children {
                if self.report.stopped_at_limit {
                    return;
                }
                let meta = match fs::symlink_metadata(&path) {
                    Ok(meta) if meta.file_type().is_symlink() && !self.spec.follow_symlinks => continue,
                    Ok(meta) if meta.file_type().is_symlink() => fs::metadata(&path),
                    other => other,
                };
                let meta = match meta {
                    Ok(meta) => meta,
                    Err(e) => {
                        self.problem(&path, format!("cannot read: {e}"));
                        continue;
                    }
                };
                if !meta.is_dir() {
                    self.entry(&path, &meta);
                } else if depth < self.spec.max_depth
                    && !self.excluded(&path)
                    && dir_id(&path, &meta).is_some_and(|id| self.visited.insert(id))
                {
                    subdirs.push(path);
                }
            }
            stack.extend(subdirs.into_iter().rev().map(|d| (d, depth + 1)));
        }
    }

    /// A directory entry that is not a directory.
    fn entry(&mut self, path: &Path, meta: &fs::Metadata) {
        if self.excluded(path) || !self.included(path) {
            return;
        }
        if !meta.is_file() || meta.len() > self.spec.max_file_bytes {
            self.report.files_skipped += 1;
            return;
        }
        let stopped = self.spec.stop.as_ref().is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed));
        if stopped || self.report.files_examined >= self.spec.max_files {
            self.report.stopped_at_limit = true;
            return;
        }
        self.report.files_examined += 1;
        if self.report.files_examined.is_multiple_of(PROGRESS_EVERY) {
            (self.on_progress)(self.report.files_examined);
        }
        match read_limited(path, self.spec.max_file_bytes) {
            Ok(Some(bytes)) => self.examine(path, &bytes),
            Ok(None) => self.report.files_skipped += 1,
            Err(e) => self.problem(path, format!("cannot read: {e}")),
        }
    }

    /// Tells the format apart and reports what the file holds.
    fn examine(&mut self, path: &Path, bytes: &[u8]) {
        if jks::is_jks(bytes) {
            return self.keystore(path, bytes);
        }
        if pkcs12::is_pkcs12(bytes) {
            return self.pkcs12(path, bytes);
        }
        if bytes.first() == Some(&0x30) && self.der(path, bytes) {
            return;
        }
        if contains(bytes, b"-----BEGIN ") {
            self.pem(path, &String::from_utf8_lossy(bytes));
        }
    }

    /// A DER certificate or PKCS#7 bundle; `false` when the bytes are neither (text may start with `0`).
    fn der(&mut self, path: &Path, bytes: &[u8]) -> bool {
        if let Ok(cert) = Cert::from_der(bytes) {
            self.certificates(path, "der", vec![(None, cert)], Vec::new());
        } else if let Ok(ders) = pkcs7::certificates(bytes) {
            let certs = self.parse_all(path, ders.into_iter().enumerate().map(|(i, d)| (Some(i.to_string()), d)));
            self.certificates(path, "pkcs7", certs, Vec::new());
        } else {
            return false;
        }
        true
    }

    fn parse_all(&mut self, path: &Path, ders: impl Iterator<Item = (Option<String>, Vec<u8>)>) -> Vec<Labelled> {
        let mut out = Vec::new();
        for (label, der) in ders {
            match Cert::from_der(&der) {
                Ok(cert) => out.push((label, cert)),
                Err(e) => self.problem(path, format!("certificate {}: {e}", label.as_deref().unwrap_or("0"))),
            }
        }
        out
    }

    fn pem(&mut self, path: &Path, text: &str) {
        let (mut certs, mut keys, mut format) = (Vec::new(), Vec::new(), "pem");
        for (index, block) in pem_blocks(text).into_iter().enumerate() {
            let der = match block.der {
                Ok(der) => der,
                Err(e) if block.label.ends_with("PRIVATE KEY") && e.legacy => {
                    keys.push(KeySource::Legacy);
                    continue;
                }
                Err(e) => {
                    self.problem(path, format!("PEM block {index} ({}): {}", block.label, e.message));
                    continue;
                }
            };
            match block.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" => match Cert::from_der(&der) {
                    Ok(cert) => certs.push((Some(index.to_string()), cert)),
                    Err(e) => self.problem(path, format!("PEM block {index}: {e}")),
                },
                "PKCS7" => match pkcs7::certificates(&der) {
                    Ok(ders) => {
                        format = "pkcs7";
                        let labelled = ders.into_iter().enumerate().map(|(i, d)| (Some(format!("{index}.{i}")), d));
                        certs.extend(self.parse_all(path, labelled));
                    }
                    Err(e) => self.problem(path, format!("PEM block {index}: {e}")),
                },
                _ => keys.push(KeySource::Der(Zeroizing::new(der))),
            }
        }
        self.certificates(path, format, certs, keys);
    }

    /// Reports PEM, DER and PKCS#7 certificates, grouped into chains, with the keys of the file and of a `.key`
    /// file of the same name.
    fn certificates(&mut self, path: &Path, format: &'static str, certs: Vec<Labelled>, mut keys: Vec<KeySource>) {
        if certs.is_empty() {
            return;
        }
        if let Some(sibling) = self.sibling_key(path) {
            keys.push(sibling);
        }
        let (mut opened, mut locked) = (Vec::new(), false);
        for key in keys {
            match self.open_key(path, key) {
                Opened::Key(pair, der) => opened.push((pair, der)),
                Opened::Locked => locked = true,
                Opened::Unusable => {}
            }
        }
        let groups = group(&certs, None);
        let several = groups.len() > 1;
        for (n, chain) in groups.into_iter().enumerate() {
            let leaf = chain.first().and_then(|&i| certs.get(i));
            let matching = leaf.and_then(|(_, leaf)| {
                opened.iter().find(|(pair, _)| pkcs8::matches_certificate(pair, leaf).unwrap_or(false))
            });
            let private_key = match matching {
                Some((_, der)) if self.spec.read_private_keys => KeyPresence::Read(der.clone()),
                Some(_) => KeyPresence::Present,
                None if locked && n == 0 => KeyPresence::Encrypted,
                None => KeyPresence::Absent,
            };
            let entry = if several { leaf.and_then(|(label, _)| label.clone()) } else { None };
            let chain = chain.iter().filter_map(|&i| certs.get(i)).map(|(_, c)| c.der().to_vec()).collect();
            (self.on_finding)(FileFinding { path: path.to_path_buf(), format, entry, chain, private_key });
        }
    }

    /// The `.key` file named like the certificate file, when there is one that can be read.
    fn sibling_key(&self, path: &Path) -> Option<KeySource> {
        if path.extension().is_some_and(|e| e == "key") {
            return None;
        }
        let sibling = path.with_extension("key");
        let meta = fs::symlink_metadata(&sibling).ok()?;
        let meta = if meta.file_type().is_symlink() && self.spec.follow_symlinks {
            fs::metadata(&sibling).ok()?
        } else {
            meta
        };
        if !meta.is_file() || meta.len() > self.spec.max_file_bytes.min(pkcs8::MAX_KEY_BYTES as u64) {
            return None;
        }
        let bytes = Zeroizing::new(read_limited(&sibling, self.spec.max_file_bytes).ok()??);
        if contains(&bytes, b"Proc-Type:") {
            return Some(KeySource::Legacy);
        }
        Some(KeySource::Sibling(bytes))
    }

    /// Opens a private key with the empty password, then each password in turn.
    fn open_key(&mut self, path: &Path, key: KeySource) -> Opened {
        let input = match &key {
            KeySource::Legacy => {
                self.problem(
                    path,
                    "a private key is in OpenSSL's legacy encrypted PEM, which is not read: it is reported as \
                     encrypted",
                );
                return Opened::Locked;
            }
            KeySource::Der(bytes) | KeySource::Sibling(bytes) => bytes,
        };
        let plain = match pkcs8::private_key_from_pem_or_der(input, None) {
            Ok(der) => Some(der),
            Err(PkiError::PasswordRequired) => {
                let mut found = None;
                for password in &self.passwords {
                    match pkcs8::private_key_from_pem_or_der(input, Some(password)) {
                        // A wrong password can slip past the padding check; the key must also parse.
                        Ok(der) if PrivateKey::from_pkcs8_der(&der).is_ok() => {
                            found = Some(der);
                            break;
                        }
                        Ok(_) | Err(PkiError::WrongPassword) => {}
                        Err(e) => {
                            self.problem(path, format!("encrypted private key: {e}"));
                            break;
                        }
                    }
                }
                match found {
                    Some(der) => Some(der),
                    None => return Opened::Locked,
                }
            }
            // Not a key we can read (or, beside the certificate, not a key at all): it cannot be matched.
            Err(_) => None,
        };
        match plain.and_then(|der| PrivateKey::from_pkcs8_der(&der).ok().map(|pair| (pair, der))) {
            Some((pair, der)) => Opened::Key(Box::new(pair), der),
            None => Opened::Unusable,
        }
    }

    fn pkcs12(&mut self, path: &Path, bytes: &[u8]) {
        let mut contents = None;
        for password in &self.passwords {
            match pkcs12::parse(bytes, password) {
                Ok(c) => {
                    contents = Some(c);
                    break;
                }
                Err(PkiError::WrongPassword) => {}
                Err(e) => {
                    self.problem(path, format!("PKCS#12 file: {e}"));
                    return;
                }
            }
        }
        let Some(contents) = contents else {
            self.problem(path, "PKCS#12 file: no password opened it");
            return;
        };
        let labelled = contents.certificates.iter().enumerate().map(|(i, d)| (Some(i.to_string()), d.clone()));
        let certs = self.parse_all(path, labelled);
        if certs.is_empty() {
            return;
        }
        // With a key, the certificate certifying it comes first.
        let has_key = contents.private_key.is_some();
        let groups = group(&certs, has_key.then_some(0));
        let several = groups.len() > 1;
        for (n, chain) in groups.into_iter().enumerate() {
            let private_key = match &contents.private_key {
                Some(key) if n == 0 && self.spec.read_private_keys => KeyPresence::Read(key.clone()),
                Some(_) if n == 0 => KeyPresence::Present,
                _ => KeyPresence::Absent,
            };
            let leaf = chain.first().and_then(|&i| certs.get(i));
            let entry = match (n, &contents.friendly_name) {
                (0, Some(name)) => Some(name.clone()),
                _ if several => leaf.and_then(|(label, _)| label.clone()),
                _ => None,
            };
            let chain = chain.iter().filter_map(|&i| certs.get(i)).map(|(_, c)| c.der().to_vec()).collect();
            (self.on_finding)(FileFinding { path: path.to_path_buf(), format: "pkcs12", entry, chain, private_key });
        }
    }

    fn keystore(&mut self, path: &Path, bytes: &[u8]) {
        let store = match jks::read_store(bytes) {
            Ok(store) => store,
            Err(e) => {
                self.problem(path, format!("Java keystore: {e}"));
                return;
            }
        };
        for entry in store.entries {
            if entry.chain.is_empty() {
                continue;
            }
            if let Some(e) = entry.chain.iter().find_map(|der| Cert::from_der(der).err()) {
                self.problem(path, format!("Java keystore entry `{}`: {e}", entry.alias));
                continue;
            }
            let private_key = match entry.kind {
                JksEntryKind::PrivateKey => KeyPresence::Present,
                _ => KeyPresence::Absent,
            };
            let finding = FileFinding {
                path: path.to_path_buf(),
                format: "jks",
                entry: Some(entry.alias),
                chain: entry.chain,
                private_key,
            };
            (self.on_finding)(finding);
        }
        if store.unread_entries > 0 {
            self.problem(
                path,
                format!(
                    "JCEKS keystore: reading stopped at a secret key (a serialized Java object); entries not \
                     read: {}",
                    store.unread_entries
                ),
            );
        }
    }
}

/// A certificate with its position in the file.
type Labelled = (Option<String>, Cert);

/// A private key found with certificates.
enum KeySource {
    /// A key block of the certificate file.
    Der(Zeroizing<Vec<u8>>),
    /// The contents of the `.key` file beside it.
    Sibling(Zeroizing<Vec<u8>>),
    /// OpenSSL's legacy encrypted PEM, which is not read.
    Legacy,
}

enum Opened {
    Key(Box<PrivateKey>, Zeroizing<Vec<u8>>),
    Locked,
    Unusable,
}

/// Longest chain built from one file.
const MAX_CHAIN: usize = 16;
/// Signature checks spent per file telling apart issuers of the same name.
const MAX_SIGNATURE_CHECKS: u32 = 64;

/// Groups certificates into chains, as indexes into `certs`. Each end-entity certificate (not a CA, and issuing
/// no other certificate of the set) gets its chain, `first` before the others; every certificate left out of
/// those chains (CA bundles) gets its own, so none goes unreported. Names are compared by their DER encoding,
/// through maps, so a file of thousands of certificates stays cheap.
fn group(certs: &[Labelled], first: Option<usize>) -> Vec<Vec<usize>> {
    use x509_cert::der::Encode;
    // A name that cannot be encoded (never seen in practice) gets a key no other name has.
    let key =
        |i: usize, tag: u8, name: &x509_cert::name::Name| name.to_der().unwrap_or_else(|_| vec![tag, 0xff, i as u8]);
    let subjects: Vec<Vec<u8>> = certs.iter().enumerate().map(|(i, (_, c))| key(i, 0, c.subject())).collect();
    let issuers: Vec<Vec<u8>> = certs.iter().enumerate().map(|(i, (_, c))| key(i, 1, c.issuer())).collect();
    let mut by_subject: HashMap<&[u8], Vec<usize>> = HashMap::new();
    let mut issued: HashMap<&[u8], usize> = HashMap::new();
    for (i, (subject, issuer)) in subjects.iter().zip(&issuers).enumerate() {
        by_subject.entry(subject).or_default().push(i);
        *issued.entry(issuer).or_default() += 1;
    }
    let names = Names { certs, subjects: &subjects, issuers: &issuers, by_subject };
    let is_leaf = |i: usize, c: &Cert| {
        let (subject, issuer) = (names.subject(i), names.issuer(i));
        let others = issued.get(subject).copied().unwrap_or(0).saturating_sub(usize::from(subject == issuer));
        !matches!(c.ca(), Ok(Some(_))) && others == 0
    };
    let mut used = vec![false; certs.len()];
    let mut checks = MAX_SIGNATURE_CHECKS;
    let mut groups = Vec::new();
    let leaves = certs.iter().enumerate().filter(|(i, (_, c))| is_leaf(*i, c)).map(|(i, _)| i);
    for start in first.into_iter().chain(leaves) {
        if used.get(start).copied().unwrap_or(true) {
            continue;
        }
        let chain = names.chain_from(start, &mut checks);
        for &i in &chain {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
        }
        groups.push(chain);
    }
    for i in 0..certs.len() {
        if !used.get(i).copied().unwrap_or(true) {
            groups.push(names.chain_from(i, &mut checks));
        }
    }
    groups
}

/// The certificates of a file indexed by name.
struct Names<'a> {
    certs: &'a [Labelled],
    subjects: &'a [Vec<u8>],
    issuers: &'a [Vec<u8>],
    by_subject: HashMap<&'a [u8], Vec<usize>>,
}

impl Names<'_> {
    fn subject(&self, i: usize) -> &[u8] {
        self.subjects.get(i).map_or(&[], Vec::as_slice)
    }

    fn issuer(&self, i: usize) -> &[u8] {
        self.issuers.get(i).map_or(&[], Vec::as_slice)
    }

    /// `start`, then its issuer (by name; among several, the one whose key verifies the signature while `checks`
    /// last), and so on up to a self-issued certificate or one whose issuer is not in the set.
    fn chain_from(&self, start: usize, checks: &mut u32) -> Vec<usize> {
        let mut chain = vec![start];
        let mut current = start;
        while chain.len() < MAX_CHAIN && self.subject(current) != self.issuer(current) {
            let Some(cert) = self.certs.get(current).map(|(_, c)| c) else { break };
            let candidates: Vec<usize> = self
                .by_subject
                .get(self.issuer(current))
                .map(|c| c.iter().copied().filter(|j| !chain.contains(j)).collect())
                .unwrap_or_default();
            let mut verifies = |j: &usize| {
                if *checks == 0 {
                    return false;
                }
                *checks -= 1;
                let key = self.certs.get(*j).and_then(|(_, c)| c.public_key().ok());
                key.is_some_and(|k| cert.verify_signed_by(&k).is_ok())
            };
            let next = match candidates.as_slice() {
                [] => break,
                [only] => *only,
                several => several.iter().copied().find(|j| verifies(j)).or(several.first().copied()).unwrap_or(start),
            };
            chain.push(next);
            current = next;
        }
        chain
    }
}

struct PemBlock {
    label: String,
    der: Result<Vec<u8>, BlockError>,
}

struct BlockError {
    message: String,
    /// The block carries RFC 1421 headers (`Proc-Type`, `DEK-Info`): OpenSSL's legacy encrypted PEM.
    legacy: bool,
}

/// The PEM blocks of `text` that may hold a certificate or a key, each decoded on its own so that one bad block
/// does not hide the others. Blocks with other labels (signatures, parameters) are not decoded.
fn pem_blocks(text: &str) -> Vec<PemBlock> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = rest.get(start..).unwrap_or_default();
        let after = block.get(BEGIN.len()..).unwrap_or_default();
        let label = after.find("-----").and_then(|end| after.get(..end)).filter(|l| l.len() < 64 && !l.contains('\n'));
        let Some(label) = label else {
            rest = after;
            continue;
        };
        let end_marker = format!("-----END {label}-----");
        let Some(end) = block.find(&end_marker).map(|e| e + end_marker.len()) else {
            out.push(PemBlock {
                label: label.to_owned(),
                der: Err(BlockError { message: "no END line".to_owned(), legacy: false }),
            });
            break;
        };
        let this = block.get(..end).unwrap_or_default();
        rest = block.get(end..).unwrap_or_default();
        let wanted = matches!(label, "CERTIFICATE" | "X509 CERTIFICATE" | "PKCS7") || label.ends_with("PRIVATE KEY");
        if !wanted {
            continue;
        }
        let der = if this.contains("Proc-Type:") || this.contains("DEK-Info:") {
            Err(BlockError { message: "legacy encrypted PEM".to_owned(), legacy: true })
        } else {
            pem::decode(this).map(|(_, der)| der).map_err(|e| BlockError { message: e.to_string(), legacy: false })
        };
        out.push(PemBlock { label: label.to_owned(), der });
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads a file, giving up (`None`) if it holds more than `max` bytes (it may have grown since it was listed).
fn read_limited(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    fs::File::open(path)?.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_blocks_are_split_and_decoded_one_by_one() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n\
                    -----BEGIN PGP SIGNATURE-----\nVersion: x\n\n=abc\n-----END PGP SIGNATURE-----\n\
                    -----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n\
                    -----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n\
                    -----END RSA PRIVATE KEY-----\n-----BEGIN CERTIFICATE-----\nAQID\n";
        let blocks = pem_blocks(text);
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(labels, ["CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY", "CERTIFICATE"]);
        assert_eq!(blocks[0].der.as_ref().ok(), Some(&vec![1, 2, 3]));
        assert!(blocks[1].der.as_ref().is_err_and(|e| !e.legacy));
        assert!(blocks[2].der.as_ref().is_err_and(|e| e.legacy));
        assert!(blocks[3].der.as_ref().is_err_and(|e| e.message == "no END line"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let spec = FileScan { passwords: vec![Zeroizing::new("hunter2".to_owned())], ..Default::default() };
        assert!(!format!("{spec:?}").contains("hunter2"));
        let finding = FileFinding {
            path: PathBuf::from("/k"),
            format: "pem",
            entry: None,
            chain: vec![vec![0x30]],
            private_key: KeyPresence::Read(Zeroizing::new(b"secret-key".to_vec())),
        };
        let shown = format!("{finding:?}");
        assert!(shown.contains("Read(<redacted>)") && !shown.contains("115"), "{shown}");
    }

    #[test]
    fn a_missing_root_is_a_problem_and_the_scan_goes_on() {
        let spec = FileScan { roots: vec![PathBuf::from("/nonexistent/certwright")], ..Default::default() };
        let report = scan(&spec, &mut |_| {}, &mut |_| {});
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.files_examined, 0);
    }
}
