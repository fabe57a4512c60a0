//! Issuing certificates through an RA profile: from a CSR, or with a key generated here. The certificate and
//! its audit event are committed before the caller hears of it.

use super::batch::CertificateWrite;
use super::Services;
use crate::audit::EventDraft;
use crate::auth::{Ctx, Permission};
use crate::ca::{Authority, CertificateFilter, CertificateRecord, Origin, Policy};
use crate::inventory::{InventoryOrder, InventoryPage};
use crate::page::Page;
use crate::store::Store;
use crate::{CoreError, Result};
use certwright_pki::alg::KeyAlgorithm;
use certwright_pki::cert::{self, Cert, Eku, Extensions, Issuer, Template, Usage};
use certwright_pki::csr::Csr;
use certwright_pki::key::{PrivateKey, PublicKey, PublicKeyKind};
use certwright_pki::names::Name;
use certwright_pki::names::{common_name, San};
use serde_json::json;
use uuid::Uuid;
use zeroize::Zeroizing;

const DAY: i64 = 86_400;
/// notBefore is set this far in the past, for relying parties whose clocks run slow.
const BACKDATE: i64 = 60;

/// A certificate request as every face hands it to the core.
#[derive(Debug, Clone, Default)]
pub struct IssueRequest {
    /// RA profile uuid or name.
    pub ra_profile: String,
    /// A PKCS#10 request (PEM, DER or base64). Without it the server generates the key.
    pub csr: Option<Vec<u8>>,
    /// Subject CN for a server-generated key.
    pub common_name: Option<String>,
    /// SANs in API spelling (`dns:…`, `ip:…`, `email:…`, `uri:…`) for a server-generated key.
    pub sans: Vec<String>,
    /// Key algorithm for a server-generated key (`ecdsa-p256` by default).
    pub key_algorithm: Option<String>,
    pub validity_days: Option<u32>,
    /// The same key from the same principal returns the first certificate instead of issuing again.
    pub idempotency_key: Option<String>,
    /// Subject attributes besides the CN for a key generated or held here, in certificate order:
    /// `("C", "CZ")`, `("ST", …)`, `("L", …)`, `("O", …)`, `("OU", …)`.
    pub subject_attributes: Vec<(String, String)>,
    /// A managed key already held here to certify, instead of generating one (not with `csr`).
    pub key: Option<Uuid>,
    /// Request attributes, checked against the RA profile's `issue_attributes` (faces that do not speak
    /// attributes leave this `None`, and nothing is checked).
    pub attributes: Option<Vec<crate::attributes::AttributeValue>>,
}

/// An issued certificate with its chain and, for server-generated exportable keys, the private key.
#[derive(Debug)]
pub struct Issued {
    pub record: CertificateRecord,
    /// Issuer chain, DER, issuing CA first, root last.
    pub chain: Vec<Vec<u8>>,
    /// PKCS#8 DER of a server-generated key when the profile allows export.
    pub private_key_pkcs8: Option<Zeroizing<Vec<u8>>>,
    /// `true` when an earlier request with the same idempotency key produced this certificate.
    pub replayed: bool,
}

/// Everything needed to sign and record one certificate, decided by the caller.
#[derive(Debug)]
pub(crate) struct SignJob {
    pub authority: Authority,
    pub subject: Name,
    pub public_key: PublicKey,
    pub key_name: String,
    pub sans: Vec<San>,
    pub ekus: Vec<Eku>,
    pub days: u32,
    pub origin: Origin,
    /// The RA profile's id and name, for requests.
    pub ra_profile: Option<(i64, String)>,
    pub generated: Option<PrivateKey>,
    /// Whether the generated key is returned (and stored as exportable).
    pub export: bool,
    pub idempotency_key: Option<String>,
    /// The RA profile, for requests.
    pub profile: Option<crate::ca::RaProfile>,
    /// The PKCS#10 request (DER) when the requester sent one.
    pub csr_der: Option<Vec<u8>>,
    /// A managed key already held here that the certificate is for.
    pub key_id: Option<i64>,
    /// The request attributes (secrets redacted), for the audit event.
    pub attributes: Option<serde_json::Value>,
}

