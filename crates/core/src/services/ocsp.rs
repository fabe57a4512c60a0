//! The OCSP responder (RFC 6960, RFC 5019 profile). Answers for one serial without a nonce are signed once and
//! kept until half their validity has passed (or the serial's revocation changes), so a repeated query is a
//! lookup; requests with a nonce or several serials are signed each time. Each authority answers through a
//! delegated responder certificate (id-kp-OCSPSigning, ocsp-nocheck) that the server issues and renews itself,
//! or, when so configured, with the CA key.

use super::Services;
use crate::audit::EventDraft;
use crate::auth::Ctx;
use crate::ca::Authority;
use crate::clock::EpochSeconds;
use crate::revocation::OcspResponderRecord;
use crate::store::{Store, StoreTx};
use crate::Result;
use certwright_pki::alg::{Curve, KeyAlgorithm};
use certwright_pki::cert::{self, serial_hex, Cert, Eku, Extensions, Issuer, Template, Usage};
use certwright_pki::key::PrivateKey;
use certwright_pki::names::common_name;
use certwright_pki::ocsp::{self, CertId, CertIdHash, CertStatus, Responder, ResponseStatus, SingleResponse};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How the responder signs and how long its answers last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspSettings {
    /// nextUpdate − thisUpdate of an answer, seconds.
    pub validity: i64,
    /// Sign with a delegated responder certificate (`true`) or with the CA key.
    pub delegated: bool,
}

impl Default for OcspSettings {
    fn default() -> Self {
        Self { validity: 4 * 3_600, delegated: true }
    }
}

/// Lifetime of a delegated responder certificate, and how long before its end a new one is made.
const RESPONDER_DAYS: i64 = 30;
const RESPONDER_RENEW_BEFORE: i64 = 10 * 86_400;
/// Most answers kept; past this the cache starts over.
const CACHE_LIMIT: usize = 1_000_000;

/// An OCSP answer and how long an HTTP cache may keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspAnswer {
    pub der: Arc<Vec<u8>>,
    /// For `Last-Modified` and `Cache-Control: max-age` (RFC 5019 §6.2); `None` for error answers and answers
    /// carrying a nonce, which must not be cached.
    pub cache: Option<(EpochSeconds, EpochSeconds)>,
}

#[derive(Debug, Clone)]
struct Cached {
    /// The CertID the answer echoes: a client asking with another hash gets its own answer.
    cert_id: CertId,
    der: Arc<Vec<u8>>,
    this_update: EpochSeconds,
    next_update: EpochSeconds,
}

/// What a CertID names its issuer by: the hash algorithm, the name hash and the key hash.
type IssuerKey = (CertIdHash, Vec<u8>, Vec<u8>);

/// The issuer hashes CertIDs are matched on, the responders and the cached answers.
#[derive(Debug, Default)]
pub(crate) struct OcspState {
    issuers: RwLock<HashMap<IssuerKey, i64>>,
    issuers_for: RwLock<usize>,
    responders: RwLock<HashMap<i64, Arc<(PrivateKey, Cert)>>>,
    /// By authority and serial: one answer per CertID spelling (SHA-1, SHA-256, …).
    answers: RwLock<HashMap<(i64, String), Vec<Cached>>>,
    /// Bumped whenever a cached answer is dropped; an answer signed across a bump is not cached, since the
    /// revocation that caused it may have committed after the answer read its status.
    epoch: std::sync::atomic::AtomicU64,
}

impl<S: Store> Services<S> {
    /// Answers an OCSP request (DER). Never fails: problems become OCSP error statuses.
    pub async fn ocsp(&self, request: &[u8]) -> OcspAnswer {
        match self.answer(request).await {
            Ok(answer) => answer,
            Err(status) => OcspAnswer { der: Arc::new(ocsp::error_response(status)), cache: None },
        }
    }

