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

#[cfg(test)]
mod tests {
    #[test]
    fn lengths_use_the_shortest_form() {
        assert_eq!(super::tlv(0x04, &[1; 3]).unwrap()[..2], [0x04, 3]);
        assert_eq!(super::tlv(0x04, &[1; 200]).unwrap()[..3], [0x04, 0x81, 200]);
        assert_eq!(super::tlv(0x04, &[1; 300]).unwrap()[..4], [0x04, 0x82, 1, 44]);
    }
}