/// A vetted request: ready to sign, or answered already.
#[derive(Debug)]
pub(crate) enum Vetted {
    Job(Box<SignJob>),
    Replayed(Box<Issued>),
    /// A request made earlier with the same idempotency key, still waiting.
    Waiting(Box<crate::lifecycle::RequestRecord>),
}

/// An Idempotency-Key that names a request still waiting, met where only an immediate answer will do.
fn waiting_request() -> CoreError {
    CoreError::Conflict {
        code: "request.asynchronous",
        message: "this Idempotency-Key names a request that waits; submit requests instead".to_owned(),
    }
}

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::invalid(code, message)
}

fn key_usage(kind: PublicKeyKind) -> Vec<Usage> {
    match kind {
        PublicKeyKind::Rsa { .. } => vec![Usage::DigitalSignature, Usage::KeyEncipherment],
        _ => vec![Usage::DigitalSignature],
    }
}

impl<S: Store> Services<S> {
    /// Issues a certificate under an RA profile, at once. A profile whose certificates need approval or come from
    /// an external authority is refused with `request.asynchronous` (nothing is stored): use [`Services::submit`].
    pub async fn issue(&self, ctx: &Ctx, req: IssueRequest) -> Result<Issued> {
        match self.vet(ctx, req, true).await? {
            Vetted::Replayed(issued) => Ok(*issued),
            Vetted::Job(job) => self.sign_and_record(ctx, job).await,
            Vetted::Waiting(_) => Err(waiting_request()),
        }
    }

