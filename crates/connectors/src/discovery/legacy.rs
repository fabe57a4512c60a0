//! Reading the certificate chain of TLS servers that rustls will not talk to: SSLv3, TLS 1.0 and 1.1, or TLS 1.2
//! with only RSA key exchange, CBC, 3DES, RC4 or DHE suites. Up to TLS 1.2 the server's Certificate message
//! travels in clear, so [`fetch_chain`] sends its own broad ClientHello, reads the server's first flight up to the
//! Certificate message and stops there: no key exchange, nothing verified, the connection is left to be dropped.
//! The flight parser does no I/O, checks every length, and never reads more than the caller's byte limit.

use std::fmt;
use std::net::IpAddr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How many bytes [`fetch_chain`] reads from a server at most unless told otherwise: far above any real first
/// flight (a chain of a few certificates), far below what could hurt.
pub const DEFAULT_LIMIT_BYTES: usize = 256 * 1024;

/// The longest TLSCiphertext fragment (RFC 5246 §6.2.3); plaintext handshake records are shorter still.
const MAX_RECORD: usize = (1 << 14) + 2048;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
const RECORD_CHANGE_CIPHER_SPEC: u8 = 20;
const RECORD_ALERT: u8 = 21;
const RECORD_HANDSHAKE: u8 = 22;
const RECORD_APPLICATION_DATA: u8 = 23;
const HS_HELLO_REQUEST: u8 = 0;
const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_SERVER_HELLO_DONE: u8 = 14;
const EXT_SERVER_NAME: u16 = 0x0000;
const EXT_SUPPORTED_GROUPS: u16 = 0x000a;
const EXT_EC_POINT_FORMATS: u16 = 0x000b;
const EXT_SIGNATURE_ALGORITHMS: u16 = 0x000d;
const EXT_PADDING: u16 = 0x0015;
const EXT_SUPPORTED_VERSIONS: u16 = 0x002b;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
/// TLS_EMPTY_RENEGOTIATION_INFO_SCSV (RFC 5746 §3.3).
const SCSV_RENEGOTIATION: u16 = 0x00ff;
/// The ServerHello random that marks a TLS 1.3 HelloRetryRequest (RFC 8446 §4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];
/// x25519, secp256r1, secp384r1, secp521r1.
const SUPPORTED_GROUPS: [u16; 4] = [0x001d, 0x0017, 0x0018, 0x0019];
/// ECDSA and RSA-PSS with SHA-2, Ed25519, PKCS#1 v1.5 with SHA-2, then the SHA-1 and DSA schemes old servers sign
/// with (RFC 5246 §7.4.1.4.1 numbering).
const SIGNATURE_ALGORITHMS: [u16; 16] = [
    0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0203, 0x0201,
    0x0402, 0x0202,
];

/// The cipher suites offered, in order of preference, with their IANA names: forward-secret AEAD first, then CBC,
/// RSA key exchange, CAMELLIA, SEED, 3DES, RC4 and single DES. Which one wins does not matter for reading the
/// chain; the list is broad so that any server finds one it accepts.
const CIPHER_SUITES: &[(u16, &str)] = &[
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x00a2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"),
    (0x00a3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"),
    (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0xc072, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xc073, "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0xc076, "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0xc077, "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384"),
    (0x00be, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0044, "TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0087, "TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA"),
    (0x00ba, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256"),
    (0x00c0, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
    (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
    (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"),
    (0x0096, "TLS_RSA_WITH_SEED_CBC_SHA"),
    (0xc008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"),
    (0xc011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
    (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
    (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
    (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
];

/// The IANA name of a cipher suite the legacy ClientHello offers (and of the renegotiation SCSV), `None` for
/// anything else.
pub fn cipher_suite_name(id: u16) -> Option<&'static str> {
    if id == SCSV_RENEGOTIATION {
        return Some("TLS_EMPTY_RENEGOTIATION_INFO_SCSV");
    }
    CIPHER_SUITES.iter().find(|(code, _)| *code == id).map(|(_, name)| *name)
}

/// The name of a suite as reported in [`LegacyHandshake::cipher`]: the IANA name, or `0xC0DE` in hex.
fn cipher_label(id: u16) -> String {
    cipher_suite_name(id).map_or_else(|| format!("0x{id:04X}"), str::to_owned)
}

/// The highest protocol version the ClientHello offers. TLS 1.3 is never offered: servers that speak it are
/// read by the rustls scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum LegacyVersion {
    /// SSL 3.0. The hello then carries no extensions (and so no SNI).
    Ssl3,
    /// TLS 1.0.
    Tls10,
    /// TLS 1.1.
    Tls11,
    /// TLS 1.2, the default; a server that only speaks an older version answers with that one.
    #[default]
    Tls12,
}

impl LegacyVersion {
    /// The version on the wire (`0x0303` for TLS 1.2).
    pub fn wire(self) -> u16 {
        match self {
            LegacyVersion::Ssl3 => 0x0300,
            LegacyVersion::Tls10 => 0x0301,
            LegacyVersion::Tls11 => 0x0302,
            LegacyVersion::Tls12 => 0x0303,
        }
    }

    /// The version a wire value stands for, `None` for anything but SSLv3 to TLS 1.2.
    pub fn from_wire(wire: u16) -> Option<LegacyVersion> {
        match wire {
            0x0300 => Some(LegacyVersion::Ssl3),
            0x0301 => Some(LegacyVersion::Tls10),
            0x0302 => Some(LegacyVersion::Tls11),
            0x0303 => Some(LegacyVersion::Tls12),
            _ => None,
        }
    }

    /// The name OpenSSL prints for the version: `SSLv3`, `TLSv1`, `TLSv1.1` or `TLSv1.2`.
    pub fn name(self) -> &'static str {
        match self {
            LegacyVersion::Ssl3 => "SSLv3",
            LegacyVersion::Tls10 => "TLSv1",
            LegacyVersion::Tls11 => "TLSv1.1",
            LegacyVersion::Tls12 => "TLSv1.2",
        }
    }
}

/// What a legacy server answered: the version and suite it chose, and the chain it sent (unverified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyHandshake {
    /// The negotiated version's name ([`LegacyVersion::name`]).
    pub version: &'static str,
    /// The chosen suite's IANA name, e.g. `TLS_RSA_WITH_AES_128_CBC_SHA`, or `0x00XX` when it has none here.
    pub cipher: String,
    /// The certificates as the server sent them, DER, leaf first; never empty.
    pub chain: Vec<Vec<u8>>,
}

/// The level of a TLS alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertLevel {
    /// `warning` (1).
    Warning,
    /// `fatal` (2).
    Fatal,
    /// Any other value, which no standard defines.
    Other(u8),
}

impl fmt::Display for AlertLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertLevel::Warning => f.write_str("warning"),
            AlertLevel::Fatal => f.write_str("fatal"),
            AlertLevel::Other(n) => write!(f, "level-{n}"),
        }
    }
}

/// The description of a TLS alert (the IANA TLS Alerts registry); [`fmt::Display`] shows its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertDescription(pub u8);

impl AlertDescription {
    /// `close_notify`.
    pub const CLOSE_NOTIFY: AlertDescription = AlertDescription(0);
    /// `handshake_failure`: typically no suite in common.
    pub const HANDSHAKE_FAILURE: AlertDescription = AlertDescription(40);
    /// `protocol_version`: no version in common.
    pub const PROTOCOL_VERSION: AlertDescription = AlertDescription(70);

    /// The registry name (`handshake_failure`), `None` for an unassigned value.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            21 => "decryption_failed",
            22 => "record_overflow",
            30 => "decompression_failure",
            40 => "handshake_failure",
            41 => "no_certificate",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            44 => "certificate_revoked",
            45 => "certificate_expired",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            48 => "unknown_ca",
            49 => "access_denied",
            50 => "decode_error",
            51 => "decrypt_error",
            60 => "export_restriction",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            86 => "inappropriate_fallback",
            90 => "user_canceled",
            100 => "no_renegotiation",
            109 => "missing_extension",
            110 => "unsupported_extension",
            111 => "certificate_unobtainable",
            112 => "unrecognized_name",
            113 => "bad_certificate_status_response",
            114 => "bad_certificate_hash_value",
            115 => "unknown_psk_identity",
            116 => "certificate_required",
            120 => "no_application_protocol",
            _ => return None,
        })
    }
}

