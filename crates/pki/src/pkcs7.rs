//! PKCS#7 / CMS "certificates-only" bundles (RFC 5652 SignedData without signers), the format Windows, Java
//! and many appliances use to exchange a certificate with its chain.

use crate::PkiError;

const SIGNED_DATA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
const DATA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// Largest bundle written: lengths stay within three octets, as readers of this format expect.
const MAX_LEN: usize = 0xff_ffff;

/// One DER TLV, refusing contents beyond [`MAX_LEN`].
fn tlv(tag: u8, content: &[u8]) -> Result<Vec<u8>, PkiError> {
    if content.len() > MAX_LEN {
        return Err(PkiError::InvalidCertificate("PKCS#7 bundle too large".to_owned()));
    }
    Ok(crate::pkcs12::tlv(tag, content))
}

/// A degenerate SignedData holding `certificates` (DER), in the order given.
pub fn certs_only(certificates: &[Vec<u8>]) -> Result<Vec<u8>, PkiError> {
    let version = [0x02, 0x01, 0x01];
    let digest_algorithms = tlv(0x31, &[])?;
    let encap = tlv(0x30, DATA)?;
    let certs = tlv(0xa0, &certificates.concat())?;
    let signer_infos = tlv(0x31, &[])?;
    let signed_data = tlv(0x30, &[&version[..], &digest_algorithms, &encap, &certs, &signer_infos].concat())?;
    let content = tlv(0xa0, &signed_data)?;
    tlv(0x30, &[SIGNED_DATA, &content[..]].concat())
}

/// The certificates (DER) of a SignedData bundle, DER or BER, in the order they appear. Other kinds of
/// certificate the `certificates` field may hold (attribute certificates) are skipped.
pub fn certificates(der: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    use crate::asn1::{Tlv, CONTEXT_0, INTEGER, OID, SEQUENCE, SET};
    let bad = |m: crate::asn1::Malformed| PkiError::InvalidCertificate(format!("PKCS#7: {}", m.0));
    let info = Tlv::parse(der, SEQUENCE, "ContentInfo expected").map_err(bad)?;
    let mut r = info.reader();
    if r.next(OID, "content type expected").map_err(bad)?.raw != SIGNED_DATA {
        return Err(PkiError::InvalidCertificate("PKCS#7: not a SignedData bundle".to_owned()));
    }
    let signed_data =
        r.next(CONTEXT_0, "content expected").and_then(|c| c.reader().next(SEQUENCE, "SignedData expected"));
    let mut s = signed_data.map_err(bad)?.reader();
    s.next(INTEGER, "version expected").map_err(bad)?;
    s.next(SET, "digest algorithms expected").map_err(bad)?;
    s.next(SEQUENCE, "encapsulated content expected").map_err(bad)?;
    let mut out = Vec::new();
    if let Some(certs) = s.optional(CONTEXT_0).map_err(bad)? {
        let mut c = certs.reader();
        while !c.is_empty() {
            let cert = c.any().map_err(bad)?;
            if cert.tag == SEQUENCE {
                out.push(cert.raw.to_vec());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bundles_read_back_in_order() {
        let certs = vec![vec![0x30, 0x01, 0x01], vec![0x30, 0x02, 0x05, 0x00]];
        assert_eq!(super::certificates(&super::certs_only(&certs).unwrap()).unwrap(), certs);
        assert!(super::certificates(&[0x30, 0x03, 0x06, 0x01, 0x00]).is_err());
    }

    #[test]
    fn lengths_use_the_shortest_form() {
        assert_eq!(super::tlv(0x04, &[1; 3]).unwrap()[..2], [0x04, 3]);
        assert_eq!(super::tlv(0x04, &[1; 200]).unwrap()[..3], [0x04, 0x81, 200]);
        assert_eq!(super::tlv(0x04, &[1; 300]).unwrap()[..4], [0x04, 0x82, 1, 44]);
    }
}