    /// Vets a request against its RA profile: the signing job for it, or the certificate an earlier request
    /// with the same idempotency key produced. With `at_once`, profiles that cannot issue synchronously are
    /// refused.
    pub(crate) async fn vet(&self, ctx: &Ctx, req: IssueRequest, at_once: bool) -> Result<Vetted> {
        ctx.caller.require(Permission::IssueCertificates)?;
        let profile = self.find_ra_profile(&req.ra_profile).await?;
        if !ctx.caller.may_use_profile(&profile.name) {
            let draft = EventDraft::success("access.denied", "ra_profile", profile.uuid)
                .with_details(json!({ "ra_profile": profile.name, "allowed": ctx.caller.ra_profiles }));
            self.record_failure(ctx, draft).await?;
            return Err(CoreError::Forbidden {
                role: ctx.caller.role.as_str().to_owned(),
                action: "use this RA profile (the token is limited to other profiles)",
            });
        }
        if let Some(key) = &req.idempotency_key {
            if key.is_empty() || key.len() > 255 {
                return Err(invalid("request.invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters"));
            }
            if let Some(first) = self.replay(ctx, key).await? {
                return Ok(Vetted::Replayed(Box::new(first)));
            }
            // A request that waited: its certificate once issued, else the request as it stands.
            if let Some(request) = self.store.request_by_idempotency_key(&ctx.caller.principal, key).await? {
                if let Some(uuid) = request.certificate_id.and(Some(request.uuid)) {
                    if let Some(record) = self.store.certificate(uuid).await? {
                        let chain = self.chain_of(&record).await?;
                        let issued = Issued { record, chain, private_key_pkcs8: None, replayed: true };
                        return Ok(Vetted::Replayed(Box::new(issued)));
                    }
                }
                if at_once {
                    return Err(waiting_request());
                }
                return Ok(Vetted::Waiting(Box::new(request)));
            }
        }
        if !profile.enabled {
            return Err(CoreError::Conflict {
                code: "ra_profile.disabled",
                message: format!("RA profile '{}' is disabled: it issues no certificates", profile.name),
            });
        }
        let policy: &Policy = &profile.policy;
        let attributes = match &req.attributes {
            Some(values) => {
                let problems = crate::attributes::validate(&policy.issue_attributes, values);
                if !problems.is_empty() {
                    return Err(invalid("attributes.invalid", problems.join(" ")));
                }
                let shown = crate::attributes::AttributeValue::redacted(values, &policy.issue_attributes);
                Some(serde_json::to_value(shown).map_err(|e| CoreError::Storage(e.to_string()))?)
            }
            None => None,
        };

        // The key and the names: from the CSR, or chosen by the request.
        let mut csr_der = None;
        let mut key_id = None;
        let (subject, public_key, sans, generated) = match &req.csr {
            Some(csr) => {
                if req.common_name.is_some()
                    || !req.sans.is_empty()
                    || req.key_algorithm.is_some()
                    || req.key.is_some()
                    || !req.subject_attributes.is_empty()
                {
                    return Err(invalid(
                        "request.csr_and_fields",
                        "send either a csr or common_name/sans/key_algorithm, not both",
                    ));
                }
                // PKCS#10, or else a CRMF request (RFC 4211, alone or in a CMP message) with its proof of possession.
                let csr = Csr::parse(csr)
                    .or_else(|e| certwright_pki::crmf::parse(csr).map(Csr::from).map_err(|_| e))
                    .map_err(|e| invalid("csr.invalid", e.to_string()))?;
                policy.check_csr_signature(csr.signature_algorithm)?;
                csr_der = Some(csr.der().to_vec());
                let sans = csr.sans.clone();
                (csr.subject.clone(), csr.public_key.clone(), sans, None)
            }
            None => {
                if !policy.server_side_keygen && req.key.is_none() {
                    return Err(invalid(
                        "policy.keygen_not_allowed",
                        "this RA profile does not generate keys; send a csr",
                    ));
                }
                let sans = req
                    .sans
                    .iter()
                    .map(|s| San::parse(s).map_err(|e| invalid("request.invalid_san", e.to_string())))
                    .collect::<Result<Vec<_>>>()?;
                let subject = subject_of(req.common_name.as_deref(), &req.subject_attributes)?;
                // Names first: a refused request costs no key generation.
                policy.check_names(certwright_pki::names::first_common_name(&subject).as_deref(), &sans)?;
                match req.key {
                    Some(uuid) => {
                        if req.key_algorithm.is_some() {
                            return Err(invalid("request.csr_and_fields", "send either key or key_algorithm"));
                        }
                        let (id, public) = self.certifiable_key(ctx, uuid).await?;
                        key_id = Some(id);
                        (subject, public, sans, None)
                    }
                    None => {
                        let alg = KeyAlgorithm::parse(req.key_algorithm.as_deref().unwrap_or("ecdsa-p256"))
                            .map_err(|e| invalid("request.invalid_key_algorithm", e.to_string()))?;
                        let key = PrivateKey::generate(alg)
                            .map_err(|e| invalid("request.invalid_key_algorithm", e.to_string()))?;
                        let public = key.public_key()?;
                        (subject, public, sans, Some(key))
                    }
                }
            }
        };
        let cn = certwright_pki::names::first_common_name(&subject);
        let key_name = policy.check_key(public_key.kind)?;
        policy.check_names(cn.as_deref(), &sans)?;
        let days = policy.validity_days(req.validity_days)?;

        let authority =
            self.snapshot().await?.authorities.iter().find(|a| a.id == profile.authority_id).cloned().ok_or_else(
                || CoreError::Storage(format!("RA profile '{}' names a missing authority", profile.name)),
            )?;
        if at_once && (!authority.is_internal() || policy.approval.issue) {
            return Err(CoreError::Conflict {
                code: "request.asynchronous",
                message: format!(
                    "RA profile '{}' issues asynchronously (approval or an external authority); submit a request instead",
                    profile.name
                ),
            });
        }
        let job = SignJob {
            authority,
            subject,
            public_key,
            key_name,
            sans,
            ekus: policy.ekus()?,
            days,
            origin: Origin::Request,
            ra_profile: Some((profile.id, profile.name.clone())),
            export: generated.is_some() && policy.key_export,
            generated,
            idempotency_key: req.idempotency_key.clone(),
            profile: Some(profile.clone()),
            csr_der,
            key_id,
            attributes,
        };
        Ok(Vetted::Job(Box::new(job)))
    }