impl fmt::Display for AlertDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "unassigned alert {}", self.0),
        }
    }
}

/// Why no chain could be read from a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LegacyError {
    /// Writing to or reading from the connection failed.
    #[error("the connection to the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// The caller's deadline passed first (from `tokio::time::timeout`).
    #[error("the server did not send its certificate in time")]
    Timeout,
    /// The server closed (or reset) the connection before its Certificate message: old servers do this when they
    /// dislike the hello.
    #[error(
        "the server closed the connection before sending its certificate; it may not accept the offered version \
         (retry with TLS 1.0) or may not be a TLS server"
    )]
    Closed,
    /// The server refused the handshake with an alert.
    #[error("the server refused the handshake with a {level} alert {description}")]
    Alert {
        /// The alert's level.
        level: AlertLevel,
        /// What went wrong, in the server's words.
        description: AlertDescription,
    },
    /// The server answered with TLS 1.3 (a HelloRetryRequest or a ServerHello choosing 1.3), which this reader
    /// does not speak.
    #[error("the server answered with TLS 1.3 ({0}); read its chain with the TLS scanner instead")]
    NotLegacy(String),
    /// The bytes that came back are not TLS (an HTTP or SSH banner, an SSLv2 answer, …).
    #[error("the server does not speak TLS: {0}")]
    NotTls(String),
    /// The server's answer breaks the protocol.
    #[error("the server's handshake is malformed: {0}")]
    Malformed(String),
    /// The server sent, or announced, more than the byte limit before its certificate was complete.
    #[error("the server sent more than the {limit} bytes allowed before completing its certificate")]
    TooLarge {
        /// The limit that was passed to [`fetch_chain`].
        limit: usize,
    },
    /// The server chose a suite without a certificate (anonymous Diffie-Hellman, PSK, SRP) and reached
    /// ServerKeyExchange or ServerHelloDone without a Certificate message: it has no chain to record.
    #[error("the server negotiated {version} with {cipher} and sent no certificate")]
    NoCertificate {
        /// The negotiated version's name.
        version: &'static str,
        /// The chosen suite's name.
        cipher: String,
    },
    /// The name to send as SNI cannot be sent.
    #[error("invalid server name {0:?}: give an ASCII DNS name (A-labels for internationalized names)")]
    InvalidServerName(String),
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl LegacyError {
    /// A stable machine code, e.g. `discovery.legacy.alert`.
    pub fn code(&self) -> &'static str {
        match self {
            LegacyError::Io(_) => "discovery.legacy.io",
            LegacyError::Timeout => "discovery.legacy.timeout",
            LegacyError::Closed => "discovery.legacy.closed",
            LegacyError::Alert { .. } => "discovery.legacy.alert",
            LegacyError::NotLegacy(_) => "discovery.legacy.not_legacy",
            LegacyError::NotTls(_) => "discovery.legacy.not_tls",
            LegacyError::Malformed(_) => "discovery.legacy.malformed",
            LegacyError::TooLarge { .. } => "discovery.legacy.too_large",
            LegacyError::NoCertificate { .. } => "discovery.legacy.no_certificate",
            LegacyError::InvalidServerName(_) => "discovery.legacy.invalid_server_name",
            LegacyError::Random => "discovery.legacy.random",
        }
    }

    /// Whether the same server may answer a hello offering an older maximum version ([`LegacyVersion::Tls10`]):
    /// version-intolerant servers close the connection or answer `protocol_version`, `handshake_failure`,
    /// `decode_error` or `illegal_parameter`.
    pub fn may_succeed_with_lower_version(&self) -> bool {
        match self {
            LegacyError::Closed => true,
            LegacyError::Alert { description, .. } => matches!(description.0, 40 | 47 | 50 | 70),
            _ => false,
        }
    }
}

impl From<tokio::time::error::Elapsed> for LegacyError {
    fn from(_: tokio::time::error::Elapsed) -> Self {
        LegacyError::Timeout
    }
}