    async fn answer(&self, request: &[u8]) -> std::result::Result<OcspAnswer, ResponseStatus> {
        let request = ocsp::parse_request(request).map_err(|_| ResponseStatus::MalformedRequest)?;
        if request.cert_ids.is_empty() {
            return Err(ResponseStatus::MalformedRequest);
        }
        let mut authority_id = None;
        for id in &request.cert_ids {
            let found = self.issuer_of(id).await.map_err(internal)?.ok_or(ResponseStatus::Unauthorized)?;
            // One responder signs the whole answer, and each authority has its own.
            if authority_id.is_some_and(|a| a != found) {
                return Err(ResponseStatus::Unauthorized);
            }
            authority_id = Some(found);
        }
        let authority_id = authority_id.ok_or(ResponseStatus::MalformedRequest)?;
        let now = self.clock.now();
        let cacheable = request.nonce.is_none() && request.cert_ids.len() == 1;
        let cert_id = &request.cert_ids[0];
        if cacheable {
            let key = (authority_id, serial_hex(&cert_id.serial));
            let hit = self.ocsp_state.answers.read().ok().and_then(|m| {
                m.get(&key).and_then(|answers| answers.iter().find(|a| a.cert_id.der == cert_id.der).cloned())
            });
            if let Some(hit) = hit {
                if now < hit.this_update + self.ocsp_settings.validity / 2 && now >= hit.this_update {
                    return Ok(OcspAnswer { der: hit.der, cache: Some((hit.this_update, hit.next_update)) });
                }
            }
        }
        if cacheable {
            return self.sign_and_keep(authority_id, cert_id, now).await.map_err(internal);
        }
        let authority =
            self.authority_by_id(authority_id).await.map_err(internal)?.ok_or(ResponseStatus::Unauthorized)?;
        let mut statuses = Vec::with_capacity(request.cert_ids.len());
        for id in &request.cert_ids {
            statuses.push(self.status_of(&authority, &serial_hex(&id.serial)).await.map_err(internal)?);
        }
        let next_update = now + self.ocsp_settings.validity;
        let singles: Vec<SingleResponse<'_>> = request
            .cert_ids
            .iter()
            .zip(statuses)
            .map(|(cert_id, status)| SingleResponse {
                cert_id,
                status,
                this_update: now,
                next_update: Some(next_update),
            })
            .collect();
        let der = self.sign_answer(&authority, now, &singles, request.nonce.as_deref()).await.map_err(internal)?;
        Ok(OcspAnswer { der: Arc::new(der), cache: None })
    }

    async fn authority_by_id(&self, id: i64) -> Result<Option<Authority>> {
        Ok(self.snapshot().await?.authorities.iter().find(|a| a.id == id).cloned())
    }

    /// Signs the answer for one CertID without a nonce and keeps it for the next queries.
    async fn sign_and_keep(&self, authority_id: i64, cert_id: &CertId, now: EpochSeconds) -> Result<OcspAnswer> {
        let epoch = self.ocsp_state.epoch.load(std::sync::atomic::Ordering::SeqCst);
        let authority = self
            .authority_by_id(authority_id)
            .await?
            .ok_or_else(|| crate::CoreError::not_found("authority.not_found", "authority", authority_id))?;
        let serial = serial_hex(&cert_id.serial);
        let status = self.status_of(&authority, &serial).await?;
        let next_update = now + self.ocsp_settings.validity;
        let single = SingleResponse { cert_id, status, this_update: now, next_update: Some(next_update) };
        let der = Arc::new(self.sign_answer(&authority, now, &[single], None).await?);
        if let Ok(mut m) = self.ocsp_state.answers.write() {
            // Checked under the lock that forgetting also takes, so no drop can slip in between.
            if self.ocsp_state.epoch.load(std::sync::atomic::Ordering::SeqCst) == epoch {
                if m.len() >= CACHE_LIMIT {
                    m.clear();
                }
                let answers = m.entry((authority_id, serial)).or_default();
                answers.retain(|a| a.cert_id.der != cert_id.der);
                answers.push(Cached { cert_id: cert_id.clone(), der: der.clone(), this_update: now, next_update });
            }
        }
        Ok(OcspAnswer { der, cache: Some((now, next_update)) })
    }