    /// A managed key held here that a new certificate may be issued for by the caller: not destroyed, not the
    /// key of an authority or of an OCSP responder, and — unless the caller is an administrator — one the caller
    /// requested a certificate for (a certificate for someone else's key could export that key). Returns its id
    /// and public key.
    pub(crate) async fn certifiable_key(&self, ctx: &Ctx, uuid: Uuid) -> Result<(i64, PublicKey)> {
        let missing = || CoreError::not_found("key.not_found", "key", uuid);
        let key = self.store.key_by_uuid(uuid).await?.ok_or_else(missing)?;
        if key.sealed.is_empty() {
            return Err(missing());
        }
        if ctx.caller.role != crate::auth::Role::Admin
            && !self.store.key_requesters(key.id).await?.contains(&ctx.caller.principal)
        {
            return Err(missing());
        }
        for a in &self.snapshot().await?.authorities {
            let responder = self.store.ocsp_responder(a.id).await?.map(|r| r.key_id);
            if a.key_id == Some(key.id) || responder == Some(key.id) {
                return Err(invalid(
                    "key.not_certifiable",
                    "this key belongs to an authority; it certifies nothing else",
                ));
            }
        }
        Ok((key.id, PublicKey::from_der(&key.public_key)?))
    }

    /// A TLS server certificate for this server itself, from the CA of the `default` RA profile (or the first
    /// intermediate), with a fresh ECDSA P-256 key returned to the caller. Recorded in the inventory with
    /// origin `system`.
    pub async fn issue_server_certificate(&self, names: &[San], days: u32) -> Result<Issued> {
        let snapshot = self.snapshot().await?;
        let authorities = &snapshot.authorities;
        let default_profile = snapshot.profiles.iter().find(|p| p.name == "default");
        let authority = authorities
            .iter()
            .find(|a| default_profile.as_ref().is_some_and(|p| p.authority_id == a.id))
            .or_else(|| authorities.iter().find(|a| a.kind == crate::ca::AuthorityKind::Intermediate))
            .or_else(|| authorities.first())
            .cloned()
            .ok_or_else(|| {
                CoreError::invalid("authority.none", "no authority exists to issue the server certificate")
            })?;
        let key = PrivateKey::generate(KeyAlgorithm::Ecdsa(certwright_pki::alg::Curve::P256))?;
        let cn = names.iter().find_map(|n| match n {
            San::Dns(d) => Some(d.clone()),
            _ => None,
        });
        let subject = common_name(cn.as_deref().unwrap_or("certwright"))?;
        let job = SignJob {
            authority,
            subject,
            public_key: key.public_key()?,
            key_name: key.algorithm().name(),
            sans: names.to_vec(),
            ekus: vec![certwright_pki::cert::Eku::ServerAuth],
            days,
            origin: Origin::System,
            ra_profile: None,
            generated: Some(key),
            export: true,
            idempotency_key: None,
            profile: None,
            csr_der: None,
            key_id: None,
            attributes: None,
        };
        self.sign_and_record(&Ctx::system(), Box::new(job)).await
    }

    /// Signs a certificate for an already vetted key and names, and stores it (with a generated key, sealed)
    /// together with its audit event.
    pub(crate) async fn sign_and_record(&self, ctx: &Ctx, job: Box<SignJob>) -> Result<Issued> {
        let job = *job;
        let authority = job.authority.clone();
        let now = self.clock.now();
        let issued =
            self.sign_certificate(&authority, &job.subject, &job.public_key, &job.sans, &job.ekus, job.days).await?;

        let key = job.generated.as_ref().map(|k| self.seal_key(k, job.export)).transpose()?;
        let mut record = record_of(&issued, &job.key_name, job.origin, &ctx.caller.principal, now)?;
        record.authority_id = Some(authority.id);
        record.ra_profile_id = job.ra_profile.as_ref().map(|(id, _)| *id);
        record.idempotency_key = job.idempotency_key;
        record.key_id = job.key_id;
        let key_source = match (&job.generated, job.key_id) {
            (Some(_), _) => "generated",
            (None, Some(_)) => "held",
            _ => "csr",
        };
        let mut details = json!({
            "serial": record.serial, "subject": record.subject, "sans": record.sans,
            "ra_profile": job.ra_profile.map(|(_, name)| name), "authority": authority.uuid,
            "origin": record.origin.as_str(), "key": key_source,
        });
        if let (Some(a), Some(map)) = (job.attributes, details.as_object_mut()) {
            map.insert("attributes".to_owned(), a);
        }
        let draft = EventDraft::success("certificate.issue", "certificate", record.uuid).with_details(details);
        let idempotency_key = record.idempotency_key.clone();
        let write = CertificateWrite { ctx: ctx.clone(), key, record, draft };
        let record = match (self.certificates.store(write).await, idempotency_key) {
            // A concurrent request with the same idempotency key stored its certificate first: answer with it.
            (Err(CoreError::Conflict { .. }), Some(key)) => {
                if let Some(first) = self.replay(ctx, &key).await? {
                    return Ok(first);
                }
                return Err(CoreError::Conflict {
                    code: "certificate.duplicate",
                    message: "a certificate with this issuer and serial already exists".to_owned(),
                });
            }
            (stored, _) => stored?,
        };

        let private_key_pkcs8 = match (&job.generated, job.export) {
            (Some(k), true) => Some(k.danger_pkcs8_der()?),
            _ => None,
        };
        let chain = self.authority_chain(&authority).await?;
        Ok(Issued { record, chain, private_key_pkcs8, replayed: false })
    }