/// Sends a legacy ClientHello offering versions up to `max_version` on `stream` (a fresh TCP connection), reads
/// the server's answer until its Certificate message is complete, and returns the chain with the negotiated
/// version and suite. At most `limit_bytes` ([`DEFAULT_LIMIT_BYTES`] is a good value) are read; the handshake is
/// abandoned half-way, so the caller should drop the stream afterwards. `sni` is sent as server_name unless it is
/// an IP address (RFC 6066 §3 forbids literals there) or `max_version` is SSLv3.
///
/// There is no deadline here: wrap the call in `tokio::time::timeout` (its `Elapsed` converts to
/// [`LegacyError::Timeout`]). A server that answers a suite without certificate gives
/// [`LegacyError::NoCertificate`] rather than an empty chain, so that a returned chain is never empty.
pub async fn fetch_chain<S>(
    stream: &mut S,
    sni: Option<&str>,
    max_version: LegacyVersion,
    limit_bytes: usize,
) -> Result<LegacyHandshake, LegacyError>
where
    S: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let random = certwright_pki::random::bytes::<32>().map_err(|_| LegacyError::Random)?;
    let hello = client_hello(sni, max_version, &random)?;
    stream.write_all(&hello).await?;
    stream.flush().await?;
    let mut flight = Flight::new(limit_bytes);
    let mut chunk = vec![0u8; READ_CHUNK.min(limit_bytes.saturating_add(1))];
    loop {
        // Never ask for more than one byte past the limit, so a flood is noticed without being buffered.
        let want = chunk.len().min(flight.remaining().saturating_add(1));
        let Some(buf) = chunk.get_mut(..want) else { return Err(LegacyError::TooLarge { limit: limit_bytes }) };
        let n = match stream.read(buf).await {
            Ok(n) => n,
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) =>
            {
                0
            }
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(flight.closed());
        }
        if let Step::Done(handshake) = flight.feed(buf.get(..n).unwrap_or_default())? {
            return Ok(handshake);
        }
    }
}

/// The ClientHello record for `max_version`, with `random` as client random. See [`fetch_chain`] for SNI.
fn client_hello(sni: Option<&str>, max_version: LegacyVersion, random: &[u8; 32]) -> Result<Vec<u8>, LegacyError> {
    let host = match sni {
        Some(name) => server_name(name)?,
        None => None,
    };
    // Every length below is bounded by construction: fixed tables, and a name of at most 253 bytes.
    let mut body = Vec::with_capacity(512);
    put_u16(&mut body, max_version.wire());
    body.extend_from_slice(random);
    body.push(0); // empty session id: no resumption
    put_u16(&mut body, ((CIPHER_SUITES.len() + 1) * 2) as u16);
    for (id, _) in CIPHER_SUITES {
        put_u16(&mut body, *id);
    }
    put_u16(&mut body, SCSV_RENEGOTIATION);
    body.extend_from_slice(&[1, 0]); // null compression only
    if max_version > LegacyVersion::Ssl3 {
        let mut ext = Vec::with_capacity(256);
        if let Some(host) = host {
            let mut list = vec![0u8]; // host_name
            put_vec16(&mut list, host.as_bytes());
            let mut data = Vec::new();
            put_vec16(&mut data, &list);
            put_ext(&mut ext, EXT_SERVER_NAME, &data);
        }
        let groups: Vec<u8> = SUPPORTED_GROUPS.iter().flat_map(|g| g.to_be_bytes()).collect();
        let mut data = Vec::new();
        put_vec16(&mut data, &groups);
        put_ext(&mut ext, EXT_SUPPORTED_GROUPS, &data);
        put_ext(&mut ext, EXT_EC_POINT_FORMATS, &[1, 0]); // uncompressed
        if max_version >= LegacyVersion::Tls12 {
            // RFC 5246 §7.4.1.4.1: only offered together with TLS 1.2.
            let algorithms: Vec<u8> = SIGNATURE_ALGORITHMS.iter().flat_map(|a| a.to_be_bytes()).collect();
            let mut data = Vec::new();
            put_vec16(&mut data, &algorithms);
            put_ext(&mut ext, EXT_SIGNATURE_ALGORITHMS, &data);
        }
        put_ext(&mut ext, EXT_RENEGOTIATION_INFO, &[0]);
        // Some servers hang on a ClientHello of 256 to 511 bytes; RFC 7685 padding moves it past 511.
        let unpadded = 4 + body.len() + 2 + ext.len();
        if (0x100..0x200).contains(&unpadded) {
            let pad = (0x200 - unpadded).saturating_sub(4).max(1);
            put_ext(&mut ext, EXT_PADDING, &vec![0; pad]);
        }
        put_vec16(&mut body, &ext);
    }
    let mut record = Vec::with_capacity(body.len() + 9);
    record.push(RECORD_HANDSHAKE);
    // The record version says TLS 1.0 (or SSLv3), which every server accepts in a first record.
    put_u16(&mut record, max_version.min(LegacyVersion::Tls10).wire());
    put_u16(&mut record, (body.len() + 4) as u16);
    record.push(HS_CLIENT_HELLO);
    record.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    record.extend_from_slice(&body);
    Ok(record)
}