    /// Signs again, ahead of time, up to `limit` kept answers that are about to be too old to serve, so that
    /// queries keep finding a fresh answer instead of waiting for a signature. Returns how many were signed.
    pub async fn refresh_ocsp_answers(&self, limit: usize) -> usize {
        let now = self.clock.now();
        let serve_until = self.ocsp_settings.validity / 2;
        let ahead = (self.ocsp_settings.validity / 10).min(300);
        let due: Vec<(i64, CertId)> = match self.ocsp_state.answers.read() {
            Ok(m) => m
                .iter()
                .flat_map(|((authority_id, _), answers)| answers.iter().map(move |a| (*authority_id, a)))
                .filter(|(_, a)| now >= a.this_update + serve_until - ahead)
                .take(limit)
                .map(|(authority_id, a)| (authority_id, a.cert_id.clone()))
                .collect(),
            Err(_) => return 0,
        };
        let mut signed = 0;
        for (authority_id, cert_id) in due {
            match self.sign_and_keep(authority_id, &cert_id, now).await {
                Ok(_) => signed += 1,
                Err(e) => tracing::warn!(error = %e, "cannot sign an OCSP answer ahead of time"),
            }
        }
        signed
    }

    /// good, revoked (with time and reason) or unknown (never issued by this authority).
    async fn status_of(&self, authority: &Authority, serial: &str) -> Result<CertStatus> {
        if let Some(r) = self.store.revocation(authority.id, serial).await?.filter(|r| r.in_force()) {
            return Ok(CertStatus::Revoked { at: r.revoked_at, reason: Some(r.reason) });
        }
        let issued = self.store.certificate_by_serial(authority, serial).await?.is_some()
            || self.snapshot().await?.authorities.iter().any(|a| {
                a.parent_id == Some(authority.id)
                    && Cert::from_der(&a.certificate_der).map(|c| c.serial_hex() == serial).unwrap_or(false)
            });
        Ok(if issued { CertStatus::Good } else { CertStatus::Unknown })
    }