    /// Signs a certificate for vetted names and key with an internal authority.
    pub(crate) async fn sign_certificate(
        &self,
        authority: &Authority,
        subject: &Name,
        public_key: &PublicKey,
        sans: &[San],
        ekus: &[Eku],
        days: u32,
    ) -> Result<Cert> {
        let signer = self.signer(authority).await?;
        let issuer_cert = Cert::from_der(&authority.certificate_der)?;
        let now = self.clock.now();
        let not_after = (now + i64::from(days) * DAY).min(authority.not_after);
        let serial = cert::random_serial()?;
        let urls = self.revocation_urls(authority, &serial, false);
        let template = Template {
            serial,
            subject: subject.clone(),
            public_key_der: public_key.der().to_vec(),
            not_before: now - BACKDATE,
            not_after,
            extensions: Extensions {
                key_usage: key_usage(public_key.kind),
                extended_key_usage: ekus.to_vec(),
                sans: sans.to_vec(),
                ca_issuers_urls: urls.ca_issuers,
                ocsp_urls: urls.ocsp,
                crl_urls: urls.crl,
                ..Default::default()
            },
        };
        let issuer_ski = issuer_cert.key_identifier()?;
        Ok(cert::issue(
            &template,
            &Issuer { name: issuer_cert.subject(), key_identifier: &issuer_ski, signer: signer.as_ref() },
        )?)
    }

    /// The certificate the caller already obtained with `idempotency_key`, answered again (without its key).
    pub(crate) async fn replay(&self, ctx: &Ctx, idempotency_key: &str) -> Result<Option<Issued>> {
        let Some(record) = self.store.certificate_by_idempotency_key(&ctx.caller.principal, idempotency_key).await?
        else {
            return Ok(None);
        };
        let chain = self.chain_of(&record).await?;
        Ok(Some(Issued { record, chain, private_key_pkcs8: None, replayed: true }))
    }

    pub(crate) async fn chain_of(&self, record: &CertificateRecord) -> Result<Vec<Vec<u8>>> {
        let Some(id) = record.authority_id else { return Ok(Vec::new()) };
        let authority = self.snapshot().await?.authorities.iter().find(|a| a.id == id).cloned();
        match authority {
            Some(a) => self.authority_chain(&a).await,
            None => Ok(Vec::new()),
        }
    }

    /// One certificate of the inventory with its issuer chain.
    pub async fn certificate(&self, ctx: &Ctx, uuid: Uuid) -> Result<(CertificateRecord, Vec<Vec<u8>>)> {
        ctx.caller.require(Permission::ReadInventory)?;
        let record = self
            .store
            .certificate(uuid)
            .await?
            .ok_or_else(|| CoreError::not_found("certificate.not_found", "certificate", uuid))?;
        let chain = self.chain_of(&record).await?;
        Ok((record, chain))
    }