/// The name to send as SNI: `None` for an IP literal, the name without its trailing dot otherwise.
fn server_name(name: &str) -> Result<Option<&str>, LegacyError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let bare = trimmed.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(None);
    }
    if trimmed.is_empty() || trimmed.len() > 253 || !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(LegacyError::InvalidServerName(name.to_owned()));
    }
    Ok(Some(trimmed))
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_vec16(out: &mut Vec<u8>, data: &[u8]) {
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

fn put_ext(out: &mut Vec<u8>, ext_type: u16, data: &[u8]) {
    put_u16(out, ext_type);
    put_vec16(out, data);
}

/// What [`Flight::feed`] made of the bytes so far.
#[derive(Debug)]
enum Step {
    /// The Certificate message is not complete yet.
    More,
    /// It is.
    Done(LegacyHandshake),
}

/// The ServerHello's choices.
#[derive(Debug, Clone, Copy)]
struct Hello {
    version: LegacyVersion,
    cipher: u16,
}

/// The server's first flight, parsed as bytes arrive: records, then handshake messages reassembled across
/// records, up to the Certificate message.
#[derive(Debug)]
struct Flight {
    limit: usize,
    /// Bytes received so far, record headers included.
    received: usize,
    /// Whether a whole record header has been checked (after that, garbage is malformed TLS, not "not TLS").
    in_tls: bool,
    /// Received bytes not yet parsed: a partial record header, a partial alert record, or the part of a
    /// handshake record not yet moved to `handshake`.
    pending: Vec<u8>,
    /// Payload bytes of the current handshake record still to come.
    handshake_left: usize,
    /// Handshake bytes not yet forming a whole message.
    handshake: Vec<u8>,
    hello: Option<Hello>,
}

impl Flight {
    fn new(limit: usize) -> Flight {
        Flight {
            limit,
            received: 0,
            in_tls: false,
            pending: Vec::new(),
            handshake_left: 0,
            handshake: Vec::new(),
            hello: None,
        }
    }

    /// How many more bytes may be received.
    fn remaining(&self) -> usize {
        self.limit.saturating_sub(self.received)
    }

    fn too_large(&self) -> LegacyError {
        LegacyError::TooLarge { limit: self.limit }
    }

    /// Takes the next bytes from the server. Handshake record payloads go to the handshake buffer as they
    /// arrive, so a message that announces more than the limit is refused as soon as its header is in.
    fn feed(&mut self, data: &[u8]) -> Result<Step, LegacyError> {
        if data.len() > self.remaining() {
            return Err(self.too_large());
        }
        self.received += data.len();
        self.pending.extend_from_slice(data);
        loop {
            if self.handshake_left > 0 {
                let n = self.handshake_left.min(self.pending.len());
                if n == 0 {
                    return Ok(Step::More);
                }
                self.handshake.extend(self.pending.drain(..n));
                self.handshake_left -= n;
                if let Some(done) = self.handshake_messages()? {
                    return Ok(Step::Done(done));
                }
                continue;
            }
            let Some(&[content_type, major, _minor, hi, lo]) = self.pending.get(..5) else {
                return Ok(Step::More);
            };
            if !self.in_tls {
                if let Some(e) = not_tls(&self.pending) {
                    return Err(e);
                }
                self.in_tls = true;
            }
            if major != 3 {
                return Err(LegacyError::Malformed(format!("record version {major}.x instead of 3.x")));
            }
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if len > MAX_RECORD {
                return Err(LegacyError::Malformed(format!("a record of {len} bytes (at most {MAX_RECORD})")));
            }
            match content_type {
                RECORD_HANDSHAKE => {
                    self.pending.drain(..5);
                    self.handshake_left = len;
                }
                RECORD_ALERT => {
                    if self.pending.len() < 5 + len {
                        return Ok(Step::More);
                    }
                    alert(self.pending.get(5..5 + len).unwrap_or_default())?;
                    self.pending.drain(..5 + len);
                }
                RECORD_CHANGE_CIPHER_SPEC => {
                    return Err(LegacyError::Malformed("ChangeCipherSpec before the Certificate".into()))
                }
                RECORD_APPLICATION_DATA => {
                    return Err(LegacyError::Malformed("application data before the Certificate".into()))
                }
                other => return Err(LegacyError::Malformed(format!("record of unknown content type {other}"))),
            }
        }
    }

    /// What the server closing the connection now means.
    fn closed(&self) -> LegacyError {
        if !self.in_tls && !self.pending.is_empty() {
            if let Some(e) = not_tls(&self.pending) {
                return e;
            }
        }
        if !self.pending.is_empty() || !self.handshake.is_empty() || self.handshake_left > 0 {
            return LegacyError::Malformed(format!(
                "the connection closed in the middle of a record or message after {} bytes",
                self.received
            ));
        }
        LegacyError::Closed
    }

    /// Handles every complete message in the handshake buffer, and checks the announced length of the next.
    fn handshake_messages(&mut self) -> Result<Option<LegacyHandshake>, LegacyError> {
        loop {
            let Some(&[msg_type, a, b, c]) = self.handshake.get(..4) else { return Ok(None) };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            // The rest of the message cannot arrive without exceeding the limit: stop now rather than wait.
            let missing = (4 + len).saturating_sub(self.handshake.len());
            if missing > self.remaining() {
                return Err(self.too_large());
            }
            if missing > 0 {
                return Ok(None);
            }
            let rest = self.handshake.split_off(4 + len);
            let message = std::mem::replace(&mut self.handshake, rest);
            let body = message.get(4..).unwrap_or_default();
            if let Some(done) = self.message(msg_type, body)? {
                return Ok(Some(done));
            }
        }
    }

    /// Handles one complete handshake message.
    fn message(&mut self, msg_type: u8, body: &[u8]) -> Result<Option<LegacyHandshake>, LegacyError> {
        match (msg_type, self.hello) {
            (HS_HELLO_REQUEST, _) if body.is_empty() => Ok(None),
            (HS_SERVER_HELLO, None) => {
                self.hello = Some(server_hello(body)?);
                Ok(None)
            }
            (HS_CERTIFICATE, Some(hello)) => {
                let chain = certificate(body)?;
                if chain.is_empty() {
                    return Err(no_certificate(hello));
                }
                Ok(Some(LegacyHandshake { version: hello.version.name(), cipher: cipher_label(hello.cipher), chain }))
            }
            (HS_SERVER_KEY_EXCHANGE | HS_SERVER_HELLO_DONE, Some(hello)) => Err(no_certificate(hello)),
            (other, None) => Err(LegacyError::Malformed(format!("handshake message {other} instead of a ServerHello"))),
            (other, Some(_)) => {
                Err(LegacyError::Malformed(format!("handshake message {other} between ServerHello and Certificate")))
            }
        }
    }
}

fn no_certificate(hello: Hello) -> LegacyError {
    LegacyError::NoCertificate { version: hello.version.name(), cipher: cipher_label(hello.cipher) }
}

/// `Some(NotTls)` when the first bytes of the answer cannot start a TLS record.
fn not_tls(prefix: &[u8]) -> Option<LegacyError> {
    let &first = prefix.first()?;
    if first & 0x80 != 0 {
        // SSLv2 records have a two-byte header with the top bit set; message 4 is SERVER-HELLO, 0 is ERROR.
        let what = match prefix.get(2) {
            Some(4) => "an SSLv2 SERVER-HELLO; SSLv2 is not read".to_owned(),
            Some(0) => "an SSLv2 ERROR; SSLv2 is not read".to_owned(),
            _ => describe(prefix),
        };
        return Some(LegacyError::NotTls(what));
    }
    let tls_start = (RECORD_CHANGE_CIPHER_SPEC..=RECORD_APPLICATION_DATA).contains(&first)
        && prefix.get(1).is_none_or(|&major| major == 3);
    (!tls_start).then(|| LegacyError::NotTls(describe(prefix)))
}

/// The start of a non-TLS answer, for a message: its first line when it is text, its first bytes in hex otherwise.
fn describe(prefix: &[u8]) -> String {
    let line: Vec<u8> = prefix.iter().copied().take_while(|&b| b != b'\r' && b != b'\n').take(80).collect();
    if !line.is_empty() && line.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
        return format!("it answered {:?}", String::from_utf8_lossy(&line));
    }
    let hex: Vec<String> = prefix.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("it answered bytes {}", hex.join(" "))
}