    async fn sign_answer(
        &self,
        authority: &Authority,
        now: EpochSeconds,
        singles: &[SingleResponse<'_>],
        nonce: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        if self.ocsp_settings.delegated {
            let responder = self.ocsp_responder(authority).await?;
            let (key, cert) = responder.as_ref();
            let r = Responder { signer: key, certificate: cert, include_certificate: true };
            Ok(ocsp::build_response(&r, now, singles, nonce)?)
        } else {
            let key = self.signer(authority).await?;
            let cert = Cert::from_der(&authority.certificate_der)?;
            let r = Responder { signer: key.as_ref(), certificate: &cert, include_certificate: false };
            Ok(ocsp::build_response(&r, now, singles, nonce)?)
        }
    }

    /// The authority whose name and key hashes a CertID carries.
    async fn issuer_of(&self, id: &CertId) -> Result<Option<i64>> {
        let snapshot = self.snapshot().await?;
        let known = self.ocsp_state.issuers_for.read().map(|n| *n).unwrap_or(usize::MAX);
        if known != snapshot.authorities.len() {
            let mut map = HashMap::new();
            for a in &snapshot.authorities {
                let cert = Cert::from_der(&a.certificate_der)?;
                for hash in [CertIdHash::Sha1, CertIdHash::Sha256, CertIdHash::Sha384, CertIdHash::Sha512] {
                    let (name, key) = ocsp::issuer_hashes(&cert, hash)?;
                    map.insert((hash, name, key), a.id);
                }
            }
            if let (Ok(mut issuers), Ok(mut n)) = (self.ocsp_state.issuers.write(), self.ocsp_state.issuers_for.write())
            {
                *issuers = map;
                *n = snapshot.authorities.len();
            }
        }
        let key = (id.hash, id.issuer_name_hash.clone(), id.issuer_key_hash.clone());
        Ok(self.ocsp_state.issuers.read().ok().and_then(|m| m.get(&key).copied()))
    }

    /// Drops the cached answer for a serial (its revocation changed).
    pub(crate) fn forget_ocsp_answer(&self, authority_id: i64, serial: &str) {
        if let Ok(mut m) = self.ocsp_state.answers.write() {
            self.ocsp_state.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            m.remove(&(authority_id, serial.to_owned()));
        }
    }

    /// The authority's delegated responder: loaded, or issued when missing or close to its end.
    pub async fn ocsp_responder(&self, authority: &Authority) -> Result<Arc<(PrivateKey, Cert)>> {
        let now = self.clock.now();
        let fresh = |c: &Cert| c.not_after() - now > RESPONDER_RENEW_BEFORE.min((c.not_after() - c.not_before()) / 3);
        if let Some(r) = self.ocsp_state.responders.read().ok().and_then(|m| m.get(&authority.id).cloned()) {
            if fresh(&r.1) {
                return Ok(r);
            }
        }
        let stored = match self.store.ocsp_responder(authority.id).await? {
            Some(rec) => {
                let cert = Cert::from_der(&rec.certificate_der)?;
                if fresh(&cert) {
                    let key = self.unseal_key(rec.key_id).await?;
                    Some(Arc::new((key, cert)))
                } else {
                    None
                }
            }
            None => None,
        };
        let responder = match stored {
            Some(r) => r,
            None => Arc::new(self.issue_ocsp_responder(authority).await?),
        };
        if let Ok(mut m) = self.ocsp_state.responders.write() {
            m.insert(authority.id, responder.clone());
        }
        Ok(responder)
    }

    async fn issue_ocsp_responder(&self, authority: &Authority) -> Result<(PrivateKey, Cert)> {
        let now = self.clock.now();
        let signer = self.signer(authority).await?;
        let ca = Cert::from_der(&authority.certificate_der)?;
        let ca_ski = ca.key_identifier()?;
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(Curve::P256))?;
        let template = Template {
            serial: cert::random_serial()?,
            subject: common_name(&format!("{} OCSP Responder", authority.name))?,
            public_key_der: key.public_key()?.der().to_vec(),
            not_before: now - 60,
            not_after: (now + RESPONDER_DAYS * 86_400).min(authority.not_after),
            extensions: Extensions {
                key_usage: vec![Usage::DigitalSignature],
                extended_key_usage: vec![Eku::OcspSigning],
                ocsp_nocheck: true,
                ..Default::default()
            },
        };
        let cert =
            cert::issue(&template, &Issuer { name: ca.subject(), key_identifier: &ca_ski, signer: signer.as_ref() })?;
        let (mut tx, head) = self.begin().await?;
        let key_id = tx.insert_key(&self.seal_key(&key, false)?).await?;
        tx.put_ocsp_responder(&OcspResponderRecord {
            authority_id: authority.id,
            key_id,
            certificate_der: cert.der().to_vec(),
            not_before: cert.not_before(),
            not_after: cert.not_after(),
        })
        .await?;
        let draft = EventDraft::success("ocsp.responder.issue", "authority", authority.uuid).with_details(json!({
            "serial": cert.serial_hex(), "not_after": crate::clock::to_rfc3339(cert.not_after()),
        }));
        self.commit_with_event(tx, &head, &Ctx::system(), draft).await?;
        Ok((key, cert))
    }
}

fn internal(e: crate::CoreError) -> ResponseStatus {
    tracing::warn!(error = %e, "OCSP answer failed");
    ResponseStatus::InternalError
}