    /// The inventory in `order` (newest first by default), from the page's offset or after a cursor.
    pub async fn list_certificates(
        &self,
        ctx: &Ctx,
        filter: &CertificateFilter,
        order: &InventoryOrder,
        page: Page,
    ) -> Result<InventoryPage> {
        ctx.caller.require(Permission::ReadInventory)?;
        if order.after.is_some() && page.offset() > 0 {
            return Err(invalid("request.conflicting_paging", "send either cursor or offset, not both"));
        }
        self.store.list_certificates(filter, order, page).await
    }
}

/// Subject attribute types a request may name besides the CN, in the order they are written.
const SUBJECT_ORDER: [&str; 6] = ["C", "ST", "L", "O", "OU", "emailAddress"];

/// The subject of a key generated or held here: the CN and the other attributes, in certificate order.
pub(crate) fn subject_of(cn: Option<&str>, attributes: &[(String, String)]) -> Result<Name> {
    let escape = |v: &str| -> String {
        v.chars()
            .flat_map(|c| {
                let e = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=');
                e.then_some('\\').into_iter().chain(std::iter::once(c))
            })
            .collect()
    };
    let mut rdns: Vec<(usize, &str, String)> = Vec::new();
    for (k, v) in attributes.iter().filter(|(_, v)| !v.trim().is_empty()) {
        let at = SUBJECT_ORDER.iter().position(|o| o.eq_ignore_ascii_case(k)).ok_or_else(|| {
            invalid(
                "request.invalid_subject",
                format!("subject attribute '{k}' is not one of {}", SUBJECT_ORDER.join(", ")),
            )
        })?;
        if v.chars().count() > 64 || v.chars().any(char::is_control) {
            return Err(invalid("request.invalid_subject", format!("{k} must be at most 64 printable characters")));
        }
        if SUBJECT_ORDER.get(at) == Some(&"C") && (v.len() != 2 || !v.chars().all(|c| c.is_ascii_uppercase())) {
            return Err(invalid("request.invalid_subject", "the country must be two upper-case letters"));
        }
        // emailAddress goes after the CN.
        let rank = if at == SUBJECT_ORDER.len() - 1 { at + 1 } else { at };
        rdns.push((rank, SUBJECT_ORDER.get(at).copied().unwrap_or("CN"), escape(v.trim())));
    }
    match cn {
        Some(cn) if cn.trim().is_empty() => {
            return Err(invalid("request.invalid_common_name", "common_name must not be empty"))
        }
        Some(cn) => {
            if rdns.is_empty() {
                return common_name(cn).map_err(|e| invalid("request.invalid_common_name", e.to_string()));
            }
            rdns.push((SUBJECT_ORDER.len() - 1, "CN", escape(cn)));
        }
        None => {}
    }
    rdns.sort_by_key(|(rank, _, _)| *rank);
    // An RFC 4514 string lists the RDNs last first.
    let dn = rdns.iter().rev().map(|(_, k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    certwright_pki::names::parse_dn(&dn).map_err(|e| invalid("request.invalid_subject", e.to_string()))
}

/// The inventory record of a certificate (ids and links left for the caller to fill).
pub(crate) fn record_of(
    cert: &Cert,
    key_name: &str,
    origin: Origin,
    created_by: &str,
    now: i64,
) -> Result<CertificateRecord> {
    Ok(CertificateRecord {
        id: 0,
        uuid: Uuid::new_v4(),
        serial: cert.serial_hex(),
        issuer: cert.issuer_string(),
        subject: cert.subject_string(),
        common_name: cert.common_name(),
        sans: cert.sans()?.iter().map(San::to_api).collect(),
        not_before: cert.not_before(),
        not_after: cert.not_after(),
        key_algorithm: key_name.to_owned(),
        signature_algorithm: cert.signature_algorithm()?.name(),
        fingerprint: cert.fingerprint_sha256(),
        state: "issued".to_owned(),
        origin,
        authority_id: None,
        ra_profile_id: None,
        key_id: None,
        der: cert.der().to_vec(),
        idempotency_key: None,
        created_by: created_by.to_owned(),
        created_at: now,
        metadata: Default::default(),
    })
}