/// Handles an alert record: warnings other than close_notify (say unrecognized_name) are passed over, anything
/// else ends the handshake.
fn alert(payload: &[u8]) -> Result<(), LegacyError> {
    if payload.is_empty() || !payload.len().is_multiple_of(2) {
        return Err(LegacyError::Malformed(format!("an alert record of {} bytes", payload.len())));
    }
    for pair in payload.chunks_exact(2) {
        let &[level, description] = pair else { continue };
        let level = match level {
            1 => AlertLevel::Warning,
            2 => AlertLevel::Fatal,
            other => AlertLevel::Other(other),
        };
        let description = AlertDescription(description);
        if level != AlertLevel::Warning || description == AlertDescription::CLOSE_NOTIFY {
            return Err(LegacyError::Alert { level, description });
        }
    }
    Ok(())
}

/// Parses a ServerHello body (RFC 5246 §7.4.1.3), refusing TLS 1.3 answers.
fn server_hello(body: &[u8]) -> Result<Hello, LegacyError> {
    let mut c = Cursor(body);
    let version = c.u16("ServerHello version")?;
    let random = c.take(32, "ServerHello random")?;
    if random == HELLO_RETRY_REQUEST_RANDOM {
        return Err(LegacyError::NotLegacy("a HelloRetryRequest".into()));
    }
    let session_len = usize::from(c.u8("session id length")?);
    if session_len > 32 {
        return Err(LegacyError::Malformed(format!("a session id of {session_len} bytes")));
    }
    c.take(session_len, "session id")?;
    let cipher = c.u16("cipher suite")?;
    c.u8("compression method")?;
    if !c.is_empty() {
        let len = usize::from(c.u16("extensions length")?);
        let mut ext = Cursor(c.take(len, "extensions")?);
        if !c.is_empty() {
            return Err(LegacyError::Malformed("bytes after the ServerHello extensions".into()));
        }
        while !ext.is_empty() {
            let ext_type = ext.u16("extension type")?;
            let len = usize::from(ext.u16("extension length")?);
            ext.take(len, "extension")?;
            if ext_type == EXT_SUPPORTED_VERSIONS {
                return Err(LegacyError::NotLegacy("a ServerHello with supported_versions".into()));
            }
        }
    }
    if version == 0x0304 || version >> 8 == 0x7f {
        return Err(LegacyError::NotLegacy(format!("a ServerHello for version 0x{version:04x}")));
    }
    // A version above the one offered breaks the protocol, but its chain is still worth reading.
    let version = LegacyVersion::from_wire(version)
        .ok_or_else(|| LegacyError::Malformed(format!("a ServerHello for unknown version 0x{version:04x}")))?;
    Ok(Hello { version, cipher })
}

/// Parses a Certificate body (RFC 5246 §7.4.2): a 24-bit length, then 24-bit length-prefixed DER certificates.
fn certificate(body: &[u8]) -> Result<Vec<Vec<u8>>, LegacyError> {
    let mut c = Cursor(body);
    let len = c.u24("certificate list length")?;
    let mut list = Cursor(c.take(len, "certificate list")?);
    if !c.is_empty() {
        return Err(LegacyError::Malformed("bytes after the certificate list".into()));
    }
    let mut chain = Vec::new();
    while !list.is_empty() {
        let len = list.u24("certificate length")?;
        if len == 0 {
            return Err(LegacyError::Malformed("an empty certificate in the list".into()));
        }
        chain.push(list.take(len, "certificate")?.to_vec());
    }
    Ok(chain)
}

