//! PEM encoding (RFC 7468) of DER objects.

use crate::PkiError;

/// Decodes the first PEM block of `text`, returning its label and DER contents.
pub fn decode(text: &str) -> Result<(String, Vec<u8>), PkiError> {
    let start = text.find("-----BEGIN ").ok_or_else(|| PkiError::InvalidPem("no BEGIN line".to_owned()))?;
    let rest = &text[start..];
    let label_end =
        rest[11..].find("-----").ok_or_else(|| PkiError::InvalidPem("unterminated BEGIN line".to_owned()))?;
    let label = rest[11..11 + label_end].to_owned();
    let end_marker = format!("-----END {label}-----");
    let end = rest.find(&end_marker).ok_or_else(|| PkiError::InvalidPem(format!("no END line for {label}")))?;
    let block = &rest[..end + end_marker.len()];
    let (_, der) = pem_rfc7468_decode(block)?;
    Ok((label, der))
}

/// Every PEM block in `text`, in order.
pub fn decode_all(text: &str) -> Result<Vec<(String, Vec<u8>)>, PkiError> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let (label, der) = decode(&rest[start..])?;
        let end_marker = format!("-----END {label}-----");
        let consumed = rest[start..].find(&end_marker).map_or(rest.len() - start, |e| e + end_marker.len());
        rest = &rest[start + consumed..];
        out.push((label, der));
    }
    Ok(out)
}

fn pem_rfc7468_decode(block: &str) -> Result<(String, Vec<u8>), PkiError> {
    // Tolerate CRLF line endings and trailing spaces that mail and web forms introduce.
    let normalized: String = block.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
    let (label, der) =
        der::pem::decode_vec(normalized.as_bytes()).map_err(|e| PkiError::InvalidPem(format!("bad PEM: {e}")))?;
    Ok((label.to_owned(), der))
}

/// Encodes DER as PEM with `label`, LF line endings.
pub fn encode(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap_or_default()
}
