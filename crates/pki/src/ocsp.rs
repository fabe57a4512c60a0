//! OCSP (RFC 6960, RFC 5019 profile): requests read, responses built and signed.