/// Reads big-endian fields off a byte slice, every read bounds-checked.
#[derive(Debug)]
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], LegacyError> {
        if n > self.0.len() {
            return Err(LegacyError::Malformed(format!(
                "truncated {what}: {n} bytes announced, {} left",
                self.0.len()
            )));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, LegacyError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, what: &str) -> Result<u16, LegacyError> {
        let b = self.take(2, what)?;
        Ok(b.iter().fold(0u16, |acc, &x| acc << 8 | u16::from(x)))
    }

    fn u24(&mut self, what: &str) -> Result<usize, LegacyError> {
        let b = self.take(3, what)?;
        Ok(b.iter().fold(0usize, |acc, &x| acc << 8 | usize::from(x)))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![content_type, 3, 1];
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn message(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![msg_type];
        out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(body);
        out
    }

    fn server_hello_body(version: u16, cipher: u16, extensions: Option<&[u8]>) -> Vec<u8> {
        let mut out = version.to_be_bytes().to_vec();
        out.extend_from_slice(&[7; 32]);
        out.push(32);
        out.extend_from_slice(&[9; 32]);
        out.extend_from_slice(&cipher.to_be_bytes());
        out.push(0);
        if let Some(ext) = extensions {
            out.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            out.extend_from_slice(ext);
        }
        out
    }

    fn certificate_body(certs: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for cert in certs {
            list.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
            list.extend_from_slice(cert);
        }
        let mut out = (list.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&list);
        out
    }

    fn leaf() -> Vec<u8> {
        let mut der = vec![0x30, 0x82, 0x04, 0xf0];
        der.extend((0..1264u32).map(|i| (i % 251) as u8));
        der
    }

    /// A TLS 1.0 first flight: ServerHello, a two-certificate Certificate and ServerHelloDone, as one handshake
    /// stream cut into records of at most `fragment` bytes.
    fn flight(fragment: usize) -> Vec<u8> {
        let mut stream = message(HS_SERVER_HELLO, &server_hello_body(0x0301, 0x002f, Some(&[0xff, 0x01, 0, 1, 0])));
        stream.extend(message(HS_CERTIFICATE, &certificate_body(&[&leaf(), b"\x30\x03\x02\x01\x01"])));
        stream.extend(message(HS_SERVER_HELLO_DONE, &[]));
        stream.chunks(fragment).flat_map(|c| record(RECORD_HANDSHAKE, c)).collect()
    }

    fn feed_all(bytes: &[u8], limit: usize) -> Result<Step, LegacyError> {
        let mut flight = Flight::new(limit);
        flight.feed(bytes)
    }

    fn done(step: Step) -> LegacyHandshake {
        match step {
            Step::Done(h) => h,
            Step::More => panic!("the flight is incomplete"),
        }
    }

    #[test]
    fn chain_is_read_from_a_flight_fed_byte_by_byte() {
        for fragment in [16_384, 500, 7] {
            let bytes = flight(fragment);
            let mut f = Flight::new(DEFAULT_LIMIT_BYTES);
            let mut result = None;
            for b in &bytes {
                if let Step::Done(h) = f.feed(std::slice::from_ref(b)).unwrap() {
                    result = Some(h);
                    break;
                }
            }
            let h = result.expect("complete");
            assert_eq!(h.version, "TLSv1");
            assert_eq!(h.cipher, "TLS_RSA_WITH_AES_128_CBC_SHA");
            assert_eq!(h.chain, vec![leaf(), b"\x30\x03\x02\x01\x01".to_vec()]);
        }
    }

    #[test]
    fn unknown_suite_is_named_in_hex() {
        let mut bytes = record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &server_hello_body(0x0302, 0x1301, None)));
        bytes.extend(record(RECORD_HANDSHAKE, &message(HS_CERTIFICATE, &certificate_body(&[b"x"]))));
        let h = done(feed_all(&bytes, DEFAULT_LIMIT_BYTES).unwrap());
        assert_eq!((h.version, h.cipher.as_str()), ("TLSv1.1", "0x1301"));
    }

    #[test]
    fn fatal_alert_ends_and_warnings_are_passed_over() {
        let mut bytes = record(RECORD_ALERT, &[1, 112]); // warning unrecognized_name
        bytes.extend(record(RECORD_ALERT, &[2, 40]));
        match feed_all(&bytes, DEFAULT_LIMIT_BYTES) {
            Err(LegacyError::Alert { level: AlertLevel::Fatal, description }) => {
                assert_eq!(description, AlertDescription::HANDSHAKE_FAILURE);
                assert_eq!(description.to_string(), "handshake_failure (40)");
            }
            other => panic!("{other:?}"),
        }
        let e = feed_all(&record(RECORD_ALERT, &[2, 70]), 1000).unwrap_err();
        assert!(e.may_succeed_with_lower_version());
        assert!(e.to_string().contains("fatal alert protocol_version (70)"), "{e}");
        assert!(matches!(feed_all(&record(RECORD_ALERT, &[1, 0]), 100), Err(LegacyError::Alert { .. })));
        assert!(matches!(feed_all(&record(RECORD_ALERT, &[2]), 100), Err(LegacyError::Malformed(_))));
        assert_eq!(AlertDescription(200).to_string(), "unassigned alert 200");
    }

    #[test]
    fn tls13_answers_are_not_legacy() {
        let hrr = {
            let mut body = server_hello_body(0x0303, 0x1301, None);
            body[2..34].copy_from_slice(&HELLO_RETRY_REQUEST_RANDOM);
            body
        };
        let supported_versions = server_hello_body(0x0303, 0x1301, Some(&[0, 0x2b, 0, 2, 3, 4]));
        let tls13 = server_hello_body(0x0304, 0x1301, None);
        for body in [hrr, supported_versions, tls13] {
            let bytes = record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &body));
            assert!(matches!(feed_all(&bytes, 1000), Err(LegacyError::NotLegacy(_))));
        }
    }

    #[test]
    fn non_tls_answers_are_recognised() {
        match feed_all(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n", 1000) {
            Err(LegacyError::NotTls(m)) => assert!(m.contains("\"HTTP/1.1 400 Bad Request\""), "{m}"),
            other => panic!("{other:?}"),
        }
        match feed_all(&[0x80, 0x2e, 0x04, 0x00, 0x01, 0x00, 0x02], 1000) {
            Err(LegacyError::NotTls(m)) => assert!(m.contains("SSLv2 SERVER-HELLO"), "{m}"),
            other => panic!("{other:?}"),
        }
        // A short answer is judged when the connection closes.
        let mut f = Flight::new(1000);
        assert!(matches!(f.feed(b"no"), Ok(Step::More)));
        assert!(matches!(f.closed(), LegacyError::NotTls(m) if m.contains("\"no\"")));
        // Binary garbage shows as hex.
        assert!(matches!(feed_all(&[0, 1, 2, 3, 4, 5], 100), Err(LegacyError::NotTls(m)) if m.contains("00 01 02")));
    }

    #[test]
    fn closing_early_is_reported() {
        assert!(matches!(Flight::new(100).closed(), LegacyError::Closed));
        let bytes = flight(300);
        for cut in 1..bytes.len() {
            let mut f = Flight::new(DEFAULT_LIMIT_BYTES);
            match f.feed(&bytes[..cut]) {
                Ok(Step::More) => assert!(matches!(f.closed(), LegacyError::Malformed(_) | LegacyError::Closed)),
                Ok(Step::Done(_)) => assert!(cut > bytes.len() - 30, "done early at {cut}"),
                Err(e) => panic!("{cut}: {e}"),
            }
        }
    }

    #[test]
    fn announced_oversize_message_is_refused_at_once() {
        let mut bytes = record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &server_hello_body(0x0301, 0x002f, None)));
        bytes.extend(record(RECORD_HANDSHAKE, &[HS_CERTIFICATE, 0xff, 0xff, 0xff, 0xff, 0xff]));
        assert!(matches!(
            feed_all(&bytes, DEFAULT_LIMIT_BYTES),
            Err(LegacyError::TooLarge { limit: DEFAULT_LIMIT_BYTES })
        ));
        // Also when the header opens a record whose rest has not arrived.
        let mut bytes = record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &server_hello_body(0x0301, 0x002f, None)));
        bytes.extend_from_slice(&[RECORD_HANDSHAKE, 3, 1, 0x40, 0x00, HS_CERTIFICATE, 0x04, 0x00, 0x00]);
        assert!(matches!(feed_all(&bytes, DEFAULT_LIMIT_BYTES), Err(LegacyError::TooLarge { .. })));
    }

    #[test]
    fn endless_flight_stops_at_the_limit() {
        let hello_requests = record(RECORD_HANDSHAKE, &[0, 0, 0, 0]);
        let mut f = Flight::new(4096);
        let mut result = Ok(Step::More);
        for _ in 0..10_000 {
            result = f.feed(&hello_requests);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(LegacyError::TooLarge { limit: 4096 })));
        assert!(f.pending.len() + f.handshake.len() <= 4096);
    }

    #[test]
    fn oversize_record_is_malformed() {
        assert!(matches!(feed_all(&[22, 3, 1, 0xff, 0xff], 1 << 20), Err(LegacyError::Malformed(_))));
        assert!(matches!(feed_all(&[22, 2, 0, 0, 1], 100), Err(LegacyError::NotTls(_))));
    }

    #[test]
    fn suites_without_certificate_are_reported() {
        let hello = record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &server_hello_body(0x0303, 0x0034, None)));
        for next in [message(HS_SERVER_KEY_EXCHANGE, &[1, 2, 3]), message(HS_SERVER_HELLO_DONE, &[])] {
            let mut bytes = hello.clone();
            bytes.extend(record(RECORD_HANDSHAKE, &next));
            match feed_all(&bytes, 1000) {
                Err(LegacyError::NoCertificate { version: "TLSv1.2", cipher }) => assert_eq!(cipher, "0x0034"),
                other => panic!("{other:?}"),
            }
        }
        let mut bytes = hello.clone();
        bytes.extend(record(RECORD_HANDSHAKE, &message(HS_CERTIFICATE, &[0, 0, 0])));
        assert!(matches!(feed_all(&bytes, 1000), Err(LegacyError::NoCertificate { .. })));
    }

    #[test]
    fn broken_messages_are_malformed() {
        let hello = record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &server_hello_body(0x0301, 0x002f, None)));
        let cases: Vec<Vec<u8>> = vec![
            // Certificate before ServerHello.
            record(RECORD_HANDSHAKE, &message(HS_CERTIFICATE, &certificate_body(&[b"x"]))),
            // A ServerHello cut short, with a session id too long, with junk after extensions, with an unknown version.
            record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &[3, 1, 0])),
            record(
                RECORD_HANDSHAKE,
                &message(HS_SERVER_HELLO, &{
                    let mut b = server_hello_body(0x0301, 0x002f, None);
                    b[34] = 33;
                    b
                }),
            ),
            record(
                RECORD_HANDSHAKE,
                &message(HS_SERVER_HELLO, &{
                    let mut b = server_hello_body(0x0301, 0x002f, Some(&[]));
                    b.push(0);
                    b
                }),
            ),
            record(RECORD_HANDSHAKE, &message(HS_SERVER_HELLO, &server_hello_body(0x0200, 0x002f, None))),
            // Extension lengths that overrun.
            record(
                RECORD_HANDSHAKE,
                &message(HS_SERVER_HELLO, &server_hello_body(0x0301, 0x002f, Some(&[0, 1, 0, 9]))),
            ),
            // ChangeCipherSpec and application data before the certificate.
            [hello.clone(), record(RECORD_CHANGE_CIPHER_SPEC, &[1])].concat(),
            [hello.clone(), record(RECORD_APPLICATION_DATA, &[1, 2])].concat(),
            [hello.clone(), record(24, &[1, 2])].concat(),
            // A second ServerHello, a CertificateRequest before the certificate.
            [hello.clone(), hello.clone()].concat(),
            [hello.clone(), record(RECORD_HANDSHAKE, &message(13, &[]))].concat(),
            // Certificate lists whose lengths disagree, and an empty certificate.
            [hello.clone(), record(RECORD_HANDSHAKE, &message(HS_CERTIFICATE, &[0, 0, 5, 0, 0, 9, 1, 2]))].concat(),
            [hello.clone(), record(RECORD_HANDSHAKE, &message(HS_CERTIFICATE, &[0, 0, 3, 0, 0, 0]))].concat(),
            [hello.clone(), record(RECORD_HANDSHAKE, &message(HS_CERTIFICATE, &[0, 0, 0, 7]))].concat(),
        ];
        for (i, bytes) in cases.iter().enumerate() {
            match feed_all(bytes, 1000) {
                Err(LegacyError::Malformed(_)) => {}
                other => panic!("case {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A fixed xorshift stream: the same inputs on every run.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let valid = flight(64);
        for round in 0..2_000 {
            let mut bytes = if round % 2 == 0 { valid.clone() } else { vec![22, 3, 1, 0, 40] };
            let flips = 1 + (next() % 8) as usize;
            for _ in 0..flips {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.extend((0..(next() % 64)).map(|_| next() as u8));
            let mut f = Flight::new(2048);
            for piece in bytes.chunks(1 + (next() % 50) as usize) {
                if !matches!(f.feed(piece), Ok(Step::More)) {
                    break;
                }
            }
            let _ = f.closed();
        }
    }

    /// Our ClientHello's record version, client version, suites and extensions.
    type ParsedHello = (u16, u16, Vec<u16>, Vec<(u16, Vec<u8>)>);

    /// Splits our ClientHello into its parts, checking every length on the way.
    fn parse_hello(record: &[u8]) -> ParsedHello {
        assert_eq!(record[0], RECORD_HANDSHAKE);
        let record_version = u16::from_be_bytes([record[1], record[2]]);
        assert_eq!(usize::from(u16::from_be_bytes([record[3], record[4]])), record.len() - 5);
        let mut c = Cursor(&record[5..]);
        assert_eq!(c.u8("type").unwrap(), HS_CLIENT_HELLO);
        let len = c.u24("len").unwrap();
        let mut c = Cursor(c.take(len, "body").unwrap());
        assert!(c.is_empty() || c.0.len() == len);
        let version = c.u16("version").unwrap();
        c.take(32, "random").unwrap();
        assert_eq!(c.u8("session").unwrap(), 0);
        let n = usize::from(c.u16("suites").unwrap());
        let mut s = Cursor(c.take(n, "suites").unwrap());
        let mut suites = Vec::new();
        while !s.is_empty() {
            suites.push(s.u16("suite").unwrap());
        }
        assert_eq!(c.take(2, "compression").unwrap(), [1, 0]);
        let mut extensions = Vec::new();
        if !c.is_empty() {
            let n = usize::from(c.u16("ext").unwrap());
            let mut e = Cursor(c.take(n, "ext").unwrap());
            assert!(c.is_empty());
            while !e.is_empty() {
                let t = e.u16("t").unwrap();
                let n = usize::from(e.u16("n").unwrap());
                extensions.push((t, e.take(n, "d").unwrap().to_vec()));
            }
        }
        (record_version, version, suites, extensions)
    }

    #[test]
    fn client_hello_offers_every_suite_and_no_tls13() {
        let bytes = client_hello(Some("legacy.example.com."), LegacyVersion::Tls12, &[5; 32]).unwrap();
        let (record_version, version, suites, extensions) = parse_hello(&bytes);
        assert_eq!((record_version, version), (0x0301, 0x0303));
        assert_eq!(suites.len(), CIPHER_SUITES.len() + 1);
        assert_eq!(suites.last(), Some(&SCSV_RENEGOTIATION));
        for id in &suites {
            assert!(cipher_suite_name(*id).is_some_and(|n| n.starts_with("TLS_")), "{id:04x}");
        }
        let types: Vec<u16> = extensions.iter().map(|(t, _)| *t).collect();
        assert!(!types.contains(&EXT_SUPPORTED_VERSIONS));
        for t in [EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_EC_POINT_FORMATS, EXT_SIGNATURE_ALGORITHMS] {
            assert!(types.contains(&t), "{t:04x}");
        }
        assert!(types.contains(&EXT_RENEGOTIATION_INFO));
        let sni = &extensions.iter().find(|(t, _)| *t == EXT_SERVER_NAME).unwrap().1;
        assert_eq!(&sni[..5], &[0, 21, 0, 0, 18]);
        assert_eq!(&sni[5..], b"legacy.example.com");
        let handshake_len = bytes.len() - 5;
        assert!(!(0x100..0x200).contains(&handshake_len), "{handshake_len}");
    }

    #[test]
    fn client_hello_shapes_per_version() {
        let (_, version, _, extensions) =
            parse_hello(&client_hello(Some("10.0.0.1"), LegacyVersion::Tls10, &[0; 32]).unwrap());
        assert_eq!(version, 0x0301);
        let types: Vec<u16> = extensions.iter().map(|(t, _)| *t).collect();
        assert!(!types.contains(&EXT_SERVER_NAME) && !types.contains(&EXT_SIGNATURE_ALGORITHMS));
        let (record_version, version, _, extensions) =
            parse_hello(&client_hello(Some("a.example"), LegacyVersion::Ssl3, &[0; 32]).unwrap());
        assert_eq!((record_version, version), (0x0300, 0x0300));
        assert!(extensions.is_empty());
        for name in ["", "caf\u{e9}.example", "a b", &"a".repeat(254)] {
            assert!(matches!(
                client_hello(Some(name), LegacyVersion::Tls12, &[0; 32]),
                Err(LegacyError::InvalidServerName(_))
            ));
        }
        assert!(client_hello(Some("[::1]"), LegacyVersion::Tls12, &[0; 32]).is_ok());
    }

    #[test]
    fn padding_keeps_every_hello_out_of_256_to_511() {
        for len in 1..=253 {
            let name = "a".repeat(len);
            let bytes = client_hello(Some(&name), LegacyVersion::Tls12, &[0; 32]).unwrap();
            parse_hello(&bytes);
            assert!(!(0x100..0x200).contains(&(bytes.len() - 5)), "{len}");
        }
    }

    #[test]
    fn suite_table_has_unique_codes() {
        let mut ids: Vec<u16> = CIPHER_SUITES.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CIPHER_SUITES.len());
        assert_eq!(cipher_label(0x000a), "TLS_RSA_WITH_3DES_EDE_CBC_SHA");
        assert_eq!(cipher_label(0x00ab), "0x00AB");
    }

    #[tokio::test]
    async fn fetch_chain_reads_a_scripted_server() {
        let (mut client, mut server) = tokio::io::duplex(64 * 1024);
        let script = tokio::spawn(async move {
            let mut header = [0u8; 5];
            server.read_exact(&mut header).await.unwrap();
            let mut hello = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
            server.read_exact(&mut hello).await.unwrap();
            for piece in flight(1000).chunks(333) {
                server.write_all(piece).await.unwrap();
            }
            server
        });
        let h =
            fetch_chain(&mut client, Some("legacy.example"), LegacyVersion::Tls12, DEFAULT_LIMIT_BYTES).await.unwrap();
        assert_eq!(h.chain.len(), 2);
        drop(script.await.unwrap());
        let (mut client, server) = tokio::io::duplex(1024);
        drop(server);
        let e = fetch_chain(&mut client, None, LegacyVersion::Tls12, 1024).await.unwrap_err();
        assert!(matches!(e, LegacyError::Io(_) | LegacyError::Closed), "{e:?}");
    }
}
